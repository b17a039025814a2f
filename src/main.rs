fn main() {
    println!("lvsd");
}
