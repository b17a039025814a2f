//! Script security as keepalived 2.2.7 enforces it, on the real binary with real users (created
//! here with useradd, removed after). Every script writes `id -u` to a file named after its
//! kind and case when it runs. Under `enable_script_security`, a root-run script that is
//! world-writable, owned by another user, in a directory another user can write, or reached
//! through a symlink into such a directory must never run (its file never appears) while the
//! same kinds with a safe script run, as the configured user (the file holds that uid).
//!
//! - MISC_CHECK, notify_up/down, quorum_up/down: `lvsd --health-check-only` (no IPVS needed),
//!   then a reload after the safe script became unsafe: the walk is redone, the check stops.
//! - vrrp_script, notify_master/backup/fault/stop and `notify`, of instances and sync groups:
//!   `lvsd -n -P` in a namespace of the VRRP lab (a lone instance goes MASTER).
//! - `-t`: lvsd's exit code is keepalived's on the same files.

mod vrrp_lab;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

/// Users created for one test (with a group of the same name), deleted on drop.
struct Users {
    names: Vec<String>,
}

impl Users {
    fn create(tag: &str, n: usize) -> Users {
        let names: Vec<String> = (0..n)
            .map(|i| format!("lvsdsec{tag}{i}{}", std::process::id() % 10_000))
            .collect();
        for name in &names {
            let _ = Command::new("userdel").arg(name).output();
            let out = Command::new("useradd")
                .args(["-M", "-r", "-U", "-s", "/usr/sbin/nologin", name])
                .output()
                .expect("useradd");
            assert!(
                out.status.success(),
                "useradd {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Users { names }
    }
    fn uid(&self, i: usize) -> u32 {
        nix::unistd::User::from_name(&self.names[i])
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("userdel").arg(name).output();
        }
    }
}

/// One script case: where the script is, the `user` it is given, and the uid it must run as
/// (None: it must never run).
struct Case {
    name: &'static str,
    path: PathBuf,
    user: Option<String>,
    runs_as: Option<u32>,
}

/// The tree every test uses, under a fresh directory in /tmp (sticky, root: safe):
/// `safe/` (root, 0755) with ok.sh, ww.sh (0777), other.sh (owned by another user) and
/// link.sh → `../wdir/t.sh`; `wdir/` (0777) with t.sh; `out/` (0777) for the results.
struct Tree {
    root: PathBuf,
    out: PathBuf,
    cases: Vec<Case>,
}

impl Tree {
    fn new(tag: &str, users: &Users) -> Tree {
        let root = std::env::temp_dir().join(format!("lvsd-sec-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (safe, wdir, out) = (root.join("safe"), root.join("wdir"), root.join("out"));
        for (d, mode) in [
            (&root, 0o755),
            (&safe, 0o755),
            (&wdir, 0o777),
            (&out, 0o777),
        ] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, PermissionsExt::from_mode(mode)).unwrap();
        }
        let body = format!("#!/bin/sh\nid -u > {}/\"$1\"\nexit 0\n", out.display());
        let write = |p: &Path, mode: u32| {
            std::fs::write(p, &body).unwrap();
            std::fs::set_permissions(p, PermissionsExt::from_mode(mode)).unwrap();
        };
        write(&safe.join("ok.sh"), 0o755);
        write(&safe.join("ww.sh"), 0o777);
        write(&safe.join("other.sh"), 0o755);
        write(&wdir.join("t.sh"), 0o755);
        let other = nix::unistd::User::from_name(&users.names[1])
            .unwrap()
            .unwrap();
        nix::unistd::chown(&safe.join("other.sh"), Some(other.uid), Some(other.gid)).unwrap();
        std::os::unix::fs::symlink("../wdir/t.sh", safe.join("link.sh")).unwrap();
        let root_user = Some("root".to_string());
        let case = |name, path: PathBuf, user: Option<String>, runs_as| Case {
            name,
            path,
            user,
            runs_as,
        };
        let cases = vec![
            case("ww", safe.join("ww.sh"), root_user.clone(), None),
            case("other", safe.join("other.sh"), root_user.clone(), None),
            case("indir", wdir.join("t.sh"), root_user.clone(), None),
            case("link", safe.join("link.sh"), root_user.clone(), None),
            // Controls: the same kinds do run with a safe script.
            case("root", safe.join("ok.sh"), root_user, Some(0)),
            // No user named: the global script_user (users[0]).
            case("global", safe.join("ok.sh"), None, Some(users.uid(0))),
            // Its own user.
            case(
                "own",
                safe.join("ok.sh"),
                Some(users.names[1].clone()),
                Some(users.uid(1)),
            ),
        ];
        Tree { root, out, cases }
    }

    /// The uid a script wrote under `tag`, if it ran.
    fn ran(&self, tag: &str) -> Option<String> {
        std::fs::read_to_string(self.out.join(tag))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Waits until every safe case wrote each of `kinds` (with the right uid); panics naming
    /// what is missing.
    fn wait_safe(&self, kinds: &[&str], within: Duration, log: &dyn Fn() -> String) {
        let t = Instant::now();
        loop {
            let missing: Vec<String> = self
                .cases
                .iter()
                .filter(|c| c.runs_as.is_some())
                .flat_map(|c| kinds.iter().map(move |k| (c, format!("{k}_{}", c.name))))
                .filter(|(c, tag)| self.ran(tag) != c.runs_as.map(|u| u.to_string()))
                .map(|(_, tag)| format!("{tag}={:?}", self.ran(&tag)))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                t.elapsed() < within,
                "safe scripts did not run as their user: {missing:?}\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asserts that no unsafe case ever wrote any of `kinds`.
    fn assert_unsafe_never_ran(&self, kinds: &[&str]) {
        for c in self.cases.iter().filter(|c| c.runs_as.is_none()) {
            for k in kinds {
                let tag = format!("{k}_{}", c.name);
                assert_eq!(self.ran(&tag), None, "unsafe script ran: {tag}");
            }
        }
    }

    /// `"PATH TAG" [USER]` as a notify-style line.
    fn line(c: &Case, kind: &str) -> String {
        format!(
            "\"{} {kind}_{}\"{}",
            c.path.display(),
            c.name,
            c.user.as_ref().map(|u| format!(" {u}")).unwrap_or_default()
        )
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get_status(port: u16) -> serde_json::Value {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return serde_json::Value::Null;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or_default()
}

/// The `what` of every disabled script in a `/status` snapshot.
fn disabled(status: &serde_json::Value) -> Vec<String> {
    status["disabled_scripts"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|d| format!("{} ({})", d["what"], d["reason"]))
                .collect()
        })
        .unwrap_or_default()
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `user NAME` line for block-style scripts (MISC_CHECK, vrrp_script).
fn user_kw(c: &Case, indent: &str) -> String {
    c.user
        .as_ref()
        .map(|u| format!("{indent}user {u}\n"))
        .unwrap_or_default()
}

fn health_conf(tree: &Tree, users: &Users, flag: &Path) -> String {
    let mut s = format!(
        "global_defs {{\n    enable_script_security\n    script_user {}\n}}\n",
        users.names[0]
    );
    for (i, c) in tree.cases.iter().enumerate() {
        let user_kw = user_kw(c, "            ");
        s += &format!(
            r#"virtual_server 192.0.2.{vip} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    quorum_up {qup}
    quorum_down {qdown}
    real_server 127.0.0.1 {port} {{
        alpha
        notify_up {nup}
        notify_down {ndown}
        MISC_CHECK {{
            misc_path "{path} misc_{name}"
{user_kw}        }}
        MISC_CHECK {{
            misc_path "/usr/bin/test -e {flag}"
        }}
    }}
}}
"#,
            vip = 10 + i,
            port = 20_000 + i,
            qup = Tree::line(c, "qup"),
            qdown = Tree::line(c, "qdown"),
            nup = Tree::line(c, "nup"),
            ndown = Tree::line(c, "ndown"),
            path = c.path.display(),
            name = c.name,
            flag = flag.display(),
        );
    }
    s
}

#[test]
fn checker_scripts_run_only_when_safe() {
    let users = Users::create("h", 2);
    let tree = Tree::new("hc", &users);
    let flag = tree.out.join("flag");
    std::fs::write(&flag, "").unwrap();
    let conf = tree.root.join("keepalived.conf");
    std::fs::write(&conf, health_conf(&tree, &users, &flag)).unwrap();
    let log = tree.root.join("lvsd.log");
    let port = free_port();
    let child = Command::new(LVSD)
        .args(["--health-check-only", "-n", "-l", "-f"])
        .arg(&conf)
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start lvsd");
    let lvsd = Daemon { child, log };
    let log = || lvsd.log();

    // Up: MISC_CHECKs ran, then the servers came up (notify_up) and the quorum (quorum_up).
    tree.wait_safe(&["misc", "nup", "qup"], Duration::from_secs(15), &log);
    // Down: the flag check fails.
    std::fs::remove_file(&flag).unwrap();
    tree.wait_safe(&["ndown", "qdown"], Duration::from_secs(10), &log);
    let kinds = ["misc", "nup", "qup", "ndown", "qdown"];
    tree.assert_unsafe_never_ran(&kinds);

    // Logged and on /status: 4 unsafe cases × 5 kinds, each saying why.
    let st = get_status(port);
    let off = disabled(&st);
    assert_eq!(off.len(), 20, "{off:#?}");
    for c in ["ww", "other", "indir", "link"] {
        let n = st["disabled_scripts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["command"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(&format!("_{c}")))
            })
            .count();
        assert_eq!(n, 5, "{c}: {off:#?}");
    }
    assert!(
        off.iter().all(|d| d.contains("unsafe permissions")),
        "{off:#?}"
    );
    assert!(
        off.iter()
            .any(|d| d.contains("/wdir/t.sh") && d.contains("wdir is world-writable")),
        "{off:#?}"
    );
    assert!(
        log().contains("MISC_CHECK of real_server 127.0.0.1 80") && log().contains("disabled"),
        "{}",
        log()
    );

    // Reload: the safe script turns world-writable. The walk is redone: as root it is now
    // refused; run as an unprivileged user it is still allowed (keepalived does not walk it).
    std::fs::write(&flag, "").unwrap();
    std::fs::set_permissions(
        tree.root.join("safe/ok.sh"),
        PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(lvsd.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let t = Instant::now();
    while get_status(port)["reload"]["successes"] != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no reload\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    for c in ["root", "global", "own"] {
        let _ = std::fs::remove_file(tree.out.join(format!("misc_{c}")));
    }
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        tree.ran("misc_root"),
        None,
        "unsafe after reload, still ran"
    );
    assert_eq!(tree.ran("misc_global"), Some(users.uid(0).to_string()));
    assert_eq!(tree.ran("misc_own"), Some(users.uid(1).to_string()));
    let off = disabled(&get_status(port));
    assert_eq!(off.len(), 25, "{off:#?}");
}

fn vrrp_conf(tree: &Tree, users: &Users, fault_file: &Path) -> String {
    let mut s = format!(
        "global_defs {{\n    enable_script_security\n    script_user {}\n}}\n\
         vrrp_track_file tf {{\n    file {}\n    weight 0\n}}\n",
        users.names[0],
        fault_file.display()
    );
    for (i, c) in tree.cases.iter().enumerate() {
        let user_kw = user_kw(c, "    ");
        s += &format!(
            "vrrp_script chk_{name} {{\n    script \"{path} chk_{name}\"\n    interval 1\n{user_kw}}}\n",
            name = c.name,
            path = c.path.display()
        );
        s += &format!(
            "vrrp_sync_group G_{name} {{\n    group {{\n        VI_{name}\n        VJ_{name}\n    }}\n    \
             notify_master {gm}\n    notify_backup {gb}\n    notify_fault {gf}\n    notify {ga}\n}}\n",
            name = c.name,
            gm = Tree::line(c, "gmaster"),
            gb = Tree::line(c, "gbackup"),
            gf = Tree::line(c, "gfault"),
            ga = Tree::line(c, "gany"),
        );
        for (j, inst) in ["VI", "VJ"].iter().enumerate() {
            let hooks = if j == 0 {
                format!(
                    "    notify_master {}\n    notify_backup {}\n    notify_fault {}\n    notify_stop {}\n    notify {}\n",
                    Tree::line(c, "master"),
                    Tree::line(c, "backup"),
                    Tree::line(c, "fault"),
                    Tree::line(c, "stop"),
                    Tree::line(c, "any"),
                )
            } else {
                String::new()
            };
            s += &format!(
                "vrrp_instance {inst}_{name} {{\n    interface eth0\n    state BACKUP\n    \
                 virtual_router_id {vrid}\n    priority 100\n    advert_int 1\n    \
                 virtual_ipaddress {{\n        10.77.0.{vip}/24\n    }}\n    \
                 track_script {{\n        chk_{name}\n    }}\n    track_file {{\n        tf\n    }}\n{hooks}}}\n",
                name = c.name,
                vrid = 60 + 2 * i + j,
                vip = 110 + 2 * i + j,
            );
        }
    }
    s
}

#[test]
fn vrrp_scripts_run_only_when_safe() {
    let users = Users::create("v", 2);
    let tree = Tree::new("vr", &users);
    let fault_file = tree.out.join("fault");
    std::fs::write(&fault_file, "0\n").unwrap();
    let lab = vrrp_lab::Lab::new("sec");
    let mut d = lab.start_lvsd_text(1, &vrrp_conf(&tree, &users, &fault_file), false);
    let log_path = d.log.clone();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // BACKUP then MASTER (lone instances); the tracked scripts ran.
    tree.wait_safe(
        &[
            "chk", "backup", "master", "any", "gbackup", "gmaster", "gany",
        ],
        Duration::from_secs(20),
        &log,
    );
    // FAULT through the track_file.
    std::fs::write(&fault_file, "1\n").unwrap();
    tree.wait_safe(&["fault", "gfault"], Duration::from_secs(10), &log);
    let st = d.status_json();
    let off = disabled(&st);
    // 4 unsafe cases × (vrrp_script + 5 instance hooks + 4 group hooks).
    assert_eq!(off.len(), 40, "{off:#?}");
    // An unsafe tracked script is removed from its instances, which still go MASTER.
    std::fs::write(&fault_file, "0\n").unwrap();
    let t = Instant::now();
    loop {
        let st = d.status_json();
        let masters = st["vrrp"]
            .as_array()
            .map(|v| v.iter().filter(|i| i["state"] == "MASTER").count())
            .unwrap_or(0);
        if masters == 2 * tree.cases.len() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "not all instances MASTER: {st}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Stop: notify_stop runs for the safe cases even though lvsd exits.
    d.term();
    d.wait();
    tree.wait_safe(&["stop"], Duration::from_secs(5), &log);
    tree.assert_unsafe_never_ran(&[
        "chk", "backup", "master", "fault", "stop", "any", "gbackup", "gmaster", "gfault", "gany",
    ]);

    // -t: the verdict keepalived 2.2.7 gives on the same scripts (as root: its -t dies on a
    // non-root script_user). 5 for each unsafe script, 0 when safe, 6 without security.
    let ns = lab.ns(1);
    let t_code = |conf: &str, prog: &str| -> i32 {
        let p = tree.root.join("t.conf");
        std::fs::write(&p, conf).unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, prog, "-t", "-f"])
            .arg(&p)
            .output()
            .unwrap();
        out.status.code().unwrap_or(-1)
    };
    for c in &tree.cases {
        for (security, user) in [(true, true), (false, true), (true, false)] {
            let conf = format!(
                "global_defs {{\n{}{}}}\n\
                 vrrp_script chk {{\n    script \"{p} x\"\n}}\n\
                 vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    \
                 priority 100\n    virtual_ipaddress {{\n        10.77.0.100/24\n    }}\n    \
                 track_script {{\n        chk\n    }}\n    notify_master \"{p} y\"\n}}\n",
                if security {
                    "    enable_script_security\n"
                } else {
                    ""
                },
                if user { "    script_user root\n" } else { "" },
                p = c.path.display()
            );
            let k = t_code(&conf, "keepalived");
            let l = t_code(&conf, LVSD);
            let what = format!("{} security={security} script_user={user}", c.name);
            assert_eq!(k, l, "{what}: keepalived -t {k}, lvsd -t {l}");
            // No script_user: keepalived_script if it exists, else (with security) every
            // script is removed: 5 whatever the file.
            if user {
                let want = match (security, c.runs_as.is_some()) {
                    (false, _) => 6,
                    (true, true) => 0,
                    (true, false) => 5,
                };
                assert_eq!(k, want, "{what}");
            }
        }
    }
}

/// `global_defs` for one case: its script as startup_script, shutdown_script and the three
/// `*_fifo_script`s (each with the case's user, as keepalived takes it after the command).
fn lifecycle_conf(tree: &Tree, users: &Users, c: &Case) -> String {
    let fifo = |k: &str| tree.root.join(format!("{k}_{}.fifo", c.name));
    format!(
        "global_defs {{\n    enable_script_security\n    script_user {user}\n    \
         startup_script {start}\n    shutdown_script {stop}\n    \
         notify_fifo {nf}\n    notify_fifo_script {nfs}\n    \
         vrrp_notify_fifo {vf}\n    vrrp_notify_fifo_script {vfs}\n    \
         lvs_notify_fifo {lf}\n    lvs_notify_fifo_script {lfs}\n}}\n\
         virtual_server 192.0.2.50 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    \
         protocol TCP\n    real_server 127.0.0.1 80 {{\n        TCP_CHECK {{\n        }}\n    }}\n}}\n",
        user = users.names[0],
        start = Tree::line(c, "start"),
        stop = Tree::line(c, "stop"),
        nf = fifo("nf").display(),
        nfs = Tree::line(c, "nfifo"),
        vf = fifo("vf").display(),
        vfs = Tree::line(c, "vfifo"),
        lf = fifo("lf").display(),
        lfs = Tree::line(c, "lfifo"),
    )
}

/// The global scripts, one daemon per case (they are one per configuration), run as the
/// director in a namespace of the VRRP lab (`--health-check-only` runs no start-up or shutdown
/// script): a safe one runs as its user at start (startup_script, the FIFO scripts) and at
/// stop (shutdown_script); an unsafe one never runs, and `/status` lists all five as disabled.
#[test]
fn startup_shutdown_and_fifo_scripts_run_only_when_safe() {
    let users = Users::create("l", 2);
    let tree = Tree::new("lc", &users);
    let lab = vrrp_lab::Lab::new("lsec");
    let at_start = ["start", "nfifo", "vfifo", "lfifo"];
    for c in &tree.cases {
        let mut d = lab.start_lvsd_text(1, &lifecycle_conf(&tree, &users, c), true);
        let log_path = d.log.clone();
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let ran = |kinds: &[&str]| -> Vec<(String, Option<String>)> {
            kinds
                .iter()
                .map(|k| {
                    let tag = format!("{k}_{}", c.name);
                    (tag.clone(), tree.ran(&tag))
                })
                .collect()
        };
        let want = c.runs_as.map(|u| u.to_string());
        let t = Instant::now();
        // Up: /status answers (the start-up script has ended by then) and, for a safe case,
        // the FIFO scripts have written their uid.
        loop {
            let st = d.status_json();
            let started = want.is_none() || ran(&at_start).iter().all(|(_, got)| *got == want);
            if !st.is_null() && started {
                let off = disabled(&st);
                let n = if want.is_none() { 5 } else { 0 };
                assert_eq!(off.len(), n, "{}: {off:#?}\n{}", c.name, log());
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "{}: {:?}\n{}",
                c.name,
                ran(&at_start),
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d.term();
        d.wait();
        let all = ran(&["start", "nfifo", "vfifo", "lfifo", "stop"]);
        for (tag, got) in &all {
            assert_eq!(*got, want, "{tag}: {all:?}\n{}", log());
        }
        if want.is_none() {
            assert!(log().contains("unsafe"), "{}", log());
        }
    }
}
