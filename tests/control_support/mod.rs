//! A one-node namespace for the daemon-level tests of the control surface, the pid files and
//! the command-line flags: namespace `NAME` with `d0` (10.98.N.2/24, the VRRP interface) whose
//! veth peer `d1` stays in the namespace, and loopback up. Dropping it kills what runs inside
//! and deletes it. Nothing is created in the root namespace.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

pub fn sh(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn must(cmd: &mut Command) -> Output {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub struct Node {
    pub ns: String,
    pub dir: PathBuf,
    pub net: u8,
}

impl Node {
    /// `tag` must be unique per test (namespace names carry it and the pid).
    pub fn new(tag: &str, net: u8) -> Node {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests need root (network namespaces)"
        );
        let ns = format!("lvc{tag}{}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("{ns}-dir"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("ip")
            .args(["netns", "del", &ns])
            .stderr(Stdio::null())
            .status();
        must(Command::new("ip").args(["netns", "add", &ns]));
        let ip = |args: &[&str]| must(Command::new("ip").arg("-n").arg(&ns).args(args));
        ip(&["link", "set", "lo", "up"]);
        ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        ip(&["link", "set", "d1", "up"]);
        ip(&["link", "set", "d0", "up"]);
        ip(&["addr", "add", &format!("10.98.{net}.2/24"), "dev", "d0"]);
        Node { ns, dir, net }
    }

    pub fn vip(&self) -> String {
        format!("10.98.{}.100", self.net)
    }

    /// A VRRP master-to-be holding [`Node::vip`] on d0 (alone on its LAN: it becomes MASTER
    /// after 3 × advert_int + skew).
    pub fn vrrp_conf(&self, extra_top: &str) -> PathBuf {
        let p = self.dir.join("keepalived.conf");
        std::fs::write(
            &p,
            format!(
                "{extra_top}\nvrrp_instance VI_1 {{\n  interface d0\n  virtual_router_id 51\n  \
                 priority 150\n  advert_int 0.2\n  virtual_ipaddress {{\n    {}/32\n  }}\n}}\n",
                self.vip()
            ),
        )
        .unwrap();
        p
    }

    /// `ip netns exec NS lvsd ARGS...` with stdout+stderr to `log`.
    pub fn spawn(&self, args: &[&str], log: &Path) -> Child {
        let f = std::fs::File::create(log).unwrap();
        Command::new("ip")
            .args(["netns", "exec", &self.ns, LVSD])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("spawn lvsd")
    }

    /// `ip netns exec NS lvsd ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        sh(Command::new("ip")
            .args(["netns", "exec", &self.ns, LVSD])
            .args(args))
    }

    pub fn has_vip(&self) -> bool {
        let o = sh(Command::new("ip").args(["-n", &self.ns, "-br", "addr", "show", "d0"]));
        String::from_utf8_lossy(&o.stdout).contains(&format!("{}/32", self.vip()))
    }

    /// This node's pid directory as lvsd computes it for a named namespace.
    pub fn pid_dir(&self) -> PathBuf {
        Path::new("/run/keepalived").join(&self.ns)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(o) = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
        {
            for p in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                if let Ok(p) = p.parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(self.pid_dir());
    }
}

/// Polls `f` every 50 ms until true or `timeout`; the time it took.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

/// Waits for a child to exit within `timeout`; its exit code.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        assert!(
            t0.elapsed() < timeout,
            "process did not exit in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn term(child: &Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

pub fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// An unprivileged system user for tests (created once; reused when it exists).
pub fn test_user(name: &str) -> (u32, u32) {
    if let Ok(Some(u)) = nix::unistd::User::from_name(name) {
        return (u.uid.as_raw(), u.gid.as_raw());
    }
    let o = sh(Command::new("useradd").args([
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        "--user-group",
        name,
    ]));
    // A parallel test may have created it meanwhile.
    let u = nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("useradd {name}: {}", String::from_utf8_lossy(&o.stderr)));
    (u.uid.as_raw(), u.gid.as_raw())
}
