//! Notify FIFOs side by side with keepalived 2.2.7: the same configuration (but for the VRIDs)
//! runs in keepalived on n1 and in lvsd on n2 of the namespace LAN; a reader on each
//! `vrrp_notify_fifo` collects the lines while both go through the same state changes (start,
//! reload, link down → FAULT, link up → MASTER, stop). The two readers must see the same lines,
//! each instance's in the same order (lvsd's instances run concurrently: two instances' lines
//! for one event may interleave either way). lvsd's FIFO must also stay the same file across the reload (keepalived
//! re-creates it) and be gone after the stop (both created it). A sync group's
//! `notify_priority_changes` writes its instances' priority changes as keepalived does.

mod vrrp_lab;

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vrrp_lab::Lab;

/// Reads a FIFO by name until told to stop, re-opening it when its writers close it (what a
/// keepalived FIFO reader must do across reloads).
struct Reader {
    lines: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reader {
    fn start(path: PathBuf) -> Reader {
        let lines = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || read_loop(&path, &l, &s));
        Reader {
            lines,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let text = self.lines.lock().unwrap().clone();
        text.lines().map(str::to_string).collect()
    }
}

fn read_loop(path: &Path, out: &Mutex<String>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
        let Ok(mut f) = f else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break, // every writer closed it
                Ok(n) => out
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The STOP lines at the end, sorted: lvsd's instances stop concurrently, so two instances'
/// STOP lines may come in either order (each instance's own lines stay in order).
fn stops_sorted(mut lines: Vec<String>) -> Vec<String> {
    let n = lines
        .iter()
        .rev()
        .take_while(|l| l.contains(" STOP "))
        .count();
    let at = lines.len() - n;
    lines[at..].sort();
    lines
}

fn conf(fifo: &Path, vrid: u8) -> String {
    let mut s = format!(
        "global_defs {{\n  vrrp_notify_fifo {}\n}}\n",
        fifo.display()
    );
    for (i, prio) in [(0u8, 100u8), (1, 90)] {
        s += &format!(
            "vrrp_instance VI_{n} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vr}\n  \
             priority {prio}\n  advert_int 1\n  virtual_ipaddress {{\n    10.77.0.{ip}/24\n  }}\n}}\n",
            n = i + 1,
            vr = vrid + i,
            ip = 100 + vrid + i,
        );
    }
    s
}

struct Keepalived(Child);

impl Drop for Keepalived {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

fn fifo_inode(p: &Path) -> Option<u64> {
    std::fs::symlink_metadata(p)
        .ok()
        .filter(|m| m.file_type().is_fifo())
        .map(|m| m.ino())
}

#[test]
fn vrrp_fifo_lines_match_keepalived() {
    use nix::sys::signal::Signal;
    let lab = Lab::new("fifo");
    let (kfifo, lfifo) = (lab.dir.join("ka.fifo"), lab.dir.join("lvsd.fifo"));
    let kconf = lab.dir.join("ka.conf");
    std::fs::write(&kconf, conf(&kfifo, 11)).unwrap();
    let p = |s: &str| lab.dir.join(format!("ka.{s}.pid"));
    let klog = std::fs::File::create(lab.dir.join("ka.log")).unwrap();
    let ka = Keepalived(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns(1),
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-G",
                "--vrrp",
                "-f",
            ])
            .arg(&kconf)
            .arg("-p")
            .arg(p("main"))
            .arg("-r")
            .arg(p("vrrp"))
            .arg("-c")
            .arg(p("check"))
            .stdout(klog.try_clone().unwrap())
            .stderr(klog)
            .stdin(Stdio::null())
            .spawn()
            .expect("keepalived"),
    );
    let mut lvsd = lab.start_lvsd_text(2, &conf(&lfifo, 21), false);
    let (kr, lr) = (Reader::start(kfifo.clone()), Reader::start(lfifo.clone()));

    let master = |node: u8, vips: [&str; 2]| {
        for v in vips {
            assert!(
                lab.wait_for(node, v, true, Duration::from_secs(10))
                    .is_some(),
                "n{node} never became master for {v}\nlvsd log:\n{}",
                lvsd.log_text()
            );
        }
    };
    master(1, ["10.77.0.111", "10.77.0.112"]);
    master(2, ["10.77.0.121", "10.77.0.122"]);
    let inode = fifo_inode(&lfifo).expect("lvsd created its FIFO");

    // A reload of the same configuration changes no state: nothing is written.
    signal(ka.0.id(), Signal::SIGHUP);
    lvsd.hup();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        fifo_inode(&lfifo),
        Some(inode),
        "lvsd's FIFO was replaced at reload"
    );

    // Link down: FAULT; link up: BACKUP, then MASTER.
    for n in [1, 2] {
        let out = lab.exec(n, &["ip", "link", "set", "eth0", "down"]);
        assert!(out.status.success());
    }
    std::thread::sleep(Duration::from_millis(1500));
    for n in [1, 2] {
        let out = lab.exec(n, &["ip", "link", "set", "eth0", "up"]);
        assert!(out.status.success());
    }
    master(1, ["10.77.0.111", "10.77.0.112"]);
    master(2, ["10.77.0.121", "10.77.0.122"]);
    std::thread::sleep(Duration::from_millis(500));

    signal(ka.0.id(), Signal::SIGTERM);
    lvsd.term();
    lvsd.wait();
    let mut ka = ka;
    let _ = ka.0.wait();
    let (k, l) = (kr.finish(), lr.finish());
    eprintln!("keepalived wrote: {k:#?}");
    assert!(
        k.iter().any(|l| l.contains("FAULT")),
        "keepalived's reader saw no FAULT: {k:#?}"
    );
    // Each instance's lines, in order, are keepalived's. lvsd's instances run concurrently, so
    // for one event hitting both (the link going down) the two instances' lines may
    // interleave either way; keepalived, single-threaded, writes them in configuration order.
    for vi in ["\"VI_1\"", "\"VI_2\""] {
        let of = |v: &[String]| -> Vec<String> {
            v.iter().filter(|x| x.contains(vi)).cloned().collect()
        };
        assert_eq!(
            of(&l),
            of(&k),
            "{vi}: lvsd's FIFO lines differ from keepalived's\nlvsd: {l:#?}\nlvsd log:\n{}",
            lvsd.log_text()
        );
    }
    assert_eq!(l.len(), k.len(), "{l:#?}");
    assert!(!lfifo.exists(), "lvsd left its FIFO behind");
    assert!(!kfifo.exists(), "keepalived left its FIFO behind");
}

/// `fifo_write_vrrp_states_on_reload`: after a reload lvsd writes every instance's current
/// state again, in order after the lines before it (keepalived 2.2.7 documents this; in the
/// same lab it wrote nothing at reload, so this is lvsd alone).
#[test]
fn states_are_written_again_on_reload() {
    let lab = Lab::new("fifr");
    let fifo = lab.dir.join("lvsd.fifo");
    let text = conf(&fifo, 31).replace(
        "global_defs {\n",
        "global_defs {\n  fifo_write_vrrp_states_on_reload\n",
    );
    let mut lvsd = lab.start_lvsd_text(1, &text, false);
    let r = Reader::start(fifo.clone());
    for v in ["10.77.0.131", "10.77.0.132"] {
        assert!(
            lab.wait_for(1, v, true, Duration::from_secs(10)).is_some(),
            "{}",
            lvsd.log_text()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    lvsd.hup();
    std::thread::sleep(Duration::from_millis(1500));
    lvsd.term();
    lvsd.wait();
    let lines = stops_sorted(r.finish());
    let want = [
        "INSTANCE \"VI_1\" BACKUP 100",
        "INSTANCE \"VI_2\" BACKUP 90",
        "INSTANCE \"VI_1\" MASTER 100",
        "INSTANCE \"VI_2\" MASTER 90",
        // The reload.
        "INSTANCE \"VI_1\" MASTER 100",
        "INSTANCE \"VI_2\" MASTER 90",
        "INSTANCE \"VI_1\" STOP 100",
        "INSTANCE \"VI_2\" STOP 90",
    ];
    assert_eq!(lines, want, "{}", lvsd.log_text());
}

/// Three instances in a sync group tracking one file (`sync_group_tracking_weight`, so the
/// weight counts), the group with or without `notify_priority_changes`.
fn sync_group_conf(fifo: &Path, file: &Path, vrid: u8, notify_priority_changes: bool) -> String {
    let mut s = format!(
        "global_defs {{\n  vrrp_notify_fifo {}\n}}\ntrack_file tf {{\n  file {}\n  weight -10\n}}\n\
         vrrp_sync_group G {{\n  group {{\n    VI_1\n    VI_2\n  }}\n  sync_group_tracking_weight\n{}}}\n",
        fifo.display(),
        file.display(),
        if notify_priority_changes {
            "  notify_priority_changes\n"
        } else {
            ""
        },
    );
    // VI_3 sets its own `notify_priority_changes false`, which its group's does not override.
    for (i, prio, own) in [
        (0u8, 100u8, ""),
        (1, 90, ""),
        (2, 95, "  notify_priority_changes false\n"),
    ] {
        s += &format!(
            "vrrp_instance VI_{n} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vr}\n  \
             priority {prio}\n  advert_int 1\n{own}  track_file {{\n    tf\n  }}\n  \
             virtual_ipaddress {{\n    10.77.0.{ip}/24\n  }}\n}}\n",
            n = i + 1,
            vr = vrid + i,
            ip = 100 + vrid + i,
        );
    }
    s
}

/// keepalived on n1 and lvsd on n2 run [`sync_group_conf`]; once both are master the tracked
/// file goes from 0 to 2 (priorities 100 → 80, 90 → 70, 95 → 75). Returns keepalived's and lvsd's FIFO
/// lines and lvsd's effective priority of VI_1 at the end.
fn sync_group_run(lab: &Lab, tag: &str, option: bool) -> (Vec<String>, Vec<String>, i64) {
    let file = lab.dir.join(format!("{tag}.track"));
    std::fs::write(&file, "0\n").unwrap();
    let (kfifo, lfifo) = (
        lab.dir.join(format!("{tag}-ka.fifo")),
        lab.dir.join(format!("{tag}-lvsd.fifo")),
    );
    let mut ka = lab.start_keepalived_text(1, &sync_group_conf(&kfifo, &file, 11, option));
    let mut lvsd = lab.start_lvsd_text(2, &sync_group_conf(&lfifo, &file, 21, option), false);
    let (kr, lr) = (Reader::start(kfifo), Reader::start(lfifo));
    for (node, v) in [
        (1, "10.77.0.111"),
        (1, "10.77.0.112"),
        (1, "10.77.0.113"),
        (2, "10.77.0.121"),
        (2, "10.77.0.122"),
        (2, "10.77.0.123"),
    ] {
        assert!(
            lab.wait_for(node, v, true, Duration::from_secs(10))
                .is_some(),
            "n{node} never became master for {v}\nlvsd log:\n{}\nkeepalived log:\n{}",
            lvsd.log_text(),
            ka.log_text()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&file, "2\n").unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    let prio = lvsd.status_json()["vrrp"][0]["effective_priority"]
        .as_i64()
        .unwrap_or(-1);
    ka.term();
    lvsd.term();
    ka.wait();
    lvsd.wait();
    (kr.finish(), lr.finish(), prio)
}

/// `notify_priority_changes` in a vrrp_sync_group: its instances' priority changes are written
/// to the notify FIFO as keepalived 2.2.7 writes them (`INSTANCE "VI_1" MASTER_PRIORITY 80`),
/// but for an instance that sets its own `notify_priority_changes false`; without it, the same
/// change writes nothing.
#[test]
fn sync_group_priority_changes_match_keepalived() {
    let lab = Lab::new("fsg");
    let (k, l, prio) = sync_group_run(&lab, "on", true);
    eprintln!("keepalived wrote: {k:#?}");
    assert_eq!(prio, 80, "lvsd's VI_1 did not follow the file");
    assert!(
        k.iter()
            .any(|x| x == "INSTANCE \"VI_1\" MASTER_PRIORITY 80"),
        "keepalived wrote no priority change: {k:#?}"
    );
    for vi in [
        "INSTANCE \"VI_1\"",
        "INSTANCE \"VI_2\"",
        "INSTANCE \"VI_3\"",
        "GROUP \"G\"",
    ] {
        let of = |v: &[String]| -> Vec<String> {
            v.iter().filter(|x| x.starts_with(vi)).cloned().collect()
        };
        assert_eq!(
            of(&l),
            of(&k),
            "{vi}: lvsd's FIFO lines differ from keepalived's"
        );
    }
    assert!(
        l.iter()
            .any(|x| x == "INSTANCE \"VI_2\" MASTER_PRIORITY 70"),
        "{l:#?}"
    );
    // VI_3's own `false` wins over its group's option, in keepalived as in lvsd.
    assert!(
        !k.iter()
            .any(|x| x.starts_with("INSTANCE \"VI_3\" MASTER_PRIORITY")),
        "{k:#?}"
    );

    let (k, l, prio) = sync_group_run(&lab, "off", false);
    assert_eq!(prio, 80, "lvsd's VI_1 did not follow the file");
    for (who, lines) in [("keepalived", &k), ("lvsd", &l)] {
        assert!(
            !lines.iter().any(|x| x.contains("_PRIORITY")),
            "{who} wrote priority changes without notify_priority_changes: {lines:#?}"
        );
        assert!(lines.iter().any(|x| x.contains("MASTER")), "{lines:#?}");
    }
}
