//! Writes the lvsd man pages (roff) from the clap definitions: `lvsd.8` for the daemon and its
//! flags, plus one `lvsd-<sub>.8` per subcommand. Packaging runs it before `cargo deb`:
//!
//! `cargo run --example gen-man -- target/man`

use std::path::Path;

/// Renders every page into `dir`; returns the files written.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let cmd = lvsd::cli::Cli::command();
    let mut written = Vec::new();
    let mut write = |cmd: clap::Command, name: String| -> std::io::Result<()> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).section("8").render(&mut buf)?;
        let path = dir.join(format!("{name}.8"));
        std::fs::write(&path, buf)?;
        written.push(path);
        Ok(())
    };
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("lvsd-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("lvsd {}", sub.get_name()));
        write(page, name)?;
    }
    write(cmd, "lvsd".into())?;
    Ok(written)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/man".into());
    for p in write_man_pages(&dir)? {
        println!("{}", p.display());
    }
    Ok(())
}
