//! VRRP and namespace keywords that need interfaces or tables the host kernel lacks, in the
//! IPVS VM (tests/vm; one boot for all inner tests), with the real lvsd and keepalived 2.2.7
//! from the same kind of configuration:
//!
//! - `use_ipvlan`: lvsd and keepalived, each in its own director namespace on one bridge, run
//!   VRRP over the ipvlans they create; a client namespace follows the VIP (whose web server
//!   answers) through lvsd master → keepalived master (lvsd stopped, its ipvlan gone) → lvsd
//!   backup staying backup under keepalived's adverts → lvsd master (keepalived stopped).
//! - `net_namespace_ipvs` and `namespace_with_ipsets`: lvsd (and keepalived before it, from the
//!   same file) runs VRRP in `net_namespace` and programs its virtual server into the other
//!   namespace's IPVS table (`ipvsadm -Ln` inside each namespace is the witness); its nft VRRP
//!   firewall (the VIP set of a no_accept master) is made inside `net_namespace`, none in the
//!   other namespaces.
//!
//! - `vrf` in a unicast instance without `interface`: two lvsd in namespaces whose link is
//!   enslaved to a VRF (the peer routed by the VRF's table only) fail over; without `vrf` the
//!   instance cannot reach its peer. keepalived 2.2.7 refuses such an instance (its issue
//!   #2270) and `lvsd -t` gives the same verdict.
//!
//! Every namespace and interface is named `vm-…`.

#[path = "vm/harness.rs"]
mod vm;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

#[test]
fn in_vm() {
    let t0 = Instant::now();
    vm::run_ignored_in_vm("vrrp_vm_", 3);
    println!("VM run: {:?}", t0.elapsed());
}

fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap_or_else(|e| panic!("sh -c {cmd}: {e}"))
}

fn out(cmd: &str) -> String {
    String::from_utf8_lossy(&sh(cmd).stdout).into_owned()
}

fn must(cmd: &str) {
    let o = sh(cmd);
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Polls `f` every 100 ms until it holds; panics with `what` and `ctx()` after `limit`.
fn wait(what: &str, limit: Duration, mut f: impl FnMut() -> bool, ctx: impl Fn() -> String) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            ctx()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prints how long a test took (libtest does not on stable).
struct Timed(&'static str, Instant);

impl Drop for Timed {
    fn drop(&mut self) {
        println!("{}: {:?}", self.0, self.1.elapsed());
    }
}

fn workdir(tag: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/lvsd-vrrpvm-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

fn fresh_ns(names: &[&str]) {
    for ns in names {
        let _ = sh(&format!("ip netns del {ns}"));
        must(&format!("ip netns add {ns} && ip -n {ns} link set lo up"));
    }
}

/// A daemon started under `ip netns exec NS` (which execs it: the child pid is the daemon's).
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn lvsd(ns: Option<&str>, conf: &Path, extra: &[&str], log: PathBuf) -> Daemon {
        let mut cmd = netns_cmd(ns, LVSD);
        cmd.args(["-n", "-l"]).args(extra).arg("-f").arg(conf);
        cmd.env("RUST_LOG", "info");
        Daemon::spawn(cmd, log)
    }

    fn keepalived(ns: Option<&str>, conf: &Path, dir: &Path, extra: &[&str]) -> Daemon {
        let p = |s: &str| dir.join(format!("ka-{s}.pid"));
        for s in ["m", "v", "c"] {
            let _ = std::fs::remove_file(p(s));
        }
        let mut cmd = netns_cmd(ns, "keepalived");
        cmd.args(["-n", "-l", "-D"]).args(extra).arg("-f").arg(conf);
        cmd.arg("-p")
            .arg(p("m"))
            .arg("-r")
            .arg(p("v"))
            .arg("-c")
            .arg(p("c"));
        Daemon::spawn(cmd, dir.join("keepalived.log"))
    }

    fn spawn(mut cmd: Command, log: PathBuf) -> Daemon {
        let f = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Daemon { child, log }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait (keepalived's parent stops its children first).
    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

fn netns_cmd(ns: Option<&str>, prog: &str) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, prog]);
            c
        }
        None => Command::new(prog),
    }
}

// ------------------------------------------------------------------------------ use_ipvlan

const VIP: &str = "10.61.0.100";
/// Well over the master-down interval at `advert_int 0.5` (3 × 0.5 s + skew).
const MASTER_DOWN: Duration = Duration::from_millis(2500);

/// Bridge `vm-br` joins `vm-d1` (10.61.0.1), `vm-d2` (10.61.0.2) and the client `vm-c`
/// (10.61.0.50), each on its `eth0`; each director serves its own name over HTTP on port 80
/// (the returned servers stop when dropped).
fn ipvlan_lab(dir: &Path) -> Vec<Daemon> {
    fresh_ns(&["vm-d1", "vm-d2", "vm-c"]);
    let _ = sh("ip link del vm-br");
    must("ip link add vm-br type bridge && ip link set vm-br up");
    for (ns, addr) in [
        ("vm-d1", "10.61.0.1"),
        ("vm-d2", "10.61.0.2"),
        ("vm-c", "10.61.0.50"),
    ] {
        let p = format!("{ns}p");
        must(&format!(
            "ip link add {p} type veth peer name eth0 netns {ns} && ip link set {p} master vm-br up"
        ));
        must(&format!(
            "ip -n {ns} addr add {addr}/24 dev eth0 && ip -n {ns} link set eth0 up"
        ));
    }
    let httpd = |ns: &str| {
        let www = dir.join(ns);
        std::fs::create_dir_all(&www).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(www.join("index.html"), format!("{ns}\n")).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = netns_cmd(Some(ns), "busybox");
        cmd.args(["httpd", "-f", "-p", "80", "-h"]).arg(&www);
        Daemon::spawn(cmd, dir.join(format!("{ns}-httpd.log")))
    };
    vec![httpd("vm-d1"), httpd("vm-d2")]
}

/// Which director answers the client at the VIP ("" when none does).
fn served() -> String {
    out(&format!(
        "ip netns exec vm-c busybox timeout 2 busybox wget -q -O - http://{VIP}/index.html"
    ))
    .trim()
    .to_string()
}

fn has_vip(ns: &str) -> bool {
    out(&format!("ip -n {ns} -br addr show dev eth0")).contains(&format!("{VIP}/24"))
}

fn ipvlan_conf(state: &str, prio: u8, ipvlan: &str) -> String {
    format!(
        "global_defs {{\n  router_id vm\n}}\nvrrp_instance VI_1 {{\n  state {state}\n  interface eth0\n  \
         virtual_router_id 61\n  priority {prio}\n  version 3\n  advert_int 0.5\n  use_ipvlan {ipvlan}\n  \
         virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

#[test]
#[ignore = "needs the VM's ipvlan module: run by in_vm()"]
fn vrrp_vm_use_ipvlan_failover_with_keepalived() {
    let _t = Timed(
        "vrrp_vm_use_ipvlan_failover_with_keepalived",
        Instant::now(),
    );
    let dir = workdir("ipvlan");
    let httpd = ipvlan_lab(&dir);
    let conf = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let lv_master = conf(
        "lvsd-master.conf",
        ipvlan_conf("MASTER", 150, "vm-ipv1 10.61.0.11/24 private"),
    );
    let lv_backup = conf(
        "lvsd-backup.conf",
        ipvlan_conf("BACKUP", 50, "10.61.0.11/24"),
    );
    let ka = conf(
        "keepalived.conf",
        ipvlan_conf("BACKUP", 100, "vm-ipv2 10.61.0.12/24"),
    );
    let limit = Duration::from_secs(20);
    assert_eq!(served(), "", "the VIP answers before any director runs");
    let t0 = Instant::now();

    // 1. keepalived (100) and lvsd (150): lvsd master, keepalived backup over the ipvlans.
    let mut k = Daemon::keepalived(Some("vm-d2"), &ka, &dir, &[]);
    let mut l = Daemon::lvsd(Some("vm-d1"), &lv_master, &["-P"], dir.join("lvsd-1.log"));
    let ctx = |d: &Daemon| {
        let log = d.log.clone();
        move || {
            format!(
                "{}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default(),
                out("ip -n vm-d1 -d addr; ip -n vm-d2 -d addr")
            )
        }
    };
    wait(
        "lvsd master, client served by vm-d1",
        limit,
        || served() == "vm-d1",
        ctx(&l),
    );
    println!("lvsd master: {:?}", t0.elapsed());
    let link = out("ip -n vm-d1 -d addr show dev vm-ipv1");
    assert!(link.contains("ipvlan  mode l2 private"), "{link}");
    assert!(link.contains("inet 10.61.0.11/24"), "{link}");
    assert!(
        !link.contains(VIP),
        "the VIP belongs on eth0, as keepalived puts it: {link}"
    );
    let kl = out("ip -n vm-d2 -d addr show dev vm-ipv2");
    assert!(
        kl.contains("ipvlan  mode l2 bridge") && kl.contains("10.61.0.12/24"),
        "{kl}"
    );
    std::thread::sleep(MASTER_DOWN); // keepalived would have taken over by now
    assert!(
        !has_vip("vm-d2"),
        "keepalived took the VIP: it did not hear lvsd over the ipvlan\n{}",
        k.text()
    );
    assert_eq!(served(), "vm-d1");

    // 2. lvsd stops (priority 0 advert): keepalived takes over, lvsd's ipvlan is gone.
    let t = Instant::now();
    l.stop();
    wait(
        "keepalived master after lvsd stopped",
        limit,
        || served() == "vm-d2",
        || k.text(),
    );
    println!("failover to keepalived: {:?}", t.elapsed());
    assert!(
        !out("ip -n vm-d1 link").contains("vm-ipv1"),
        "lvsd left its ipvlan"
    );
    assert!(!has_vip("vm-d1"), "lvsd left the VIP");

    // 3. lvsd (50, default name vrrp.61, bridge) stays backup under keepalived's adverts. A
    // vrrp.61 left by a crashed run (an ipvlan on eth0, no address) is taken over.
    must("ip -n vm-d1 link add vrrp.61 link eth0 type ipvlan mode l2");
    let mut l = Daemon::lvsd(Some("vm-d1"), &lv_backup, &["-P"], dir.join("lvsd-2.log"));
    wait(
        "lvsd's ipvlan vrrp.61",
        limit,
        || out("ip -n vm-d1 -d addr show dev vrrp.61").contains("10.61.0.11/24"),
        ctx(&l),
    );
    assert!(out("ip -n vm-d1 -d link show dev vrrp.61").contains("ipvlan  mode l2 bridge"));
    std::thread::sleep(MASTER_DOWN);
    assert!(
        !has_vip("vm-d1"),
        "lvsd backup took the VIP: it did not hear keepalived\n{}",
        l.text()
    );
    assert_eq!(served(), "vm-d2");

    // 4. keepalived stops: lvsd, backup over its ipvlan, becomes master.
    let t = Instant::now();
    k.stop();
    wait(
        "lvsd master after keepalived stopped",
        limit,
        || served() == "vm-d1",
        ctx(&l),
    );
    println!("failover to lvsd: {:?}", t.elapsed());
    l.stop();
    assert!(
        !out("ip -n vm-d1 link").contains("vrrp.61"),
        "lvsd left its ipvlan"
    );
    drop(httpd);
    let _ = sh("ip netns del vm-d1; ip netns del vm-d2; ip netns del vm-c; ip link del vm-br");
}

// ------------------------------------------- net_namespace_ipvs and namespace_with_ipsets

/// A namespace with a veth pair (`v0` 10.62.0.1/24, `v1`) for VRRP.
fn vrrp_ns(ns: &str) {
    fresh_ns(&[ns]);
    must(&format!(
        "ip -n {ns} link add v0 type veth peer name v1 && ip -n {ns} link set v0 up && \
         ip -n {ns} link set v1 up && ip -n {ns} addr add 10.62.0.1/24 dev v0"
    ));
}

/// `ipvsadm -Ln` in `ns` (None: the default namespace).
fn ipvs_of(ns: Option<&str>) -> String {
    match ns {
        Some(ns) => out(&format!("ip netns exec {ns} ipvsadm -Ln")),
        None => out("ipvsadm -Ln"),
    }
}

/// Whether `ns` has lvsd's/keepalived's VRRP firewall table.
fn fw_in(ns: Option<&str>) -> bool {
    let pre = ns
        .map(|n| format!("ip netns exec {n} "))
        .unwrap_or_default();
    sh(&format!("{pre}nft list table ip vm_fw"))
        .status
        .success()
}

/// VRRP (a no_accept master with the nft firewall) in vm-nsv, IPVS in vm-nsi.
const NS_CONF: &str = "net_namespace vm-nsv\nnet_namespace_ipvs vm-nsi\nnamespace_with_ipsets\n\
global_defs {\n  router_id vm\n  nftables vm_fw\n}\n\
vrrp_instance VI_1 {\n  state MASTER\n  interface v0\n  virtual_router_id 62\n  priority 150\n  \
version 3\n  advert_int 0.5\n  no_accept\n  virtual_ipaddress {\n    10.62.0.100/24\n  }\n}\n\
virtual_server 10.62.0.100 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  \
real_server 10.62.1.2 80 {\n  }\n}\n";

/// One daemon's run of [`NS_CONF`]: the service is in vm-nsi's IPVS table only, the VIP and
/// the VIP set of the VRRP firewall in vm-nsv only; both go at exit.
fn namespaces_run(who: &str, mut d: Daemon) {
    let tables = [None, Some("vm-nsv"), Some("vm-nsi")];
    let svc = "TCP  10.62.0.100:80 rr";
    let log = d.log.clone();
    let ctx = || {
        format!(
            "{}\n{:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            tables.map(ipvs_of),
            out("ip netns exec vm-nsv nft list ruleset")
        )
    };
    let limit = Duration::from_secs(30);
    wait(
        &format!("{who}: the service in vm-nsi's IPVS"),
        limit,
        || ipvs_of(Some("vm-nsi")).contains(svc),
        ctx,
    );
    assert!(
        ipvs_of(Some("vm-nsi")).contains("-> 10.62.1.2:80"),
        "{}",
        ipvs_of(Some("vm-nsi"))
    );
    wait(
        &format!("{who}: master in vm-nsv, the VIP in its firewall set"),
        limit,
        || {
            out("ip -n vm-nsv -br addr show dev v0").contains("10.62.0.100/24")
                && out("ip netns exec vm-nsv nft list set ip vm_fw vips").contains("10.62.0.100")
        },
        ctx,
    );
    assert!(
        out("ip netns exec vm-nsv nft list chain ip vm_fw in").contains("@vips drop"),
        "{}",
        ctx()
    );
    for t in [None, Some("vm-nsv")] {
        assert!(
            !ipvs_of(t).contains("10.62.0.100"),
            "{who}: service in {t:?} too:\n{}",
            ipvs_of(t)
        );
    }
    for t in [None, Some("vm-nsi")] {
        assert!(!fw_in(t), "{who}: a firewall table in {t:?}:\n{}", ctx());
    }
    if who == "lvsd" {
        let text = d.text();
        for kw in ["net_namespace_ipvs", "namespace_with_ipsets"] {
            assert!(
                !text.contains(&format!("does not implement {kw}")),
                "{text}"
            );
        }
    }
    d.stop();
    wait(
        &format!("{who}: service and firewall gone at exit"),
        Duration::from_secs(10),
        || !ipvs_of(Some("vm-nsi")).contains("10.62.0.100") && !fw_in(Some("vm-nsv")),
        ctx,
    );
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn vrrp_vm_net_namespace_ipvs_and_ipsets_as_keepalived() {
    let _t = Timed(
        "vrrp_vm_net_namespace_ipvs_and_ipsets_as_keepalived",
        Instant::now(),
    );
    let dir = workdir("ns");
    vrrp_ns("vm-nsv");
    fresh_ns(&["vm-nsi"]);
    let _ = sh("ipvsadm -C");
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, NS_CONF).unwrap_or_else(|e| panic!("{e}"));
    // keepalived first (what the keywords mean), then lvsd from the same file.
    namespaces_run("keepalived", Daemon::keepalived(None, &conf, &dir, &[]));
    namespaces_run("lvsd", Daemon::lvsd(None, &conf, &[], dir.join("lvsd.log")));
    let _ = sh("ip netns del vm-nsv; ip netns del vm-nsi");
}

// ------------------------------------------------------------------------------------- vrf

const VRF_VIP: &str = "10.70.0.100";

/// `vm-vr1` (10.70.0.1) and `vm-vr2` (10.70.0.2), joined by a veth pair (`eth0` in each)
/// enslaved to a VRF `red` (table 10) in each namespace: the peer's subnet is in table 10
/// only, the main table has no route to it.
fn vrf_lab() {
    fresh_ns(&["vm-vr1", "vm-vr2"]);
    must("ip link add vm-vra type veth peer name vm-vrb");
    for (ns, end, addr) in [
        ("vm-vr1", "vm-vra", "10.70.0.1"),
        ("vm-vr2", "vm-vrb", "10.70.0.2"),
    ] {
        must(&format!(
            "ip link set {end} netns {ns} name eth0 && \
             ip -n {ns} link add red type vrf table 10 && ip -n {ns} link set red up && \
             ip -n {ns} link set eth0 master red && ip -n {ns} link set eth0 up && \
             ip -n {ns} addr add {addr}/24 dev eth0"
        ));
    }
}

/// A unicast instance without `interface` (`vrf` given or not); `src`: its `unicast_src_ip`
/// line, if any (the other end finds its source by a route lookup in the VRF).
fn vrf_conf(state: &str, prio: u8, vrf: Option<&str>, src: &str, peer: &str) -> String {
    let vrf = vrf.map(|v| format!("  vrf {v}\n")).unwrap_or_default();
    format!(
        "vrrp_instance VI_1 {{\n  state {state}\n{vrf}  virtual_router_id 70\n  priority {prio}\n  \
         version 3\n  advert_int 0.5\n{src}  unicast_peer {{\n    {peer}\n  }}\n  \
         virtual_ipaddress {{\n    {VRF_VIP}/24 dev eth0\n  }}\n}}\n"
    )
}

fn vrf_vip_on(ns: &str) -> bool {
    out(&format!("ip -n {ns} -br addr show dev eth0")).contains(&format!("{VRF_VIP}/24"))
}

/// `Ip: InUnknownProtos` of `ns` (/proc/net/snmp is the reader's namespace's).
fn unknown_protos(ns: &str) -> i64 {
    let text = out(&format!("ip netns exec {ns} cat /proc/net/snmp"));
    let ip: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("Ip:"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let col = ip
        .first()
        .and_then(|h| h.iter().position(|w| *w == "InUnknownProtos"));
    col.and_then(|c| ip.get(1)?.get(c)?.parse().ok())
        .unwrap_or_else(|| panic!("no InUnknownProtos in {text}"))
}

/// lvsd in `ns` with its own pid files and control socket (two run at once).
fn lvsd_in(ns: &str, conf: &Path, dir: &Path, tag: &str) -> Daemon {
    let p = |s: &str| dir.join(format!("{tag}-{s}")).display().to_string();
    // The socket on the guest's /run (tmpfs): the 9p /tmp cannot hold one.
    let s = format!("/run/lvsd-vm-{tag}.sock");
    let (m, v, c) = (p("m.pid"), p("v.pid"), p("c.pid"));
    let args = ["-P", "-p", &m, "-r", &v, "-c", &c, "--ctl-socket", &s];
    Daemon::lvsd(Some(ns), conf, &args, dir.join(format!("{tag}.log")))
}

#[test]
#[ignore = "needs the VM's vrf module: run by in_vm()"]
fn vrrp_vm_vrf_unicast_failover() {
    let _t = Timed("vrrp_vm_vrf_unicast_failover", Instant::now());
    let dir = workdir("vrf");
    vrf_lab();
    println!("vrf: lab {:?}", _t.1.elapsed());
    let conf = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let src1 = "  unicast_src_ip 10.70.0.1\n";
    let c1 = conf(
        "vr1.conf",
        vrf_conf("MASTER", 150, Some("red"), src1, "10.70.0.2"),
    );
    let c2 = conf(
        "vr2.conf",
        vrf_conf("BACKUP", 100, Some("red"), "", "10.70.0.1"),
    );
    let c2_plain = conf(
        "vr2-plain.conf",
        vrf_conf("BACKUP", 100, None, "", "10.70.0.1"),
    );

    // The peer is reachable through the VRF's table only.
    let main = sh("ip netns exec vm-vr2 ip route get 10.70.0.1");
    assert!(
        !main.status.success(),
        "the main table routes to the peer: {main:?}"
    );
    assert!(out("ip netns exec vm-vr2 ip route get 10.70.0.1 vrf red").contains("dev eth0"));

    // keepalived 2.2.7 refuses an instance without `interface` even with a VRF ("Unknown
    // interface!", exit 5); `lvsd -t` gives its verdict and exit code.
    let k = sh(&format!(
        "ip netns exec vm-vr2 keepalived -t -l -f {}",
        c2.display()
    ));
    let kt = String::from_utf8_lossy(&k.stderr).into_owned() + &String::from_utf8_lossy(&k.stdout);
    assert_eq!(k.status.code(), Some(5), "{kt}");
    assert!(kt.contains("Unknown interface!"), "{kt}");
    let l = sh(&format!(
        "ip netns exec vm-vr2 {LVSD} -t -f {}",
        c2.display()
    ));
    let lt = String::from_utf8_lossy(&l.stderr).into_owned();
    assert_eq!(l.status.code(), Some(5), "{lt}");
    assert!(
        lt.contains("no `interface`") && lt.contains("VRF red"),
        "{lt}"
    );
    assert!(
        !lt.contains("does not implement vrf") && !lt.contains("is not a VRF"),
        "{lt}"
    );

    // With `vrf red`: vm-vr1 (150) master, vm-vr2 (100) hears its adverts over the VRF and
    // stays backup. Control, started with them in vm-vr2 (same VRID, no `vrf`): the main
    // table has no route to the peer, so that instance cannot start (INIT, no VIP).
    println!("vrf: lab and -t checks {:?}", _t.1.elapsed());
    let limit = Duration::from_secs(20);
    let t0 = Instant::now();
    let mut plain = lvsd_in("vm-vr2", &c2_plain, &dir, "plain");
    let mut l1 = lvsd_in("vm-vr1", &c1, &dir, "vr1");
    let mut l2 = lvsd_in("vm-vr2", &c2, &dir, "vr2");
    let ctx = || {
        format!(
            "{}\n{}\n{}",
            l1.text(),
            l2.text(),
            out("ip -n vm-vr1 addr; ip -n vm-vr2 addr")
        )
    };
    wait(
        "vm-vr2 started",
        limit,
        || l2.text().contains("VRRP instance started on VRF red"),
        ctx,
    );
    let started = Instant::now();
    println!("vrf: backup started after {:?}", t0.elapsed());
    wait("vm-vr1 master", limit, || vrf_vip_on("vm-vr1"), ctx);
    println!("vrf: master after {:?}", t0.elapsed());
    wait(
        "lvsd without vrf: no route to the peer",
        limit,
        || plain.text().contains("no route to unicast peer 10.70.0.1"),
        || plain.text(),
    );
    // Past vm-vr2's master-down interval: it would have taken the VIP had it heard nothing.
    std::thread::sleep(MASTER_DOWN.saturating_sub(started.elapsed()));
    assert!(
        !vrf_vip_on("vm-vr2"),
        "vm-vr2 took the VIP: it did not hear vm-vr1 in the VRF\n{}",
        ctx()
    );
    assert!(
        !plain.text().contains("VRRP instance started"),
        "{}",
        plain.text()
    );
    plain.stop();
    // vm-vr2 has no unicast_src_ip: its source comes from a route lookup in the VRF.
    assert!(l2.text().contains("src=10.70.0.2"), "{}", l2.text());
    // A client in vm-vr2's VRF reaches the VIP at vm-vr1.
    let ping = |ns: &str| {
        sh(&format!(
            "ip netns exec {ns} busybox ping -c 1 -W 2 -I red {VRF_VIP}"
        ))
    };
    assert!(ping("vm-vr2").status.success(), "{:?}", ping("vm-vr2"));

    // The master stops (priority-0 advert): the VIP moves to vm-vr2.
    let t = Instant::now();
    l1.stop();
    wait(
        "vm-vr2 master after vm-vr1 stopped",
        limit,
        || vrf_vip_on("vm-vr2"),
        || l2.text(),
    );
    println!("vrf: failover {:?}", t.elapsed());
    assert!(!vrf_vip_on("vm-vr1"), "vm-vr1 left the VIP");
    assert!(ping("vm-vr1").status.success(), "{:?}", ping("vm-vr1"));
    // vm-vr2's adverts reach vm-vr1 through the VRF: with no VRRP socket left there, each one
    // is an IP datagram of an unknown protocol to the kernel.
    let before = unknown_protos("vm-vr1");
    std::thread::sleep(Duration::from_millis(1200));
    let got = unknown_protos("vm-vr1") - before;
    assert!(
        got >= 2,
        "{got} adverts from vm-vr2 reached vm-vr1 in 1.2 s"
    );
    l2.stop();
    let _ = sh("ip netns del vm-vr1; ip netns del vm-vr2");
}

// ------------------------------------------------------- the model (host side, no VM needed)

/// `use_ipvlan` lines as keepalived 2.2.7 reads them (checked with its `-t`): words in any
/// order, mode default bridge, name default `vrrp.<VRID>`, an IPv4 instance without an
/// address warned about, a second name reported.
/// `text` loaded (host checks off), with its warnings' messages; `what` names it on refusal.
fn loaded_with_warnings(text: &str, what: &str) -> (lvsd::config::Config, Vec<String>) {
    use lvsd::config::{LoadOptions, Severity, load_str};
    let l = load_str(text, Path::new("t.conf"), &LoadOptions::default())
        .unwrap_or_else(|_| panic!("refused: {what}"));
    let warns = l
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.message.clone())
        .collect();
    (l.config, warns)
}

#[test]
fn use_ipvlan_lines_read_as_keepalived() {
    use lvsd::config::model::{IpvlanMode, UseIpvlan};
    let read = |line: &str| {
        let text = format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 61\n  {line}\n  \
             virtual_ipaddress {{\n    10.1.1.100/24\n  }}\n}}\n"
        );
        let (c, warns) = loaded_with_warnings(&text, line);
        (c.vrrp_instances[0].use_ipvlan.clone(), warns)
    };
    let u = |name: &str, addr: Option<&str>, prefix, mode| UseIpvlan {
        name: name.into(),
        addr: addr.map(|a| a.parse().unwrap_or_else(|e| panic!("{e}"))),
        prefix,
        mode,
    };
    let (got, w) = read("use_ipvlan 10.1.1.11/24");
    assert_eq!(
        got,
        Some(u("vrrp.61", Some("10.1.1.11"), 24, IpvlanMode::Bridge))
    );
    assert!(w.is_empty(), "{w:?}");
    let (got, _) = read("use_ipvlan vepa 10.1.1.11 vm-i");
    assert_eq!(
        got,
        Some(u("vm-i", Some("10.1.1.11"), 32, IpvlanMode::Vepa))
    );
    let (got, w) = read("use_ipvlan vm-i 10.1.1.11/33 private");
    assert_eq!(got, Some(u("vm-i", None, 0, IpvlanMode::Private)));
    assert!(
        w.iter().any(|m| m.contains("ignoring '10.1.1.11/33'")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|m| m.contains("requires a source ip address")),
        "{w:?}"
    );
    let (_, w) = read("use_ipvlan 10.1.1.11 10.1.1.12");
    assert!(
        w.iter()
            .any(|m| m.contains("address already specified - ignoring '10.1.1.12'")),
        "{w:?}"
    );
    let (got, _) = read("");
    assert_eq!(got, None);
}

/// keepalived keeps an IPv4 instance whose `use_ipvlan` has no address in FAULT; so does lvsd
/// (`lvsd ctl status`), creating no interface. Host side: nothing here needs ipvlan.
#[test]
fn use_ipvlan_without_an_ipv4_address_is_fault() {
    let ns = format!("vmx-f{}", std::process::id() % 100_000);
    let _ = sh(&format!("ip netns del {ns}"));
    must(&format!(
        "ip netns add {ns} && ip -n {ns} link add v0 type veth peer name v1 && \
         ip -n {ns} link set v0 up && ip -n {ns} link set v1 up && \
         ip -n {ns} addr add 10.64.0.1/24 dev v0"
    ));
    let dir = workdir("fault");
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n  interface v0\n  virtual_router_id 64\n  use_ipvlan vm-ipvf\n  \
         virtual_ipaddress {\n    10.64.0.100/24\n  }\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sock = dir.join("ctl.sock");
    let p = |s: &str| dir.join(s).display().to_string();
    let (m, v, c) = (p("m.pid"), p("v.pid"), p("c.pid"));
    let s = sock.display().to_string();
    let mut d = Daemon::lvsd(
        Some(&ns),
        &conf,
        &["-P", "-p", &m, "-r", &v, "-c", &c, "--ctl-socket", &s],
        dir.join("lvsd.log"),
    );
    let state = || {
        let o = Command::new(LVSD)
            .args(["ctl", "--socket", &s, "status", "--json"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["vrrp"][0]["state"].as_str().unwrap_or("").to_string()
    };
    wait(
        "the instance in FAULT",
        Duration::from_secs(10),
        || state().eq_ignore_ascii_case("fault"),
        || d.text(),
    );
    assert!(d.text().contains("requires an address"), "{}", d.text());
    assert!(
        !out(&format!("ip -n {ns} link")).contains("vm-ipvf"),
        "an ipvlan was created"
    );
    d.stop();
    let _ = sh(&format!("ip netns del {ns}"));
}

/// `vrf` as keepalived 2.2.7 reads it: kept only in an instance without `interface` (after
/// `interface` it is ignored, before it cleared), a VMAC cleared in such an instance, and
/// every interface-less instance reported as 2.2.7 refuses it (`-t` exit 5); the runtime puts
/// a VIP naming no device on `default_interface`.
#[test]
fn vrf_lines_read_as_keepalived() {
    let read = |lines: &str| {
        let text = format!(
            "global_defs {{\n  default_interface vx0\n}}\nvrrp_instance VI_1 {{\n  virtual_router_id 70\n  \
             unicast_peer {{\n    10.70.0.2\n  }}\n{lines}  virtual_ipaddress {{\n    10.70.0.100/24\n  }}\n}}\n"
        );
        loaded_with_warnings(&text, lines)
    };
    let (c, w) = read("  vrf red\n");
    assert_eq!(c.vrrp_instances[0].vrf.as_deref(), Some("red"));
    assert!(
        w.iter()
            .any(|m| m.contains("no `interface`") && m.contains("VRF red")),
        "{w:?}"
    );
    let rt = lvsd::vrrp::VrrpConfig::from_model(&c);
    let i = &rt.instances[0];
    assert_eq!((i.interface.as_str(), i.vrf.as_deref()), ("", Some("red")));
    assert_eq!(i.vips[0].dev.as_deref(), Some("vx0"), "default_interface");
    assert!(lvsd::vrrp::validate_config(&rt).is_ok());

    let (c, w) = read("  interface eth0\n  vrf red\n");
    assert_eq!(c.vrrp_instances[0].vrf, None);
    assert!(
        w.iter()
            .any(|m| m.contains("cannot be combined with `interface`")),
        "{w:?}"
    );
    let (c, w) = read("  vrf red\n  interface eth0\n");
    assert_eq!(c.vrrp_instances[0].vrf, None);
    assert!(
        w.iter().any(|m| m.contains("vrf red applies only")),
        "{w:?}"
    );
    assert!(!w.iter().any(|m| m.contains("no `interface`")), "{w:?}");
    let rt = lvsd::vrrp::VrrpConfig::from_model(&c);
    assert_eq!(rt.instances[0].vips[0].dev, None, "on the interface");

    let (c, w) = read("  use_vmac\n");
    assert_eq!(c.vrrp_instances[0].use_vmac, None);
    assert!(
        w.iter()
            .any(|m| m.contains("a VMAC or ipvlan needs `interface`")),
        "{w:?}"
    );
}

/// A unicast instance without `interface` nor `vrf` (host side: plain namespaces): its sockets
/// are bound to no device, its source comes from a route lookup, its VIP (no `dev`) goes on
/// `default_interface`; the VIP moves to the backup when the master stops.
#[test]
fn unicast_without_interface_fails_over() {
    let _t = Timed("unicast_without_interface_fails_over", Instant::now());
    let id = std::process::id() % 100_000;
    let (n1, n2) = (format!("vrfx-u1-{id}"), format!("vrfx-u2-{id}"));
    fresh_ns(&[&n1, &n2]);
    must(&format!(
        "ip link add vx0 netns {n1} type veth peer name vx0 netns {n2} && \
         ip -n {n1} addr add 10.71.0.1/24 dev vx0 && ip -n {n1} link set vx0 up && \
         ip -n {n2} addr add 10.71.0.2/24 dev vx0 && ip -n {n2} link set vx0 up"
    ));
    let dir = workdir("bare");
    let conf = |name: &str, state: &str, prio: u8, peer: &str| {
        let p = dir.join(name);
        let text = format!(
            "global_defs {{\n  default_interface vx0\n}}\nvrrp_instance VI_1 {{\n  state {state}\n  \
             virtual_router_id 71\n  priority {prio}\n  version 3\n  advert_int 0.2\n  \
             unicast_peer {{\n    {peer}\n  }}\n  virtual_ipaddress {{\n    10.71.0.100/24\n  }}\n}}\n"
        );
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let c1 = conf("u1.conf", "MASTER", 150, "10.71.0.2");
    let c2 = conf("u2.conf", "BACKUP", 100, "10.71.0.1");
    let has =
        |ns: &str| out(&format!("ip -n {ns} -br addr show dev vx0")).contains("10.71.0.100/24");
    let mut l1 = lvsd_in(&n1, &c1, &dir, &format!("u1-{id}"));
    let mut l2 = lvsd_in(&n2, &c2, &dir, &format!("u2-{id}"));
    let ctx = || format!("{}\n{}", l1.text(), l2.text());
    let limit = Duration::from_secs(15);
    wait("the master's VIP", limit, || has(&n1), ctx);
    wait(
        "the backup started",
        limit,
        || l2.text().contains("VRRP instance started on no interface"),
        ctx,
    );
    assert!(l2.text().contains("src=10.71.0.2"), "{}", l2.text());
    std::thread::sleep(Duration::from_millis(1200)); // > the backup's master-down (0.7 s)
    assert!(
        !has(&n2),
        "the backup took the VIP: it heard no adverts\n{}",
        ctx()
    );
    l1.stop();
    wait("the VIP on the backup", limit, || has(&n2), || l2.text());
    assert!(!has(&n1), "the stopped master kept the VIP");
    l2.stop();
    let _ = sh(&format!("ip netns del {n1}; ip netns del {n2}"));
}
