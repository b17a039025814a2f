//! `startup_script` / `shutdown_script` and their timeouts, with the real daemon in a network
//! namespace of its own (this host's kernel has no IPVS: lvsd logs that and runs on): the
//! start-up script runs to completion before lvsd starts its subsystems, the shutdown script
//! after they stopped, and a script still running at its timeout is killed (SIGTERM, which the
//! script records) while lvsd goes on.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("proc-{tag}{}", std::process::id() % 100_000);
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "needs root and iproute2 (ip netns add)"
        );
        Ns(name)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Lvsd(Child, PathBuf);

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Lvsd {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

fn setup(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvsd-life-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // $1: tag written to the record, $2: seconds to run; a SIGTERM is recorded.
    let script = dir.join("step.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nrec={}\necho \"start $1\" >> $rec\n\
             trap 'echo \"TERM $1\" >> $rec; exit 3' TERM\nsleep $2 &\nwait\necho \"end $1\" >> $rec\n",
            dir.join("record").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn start(ns: &Ns, dir: &Path, global: &str) -> Lvsd {
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, format!("global_defs {{\n{global}}}\n")).unwrap();
    let log = dir.join("lvsd.log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0, LVSD, "-n", "-l", "--all", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("lvsd.pid"))
        .arg("--ctl-socket")
        .arg(dir.join("ctl.sock"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("lvsd");
    Lvsd(child, log)
}

fn wait_for(what: &str, lvsd: &Lvsd, within: Duration, f: impl Fn() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < within,
            "{what} not within {within:?}\n{}",
            lvsd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

fn term(lvsd: &mut Lvsd) -> Duration {
    let t0 = Instant::now();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(lvsd.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = lvsd.0.wait();
    t0.elapsed()
}

fn record(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("record"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn startup_waits_shutdown_runs_last() {
    let ns = Ns::new("ls");
    let dir = setup("ok");
    let s = dir.join("step.sh").display().to_string();
    let mut lvsd = start(
        &ns,
        &dir,
        &format!("  startup_script \"{s} up 1\"\n  shutdown_script \"{s} down 1\"\n"),
    );
    wait_for("lvsd started", &lvsd, Duration::from_secs(10), || {
        lvsd.log().contains("lvsd started")
    });
    // lvsd started only once the start-up script had finished.
    assert_eq!(record(&dir), ["start up", "end up"], "{}", lvsd.log());
    let log = lvsd.log();
    let (done, started) = (
        log.find("startup script succeeded").expect("logged"),
        log.find("lvsd started").unwrap(),
    );
    assert!(done < started, "{log}");
    let took = term(&mut lvsd);
    assert!(
        took >= Duration::from_millis(900),
        "did not wait for the shutdown script: {took:?}"
    );
    assert_eq!(
        record(&dir),
        ["start up", "end up", "start down", "end down"],
        "{}",
        lvsd.log()
    );
}

#[test]
fn scripts_past_their_timeout_are_killed() {
    let ns = Ns::new("lt");
    let dir = setup("slow");
    let s = dir.join("step.sh").display().to_string();
    let t0 = Instant::now();
    let mut lvsd = start(
        &ns,
        &dir,
        &format!(
            "  startup_script \"{s} up 30\"\n  startup_script_timeout 1\n\
             shutdown_script \"{s} down 30\"\n  shutdown_script_timeout 1\n"
        ),
    );
    wait_for("lvsd started", &lvsd, Duration::from_secs(10), || {
        lvsd.log().contains("lvsd started")
    });
    let up = t0.elapsed();
    assert!(up < Duration::from_secs(6), "start-up blocked {up:?}");
    assert_eq!(record(&dir), ["start up", "TERM up"], "{}", lvsd.log());
    let took = term(&mut lvsd);
    assert!(took < Duration::from_secs(6), "shutdown blocked {took:?}");
    assert_eq!(
        record(&dir),
        ["start up", "TERM up", "start down", "TERM down"],
        "{}",
        lvsd.log()
    );
    assert!(
        lvsd.log().contains("startup script timed out"),
        "{}",
        lvsd.log()
    );
}

/// `reload_time_file`: a file written after start-up with a UTC time two seconds ahead makes
/// lvsd reload at that time (not before), and the file is removed afterwards.
#[test]
fn reload_time_file_schedules_a_reload() {
    let ns = Ns::new("lr");
    let dir = setup("rtf");
    let at = dir.join("reload_at");
    let mut lvsd = start(&ns, &dir, &format!("  reload_time_file {}\n", at.display()));
    wait_for("lvsd started", &lvsd, Duration::from_secs(10), || {
        lvsd.log().contains("lvsd started")
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
    std::fs::write(&at, format!("{h:02}:{m:02}:{s:02}Z\n")).unwrap();
    let took = wait_for(
        "the scheduled reload",
        &lvsd,
        Duration::from_secs(8),
        || lvsd.log().contains("reloading configuration"),
    );
    assert!(
        took + Duration::from_millis(200) >= Duration::from_secs(1),
        "reloaded too early ({took:?})\n{}",
        lvsd.log()
    );
    wait_for("the file removed", &lvsd, Duration::from_secs(3), || {
        !at.exists()
    });
    term(&mut lvsd);
}
