//! `nftables_ipvs` against a real IPVS kernel (tests/vm), side by side with keepalived 2.2.7:
//! each virtual server on a virtual_server_group becomes one fwmark service (marks from
//! `nftables_ipvs_start_fwmark`, in virtual_server order), with the same `ip`/`ip6` tables,
//! maps and chain as keepalived writes; a client in another namespace reaches a real server
//! through the group's addresses and ports (the mark is set; NAT real servers keep their port,
//! DR ones get port 0, as keepalived gives them); both tables go at exit.
//!
//! Lab inside the VM: namespace `nfc` (client 10.99.0.2) — director (root namespace,
//! 10.99.0.1 / 10.98.0.1, the group addresses on `lo`) — namespace `nfr` (real server
//! 10.98.0.2, busybox httpd on ports 80 and 8080, default route via the director).

#[path = "vm/harness.rs"]
mod vm;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lvsd::nft::ruleset::{Shape, comparable_text, observed_shape};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");
const TABLE: &str = "lvipvs";

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("nft_ipvs_vm_", 1);
}

fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap_or_else(|e| panic!("sh -c {cmd}: {e}"))
}

fn must(cmd: &str) {
    let o = sh(cmd);
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn config() -> String {
    format!(
        "global_defs {{
  router_id vm
  nftables_ipvs {TABLE}
  nftables_ipvs_priority -50
  nftables_ipvs_start_fwmark 2000
  nftables_counters
}}
virtual_server_group WEB {{
  10.0.0.1 80
  10.0.0.10-12 8080
}}
virtual_server_group API {{
  10.0.0.5 80
}}
virtual_server_group V6 {{
  fd00:97::1 443
}}
virtual_server group API {{
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 10.98.0.2 80 {{
  }}
}}
virtual_server group WEB {{
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  real_server 10.98.0.2 80 {{
  }}
}}
virtual_server group WEB {{
  lb_algo rr
  lb_kind NAT
  protocol UDP
  real_server 10.98.0.2 53 {{
  }}
}}
virtual_server group V6 {{
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server fd00:98::2 443 {{
  }}
}}
"
    )
}

fn lab(dir: &Path) {
    for ns in ["nfc", "nfr"] {
        let _ = sh(&format!("ip netns del {ns}"));
        must(&format!("ip netns add {ns}"));
        must(&format!("ip -n {ns} link set lo up"));
    }
    must("ip link add nfc0 type veth peer name eth0 netns nfc");
    must("ip link add nfr0 type veth peer name eth0 netns nfr");
    must("ip addr add 10.99.0.1/24 dev nfc0 && ip link set nfc0 up");
    must("ip addr add 10.98.0.1/24 dev nfr0 && ip link set nfr0 up");
    must("ip -n nfc addr add 10.99.0.2/24 dev eth0 && ip -n nfc link set eth0 up");
    must("ip -n nfc route add default via 10.99.0.1");
    must("ip -n nfr addr add 10.98.0.2/24 dev eth0 && ip -n nfr link set eth0 up");
    must("ip -n nfr route add default via 10.98.0.1");
    for a in [
        "10.0.0.1",
        "10.0.0.5",
        "10.0.0.10",
        "10.0.0.11",
        "10.0.0.12",
    ] {
        must(&format!("ip addr add {a}/32 dev lo"));
    }
    must("sysctl -qw net.ipv4.ip_forward=1");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(www.join("index.html"), "real server\n").unwrap_or_else(|e| panic!("{e}"));
    for port in [80, 8080] {
        must(&format!(
            "ip netns exec nfr busybox httpd -p {port} -h {}",
            www.display()
        ));
    }
}

/// What the client gets from `http://ADDR:PORT/`.
fn fetch(addr: &str, port: u16) -> Option<String> {
    let o = sh(&format!(
        "ip netns exec nfc busybox timeout 3 busybox wget -q -O - http://{addr}:{port}/index.html"
    ));
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).to_string())
}

#[derive(Debug, PartialEq)]
struct Seen {
    text: [String; 2],
    shape: [Option<Shape>; 2],
    ipvs: String,
}

fn seen() -> Seen {
    let mut text: [String; 2] = Default::default();
    let mut shape: [Option<Shape>; 2] = [None, None];
    for (i, family) in ["ip", "ip6"].into_iter().enumerate() {
        let o = sh(&format!("nft list table {family} {TABLE}"));
        if o.status.success() {
            text[i] = comparable_text(&String::from_utf8_lossy(&o.stdout));
            let j = sh(&format!("nft -j list table {family} {TABLE}"));
            shape[i] = serde_json::from_slice(&j.stdout)
                .ok()
                .map(|v| observed_shape(&v));
        }
    }
    // Services and destinations without the connection counts (the first run's connections
    // outlive its services in the kernel's connection table).
    let ipvs = String::from_utf8_lossy(&sh("ipvsadm -Ln").stdout)
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if l.trim_start().starts_with("->") && w.len() > 4 {
                w[..4].join(" ")
            } else {
                l.trim_end().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Seen { text, shape, ipvs }
}

fn wait_ipvs(want: &str, present: bool) {
    let t0 = Instant::now();
    // TCG on a shared machine: keepalived's and lvsd's start-up can take seconds.
    while t0.elapsed() < Duration::from_secs(30) {
        let has = String::from_utf8_lossy(&sh("ipvsadm -Ln").stdout).contains(want);
        if has == present {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "ipvsadm -Ln: {want} present={present} not reached:\n{}",
        String::from_utf8_lossy(
            &sh("ipvsadm -Ln; nft list ruleset; tail -20 /tmp/lvsd-nft-ipvs-*/*.log").stdout
        )
    );
}

struct Run {
    master: Seen,
    served: Vec<Option<String>>,
    after: Seen,
}

/// `restore`: also flush the whole ruleset (`systemctl restart nftables` does) and expect the
/// marks back within the resync period (lvsd; keepalived does not restore them).
fn run(restore: bool, child: impl FnOnce() -> Child) -> Run {
    let mut c = child();
    wait_ipvs("FWM  2003", true);
    std::thread::sleep(Duration::from_millis(500));
    let master = seen();
    let served = vec![
        fetch("10.0.0.10", 8080),
        fetch("10.0.0.12", 8080),
        fetch("10.0.0.1", 80),
    ];
    if restore {
        must("nft flush ruleset");
        let t0 = Instant::now();
        while seen().shape != master.shape && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            // TCG: every nft and ipvsadm process here takes a good part of a second.
            t0.elapsed() < lvsd::nft::ipvs::RESYNC * 3,
            "marks not restored after a flush ({:?})",
            t0.elapsed()
        );
        assert!(
            fetch("10.0.0.11", 8080).is_some(),
            "not served after the restore"
        );
    }
    let _ = Command::new("kill").arg(c.id().to_string()).status();
    let _ = c.wait();
    wait_ipvs("FWM", false);
    Run {
        master,
        served,
        after: seen(),
    }
}

fn spawn(cmd: &mut Command, log: PathBuf) -> Child {
    let logf = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    cmd.stdout(Stdio::null())
        .stderr(logf)
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn nft_ipvs_vm_same_tables_and_services_as_keepalived() {
    must("ipvsadm -C");
    let dir = PathBuf::from(format!("/tmp/lvsd-nft-ipvs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, config()).unwrap_or_else(|e| panic!("{e}"));
    lab(&dir);
    assert_eq!(
        fetch("10.0.0.10", 8080),
        None,
        "served before any director ran"
    );
    let ka = run(false, || {
        let p = |s: &str| dir.join(format!("ka.{s}.pid"));
        spawn(
            Command::new("keepalived")
                .args(["-n", "-l", "-D", "-C", "-f"])
                .arg(&conf)
                .arg("-p")
                .arg(p("main"))
                .arg("-r")
                .arg(p("vrrp"))
                .arg("-c")
                .arg(p("check")),
            dir.join("keepalived.log"),
        )
    });
    let lv = run(true, || {
        spawn(
            Command::new(LVSD)
                .args(["-n", "-l", "-C", "-f"])
                .arg(&conf)
                .env("RUST_LOG", "info"),
            dir.join("lvsd.log"),
        )
    });
    // keepalived: what we expect, so the comparison below means what it says.
    let m = ka.master.shape[0].as_ref().expect("keepalived's ip table");
    assert_eq!(
        m.sets["tcp_map"],
        [
            "10.0.0.5 . 80 : 2000",
            "10.0.0.1 . 80 : 2001",
            "10.0.0.10-10.0.0.12 . 8080 : 2001"
        ]
        .map(String::from)
        .into()
    );
    assert!(ka.master.text[0].contains("type filter hook input priority -50;"));
    assert!(
        ka.master.ipvs.contains("FWM  2002 rr"),
        "{}",
        ka.master.ipvs
    );
    assert!(
        ka.master.ipvs.contains("FWM  2003 IPv6 rr"),
        "{}",
        ka.master.ipvs
    );
    assert!(
        ka.master.ipvs.contains("-> 10.98.0.2:0 Route"),
        "{}",
        ka.master.ipvs
    );
    let up = Some("real server\n".to_string());
    assert_eq!(
        ka.served,
        vec![up.clone(); 3],
        "through keepalived's director"
    );
    // lvsd, side by side.
    assert_eq!(
        lv.master, ka.master,
        "tables or services differ from keepalived's"
    );
    assert_eq!(lv.served, vec![up; 3], "through lvsd's director");
    assert_eq!(lv.after, ka.after, "left after exit");
    assert_eq!(lv.after.shape, [None, None], "tables left after exit");
    let _ = sh("ip netns del nfc; ip netns del nfr");
}
