//! keepalived 2.2.7's command-line flags on the real binary, each by its effect: `-V` keeps
//! the VIP after SIGTERM, syslog gets the log (`-S`, `-G`, `-l`, `-g`), `-u` sets the mode of
//! the files lvsd writes, `-v`, `-T`, `-t=FILE`, `-e`, `-a`, `-m`, STATS_CLEAR, and the one
//! clear error when not root.

mod control_support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use control_support::*;

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout)
}

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn dont_release_vrrp_keeps_the_vip_after_sigterm() {
    let node = Node::new("keep", 11);
    let conf = node.vrrp_conf("");
    let c = conf.to_str().unwrap();
    let log = node.dir.join("v.log");
    let mut d = node.spawn(&["-n", "-l", "-P", "-V", "-f", c], &log);
    wait_until("VIP", Duration::from_secs(10), || node.has_vip());
    term(&d);
    assert_eq!(
        wait_exit(&mut d, Duration::from_secs(10)),
        Some(0),
        "{}",
        read(&log)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        node.has_vip(),
        "-V: the VIP stays after lvsd stopped\n{}",
        read(&log)
    );

    // Without -V the same stop removes it (the next start begins from no VIP, then takes it).
    let log = node.dir.join("nov.log");
    let mut d = node.spawn(&["-n", "-l", "-P", "-f", c], &log);
    wait_until("lvsd started", Duration::from_secs(10), || {
        read(&log).contains("lvsd started")
    });
    wait_until("VIP", Duration::from_secs(10), || node.has_vip());
    term(&d);
    assert_eq!(wait_exit(&mut d, Duration::from_secs(10)), Some(0));
    assert!(!node.has_vip(), "without -V the VIP is released");
}

/// A config lvsd can run without root or kernel writes (`--health-check-only`).
fn plain_conf(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("plain.conf");
    std::fs::write(&p, "global_defs {\n  router_id lvsd_flags\n}\n").unwrap();
    p
}

/// Runs lvsd in a private mount namespace whose /dev/log is `sock`, until "lvsd started"
/// shows on syslog or the console, then stops it; (syslog messages, console output).
fn run_with_dev_log(tag: &str, flags: &[&str]) -> (Vec<String>, String) {
    let dir = std::env::temp_dir().join(format!("lvsd-syslog-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock_path = dir.join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let conf = plain_conf(&dir);
    let d = dir.display();
    let script = format!(
        "set -e; mkdir -p {d}/olddev; mount --rbind /dev {d}/olddev; mount -t tmpfs tmpfs /dev; \
         for n in null zero random urandom full; do touch /dev/$n; mount --bind {d}/olddev/$n /dev/$n; done; \
         touch /dev/log; mount --bind {d}/log.sock /dev/log; exec \"$@\""
    );
    let console = dir.join("console");
    let mut child = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
            LVSD,
        ])
        .args(["-n", "--health-check-only", "-f"])
        .arg(&conf)
        .arg("--ctl-socket")
        .arg(dir.join("ctl.sock"))
        .args(flags)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&console).unwrap())
        .stderr(std::fs::File::create(dir.join("console.err")).unwrap())
        .spawn()
        .unwrap();
    let mut msgs = Vec::new();
    let mut buf = [0u8; 4096];
    let t0 = std::time::Instant::now();
    let console_text = || read(&dir.join("console")) + &read(&dir.join("console.err"));
    while t0.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = sock.recv(&mut buf) {
            msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        if msgs.iter().any(|m| m.contains("lvsd started"))
            || console_text().contains("lvsd started")
        {
            // Give the other destination a moment too.
            std::thread::sleep(Duration::from_millis(300));
            while let Ok(n) = sock.recv(&mut buf) {
                msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            break;
        }
    }
    term(&child);
    let _ = wait_exit(&mut child, Duration::from_secs(10));
    let out = console_text();
    let _ = std::fs::remove_dir_all(&dir);
    (msgs, out)
}

#[test]
fn the_log_reaches_syslog_and_l_adds_the_console() {
    // Default: syslog only, facility daemon (3 << 3) + info (6) = <30>, ident lvsd[PID].
    let (msgs, console) = run_with_dev_log("default", &[]);
    let started = msgs.iter().find(|m| m.contains("lvsd started"));
    let started = started.unwrap_or_else(|| panic!("not on syslog: {msgs:?}\n{console}"));
    assert!(started.starts_with("<30>"), "{started}");
    assert!(started.contains("lvsd["), "{started}");
    assert!(
        !console.contains("lvsd started"),
        "no -l: nothing on the console: {console}"
    );

    // -l: both; -S local3: facility 19 → <158>.
    let (msgs, console) = run_with_dev_log("local3", &["-l", "-S", "local3"]);
    let started = msgs.iter().find(|m| m.contains("lvsd started"));
    assert!(started.is_some_and(|m| m.starts_with("<158>")), "{msgs:?}");
    assert!(
        console.contains("lvsd started"),
        "-l: the console too: {console}"
    );

    // -G: no syslog at all.
    // -x: accepted, with a warning pointing at /metrics.
    let (msgs, console) = run_with_dev_log("nosyslog", &["-G", "-l", "-x"]);
    assert!(msgs.is_empty(), "-G: {msgs:?}");
    assert!(console.contains("lvsd started"), "{console}");
    assert!(
        console.contains("SNMP (-x/-A) is not implemented") && console.contains("/metrics"),
        "{console}"
    );
}

#[test]
fn log_file_and_umask_apply_to_what_lvsd_writes() {
    let node = Node::new("umask", 12);
    let conf = node.vrrp_conf("");
    let c = conf.to_str().unwrap();
    for (mask, want) in [(Some("077"), 0o600), (None, 0o644)] {
        let logfile = node.dir.join(format!("lvsd-{want:o}.log"));
        let _ = std::fs::remove_file(&logfile);
        let mut args = vec!["-n", "-P", "-G", "-f", c, "-g", logfile.to_str().unwrap()];
        if let Some(m) = mask {
            args.extend(["-u", m]);
        }
        let mut d = Command::new("ip")
            .args([
                "netns",
                "exec",
                &node.ns,
                "sh",
                "-c",
                "umask 022; exec \"$@\"",
                "sh",
                LVSD,
            ])
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = node.pid_dir().join("keepalived.pid");
        wait_until("the pid file", Duration::from_secs(10), || pid.exists());
        wait_until(
            "lvsd started in the -g file",
            Duration::from_secs(10),
            || read(&logfile).contains("lvsd started"),
        );
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&pid), want, "pid file with -u {mask:?}");
        assert_eq!(mode(&logfile), want, "log file with -u {mask:?}");
        term(&d);
        assert_eq!(wait_exit(&mut d, Duration::from_secs(10)), Some(0));
    }
}

#[test]
fn version_prints_keepalived_line_then_lvsd() {
    let o = Command::new(LVSD).arg("-v").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    let mut lines = err.lines().filter(|l| !l.is_empty());
    assert!(
        lines
            .next()
            .unwrap_or("")
            .starts_with("Keepalived v2.2.7 ("),
        "{err}"
    );
    assert!(
        lines
            .next()
            .unwrap_or("")
            .starts_with(concat!("lvsd ", env!("CARGO_PKG_VERSION"))),
        "{err}"
    );
    let o = Command::new(LVSD).arg("--version").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn not_root_is_one_clear_error_up_front() {
    let dir = std::env::temp_dir().join(format!("lvsd-nonroot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = plain_conf(&dir);
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (uid, gid) = test_user("lvsd-idle-test");
    let t0 = std::time::Instant::now();
    let o = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args(["--clear-groups", "--", LVSD, "-n", "-l", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("must run as root"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dash_t_first_is_genhash_mode() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nlvsd");
        }
    });
    let args = ["-s", "127.0.0.1", "-p", port.as_str(), "-u", "/"];
    let t = Command::new(LVSD).arg("-T").args(args).output().unwrap();
    let g = Command::new(LVSD)
        .arg("genhash")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
    assert_eq!(t.stdout, g.stdout);
    // MD5("lvsd")
    assert!(
        String::from_utf8_lossy(&t.stdout).contains("ea4cae31b01482cf6c9c7ffa6f388496"),
        "{}",
        text(&t)
    );
    let long = Command::new(LVSD)
        .arg("--genhash")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(long.stdout, g.stdout);
}

#[test]
fn config_test_log_file_and_all_config() {
    let dir = std::env::temp_dir().join(format!("lvsd-tflags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("k.conf");
    std::fs::write(
        &conf,
        format!(
            "include {}/missing/*.conf\nglobal_defs {{\n  router_id x\n}}\n",
            dir.display()
        ),
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let o = Command::new(LVSD).args(["-t", "-f", c]).output().unwrap();
    // keepalived 2.2.7: a missing include is reported and -t exits 0.
    assert_eq!(
        o.status.code(),
        Some(0),
        "a missing include is a note: {}",
        text(&o)
    );
    let o = Command::new(LVSD)
        .args(["-t", "-e", "-f", c])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "-e refuses it: {}", text(&o));

    let logf = dir.join("t.log");
    let arg = format!("--config-test={}", logf.display());
    let o = Command::new(LVSD)
        .args([arg.as_str(), "-f", c])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{}", text(&o));
    assert!(read(&logf).contains("matches no file"), "{}", read(&logf));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn address_monitoring_core_dumps_and_stats_clear() {
    let node = Node::new("misc", 13);
    let conf = node.vrrp_conf("");
    let log = node.dir.join("a.log");
    let api = "127.0.0.1:9165";
    let mut d = node.spawn(
        &[
            "-n",
            "-l",
            "-P",
            "-a",
            "-m",
            "-f",
            conf.to_str().unwrap(),
            "--metrics-listen",
            api,
        ],
        &log,
    );
    wait_until("VIP", Duration::from_secs(10), || node.has_vip());
    // -m: no core size limit.
    let limits = read(std::path::Path::new(&format!(
        "/proc/{}/limits",
        lvsd_pid(&node)
    )));
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or("");
    assert!(core.contains("unlimited"), "{core}");

    // -a: an address added on the host is logged.
    must(Command::new("ip").args(["-n", &node.ns, "addr", "add", "10.98.13.50/32", "dev", "d0"]));
    wait_until("address monitoring line", Duration::from_secs(5), || {
        read(&log).contains("address monitoring: added 10.98.13.50/32 on d0")
    });

    // STATS_CLEAR: the signal keepalived uses (63), the stats file, then counters from zero.
    let o = Command::new(LVSD)
        .arg("--signum=STATS_CLEAR")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "63");
    let sent = || -> u64 {
        let o = node.run(&["ctl", "status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["vrrp"][0]["counters"]["advert_sent"]
            .as_u64()
            .unwrap_or(0)
    };
    wait_until("a few adverts sent", Duration::from_secs(10), || {
        sent() >= 5
    });
    let before = sent();
    let stats = std::path::Path::new("/tmp/keepalived.stats");
    let mtime = || std::fs::metadata(stats).and_then(|m| m.modified()).ok();
    let old = mtime();
    // SAFETY: kill(2) with a pid and a signal number; no memory involved.
    assert_eq!(unsafe { libc::kill(lvsd_pid(&node), 63) }, 0);
    wait_until("the stats file", Duration::from_secs(5), || mtime() != old);
    wait_until("counters cleared", Duration::from_secs(5), || {
        sent() < before
    });
    term(&d);
    assert_eq!(wait_exit(&mut d, Duration::from_secs(10)), Some(0));
}

fn lvsd_pid(node: &Node) -> i32 {
    read(&node.pid_dir().join("keepalived.pid"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn dont_respawn_stops_lvsd_when_vrrp_cannot_run() {
    let node = Node::new("resp", 14);
    // Loads (keepalived accepts an instance without addresses) but VRRP refuses to run it.
    let conf = node.dir.join("novip.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n  interface d0\n  virtual_router_id 51\n  priority 100\n}\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let log = node.dir.join("r.log");
    let mut d = node.spawn(&["-n", "-l", "-R", "-d", "-f", c], &log);
    assert_eq!(
        wait_exit(&mut d, Duration::from_secs(10)),
        Some(0),
        "{}",
        read(&log)
    );
    assert!(
        read(&log).contains("exiting (-R/--dont-respawn)"),
        "{}",
        read(&log)
    );
    // -d: the configuration as understood is in the log.
    assert!(read(&log).contains("vrrp_instance VI_1"), "{}", read(&log));
    // Without -R lvsd runs on (the director part would keep working).
    let log = node.dir.join("nor.log");
    let mut d = node.spawn(&["-n", "-l", "-f", c], &log);
    wait_until("VRRP stopped", Duration::from_secs(10), || {
        read(&log).contains("VRRP stopped")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.try_wait().unwrap().is_none(), "{}", read(&log));
    term(&d);
    assert_eq!(wait_exit(&mut d, Duration::from_secs(10)), Some(0));
}

#[test]
fn namespace_flag_runs_lvsd_in_the_named_namespace() {
    let node = Node::new("nsflag", 15);
    let conf = node.vrrp_conf("");
    let log = node.dir.join("s.log");
    // Started in the root namespace; -s moves it into the node's.
    let f = std::fs::File::create(&log).unwrap();
    let mut d = Command::new(LVSD)
        .args([
            "-n",
            "-l",
            "-P",
            "-s",
            &node.ns,
            "-f",
            conf.to_str().unwrap(),
        ])
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap();
    wait_until("VIP in the namespace", Duration::from_secs(10), || {
        node.has_vip()
    });
    let pid = node.pid_dir().join("keepalived.pid");
    assert_eq!(read(&pid).trim(), d.id().to_string(), "{}", read(&log));
    term(&d);
    assert_eq!(wait_exit(&mut d, Duration::from_secs(10)), Some(0));
}

/// `-X/--release-vips` ("drop VIP on transition from signal" in keepalived(8)): keepalived
/// 2.2.7 with and without it behaves the same in every case we could provoke (a VIP left on
/// the interface is removed when the instance starts as backup; SIGKILL or SIGTERM of the VRRP
/// child). lvsd does what keepalived -X does: the same file run under both, the leftover VIP
/// is gone for both within 1.5 s of start, long before either could become master.
#[test]
fn release_vips_removes_a_leftover_vip_like_keepalived() {
    let node = Node::new("relx", 12);
    let conf = node.dir.join("x.conf");
    std::fs::write(
        &conf,
        format!(
            "vrrp_instance VI_1 {{\n  state BACKUP\n  interface d0\n  virtual_router_id 52\n  \
             priority 100\n  advert_int 5\n  virtual_ipaddress {{\n    {}/32\n  }}\n}}\n",
            node.vip()
        ),
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let d = node.dir.to_str().unwrap();
    let (kp, vp, cp) = (
        format!("{d}/k.pid"),
        format!("{d}/v.pid"),
        format!("{d}/c.pid"),
    );
    let keepalived: Vec<&str> = vec![
        "keepalived",
        "-n",
        "-l",
        "-D",
        "-X",
        "-f",
        c,
        "-p",
        &kp,
        "-r",
        &vp,
        "-c",
        &cp,
    ];
    let lvsd: Vec<&str> = vec![LVSD, "-n", "-l", "-P", "-X", "-f", c];
    for argv in [keepalived, lvsd] {
        let add = format!("{}/32", node.vip());
        must(Command::new("ip").args(["-n", &node.ns, "addr", "add", &add, "dev", "d0"]));
        assert!(node.has_vip());
        let log = node.dir.join("x.log");
        let f = std::fs::File::create(&log).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &node.ns])
            .args(&argv)
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("spawn");
        let gone = (0..30).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            !node.has_vip()
        });
        term(&child);
        let _ = wait_exit(&mut child, Duration::from_secs(10));
        assert!(
            gone,
            "{}: the leftover VIP is still there\n{}",
            argv[0],
            read(&log)
        );
        assert!(!node.has_vip(), "{}: no VIP after stop", argv[0]);
    }
}
