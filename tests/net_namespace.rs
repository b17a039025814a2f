//! `net_namespace NAME` and `-s NAME`: lvsd started in the root namespace runs its VRRP inside
//! NAME — the instance becomes master there (the VIP is on the namespace's interface, not on
//! any of the host's) — and its pid files and control socket are where keepalived 2.2.7 puts
//! them for a namespace: `/run/keepalived/NAME/{keepalived,vrrp}.pid`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

fn ip(args: &[&str]) -> String {
    let o = Command::new("ip").args(args).output().expect("ip");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Ns(String);

impl Ns {
    /// A namespace with a veth pair inside (10.203.N.1/24 on `v0`), so VRRP has a LAN.
    fn new(tag: &str, n: u8) -> Ns {
        let name = format!("proc-{tag}{}", std::process::id() % 100_000);
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        ip(&[
            "-n", &name, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ]);
        for l in ["v0", "v1", "lo"] {
            ip(&["-n", &name, "link", "set", l, "up"]);
        }
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("10.203.{n}.1/24"),
            "dev",
            "v0",
        ]);
        Ns(name)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = std::fs::remove_dir_all(Path::new("/run/keepalived").join(&self.0));
    }
}

struct Lvsd(Child, std::path::PathBuf);

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(ns: &Ns, n: u8, in_conf: bool) {
    let dir = std::env::temp_dir().join(format!("lvsd-netns-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    let vip = format!("10.203.{n}.100");
    let head = if in_conf {
        format!("net_namespace {}\n", ns.0)
    } else {
        String::new()
    };
    std::fs::write(
        &conf,
        format!(
            "{head}vrrp_instance VI_1 {{\n  state BACKUP\n  interface v0\n  virtual_router_id 5{n}\n  \
             priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let log = dir.join("lvsd.log");
    let mut cmd = Command::new(LVSD);
    cmd.args(["-n", "-l", "-P", "-f"]).arg(&conf);
    if !in_conf {
        cmd.args(["-s", &ns.0]);
    }
    let child = cmd
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("lvsd");
    let mut lvsd = Lvsd(child, log);
    let text = || std::fs::read_to_string(&lvsd.1).unwrap_or_default();
    let t0 = Instant::now();
    while !ip(&["-n", &ns.0, "-br", "addr", "show", "dev", "v0"]).contains(&vip) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no VIP {vip} inside {} (in_conf {in_conf})\n{}",
            ns.0,
            text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !ip(&["-br", "addr"]).contains(&vip),
        "the VIP is on a host interface"
    );
    // The process itself is in the namespace (setns before any thread started).
    let ident = ip(&["netns", "identify", &lvsd.0.id().to_string()]);
    assert_eq!(ident.trim(), ns.0);
    let pid_dir = Path::new("/run/keepalived").join(&ns.0);
    for f in ["keepalived.pid", "vrrp.pid"] {
        let got = std::fs::read_to_string(pid_dir.join(f)).unwrap_or_default();
        assert_eq!(got.trim(), lvsd.0.id().to_string(), "{f}\n{}", text());
    }
    assert!(pid_dir.join("lvsd.sock").exists());
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(lvsd.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = lvsd.0.wait();
    assert!(
        !ip(&["-n", &ns.0, "-br", "addr", "show", "dev", "v0"]).contains(&vip),
        "VIP left behind"
    );
}

#[test]
fn net_namespace_in_the_configuration() {
    let ns = Ns::new("nc", 1);
    run(&ns, 1, true);
}

#[test]
fn namespace_on_the_command_line() {
    let ns = Ns::new("ns", 2);
    run(&ns, 2, false);
}
