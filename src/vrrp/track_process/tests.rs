//! Matching, quorum and delays with a fake clock.

use super::*;

fn spec(process: &str) -> ProcessConfig {
    ProcessConfig {
        name: "t".into(),
        process: process.into(),
        params: vec![],
        param_match: None,
        full_command: false,
        quorum: 1,
        quorum_max: u32::MAX,
        fork_delay: Duration::ZERO,
        terminate_delay: Duration::ZERO,
    }
}

fn proc_(comm: &str, argv: &[&str]) -> ProcInfo {
    ProcInfo {
        comm: comm.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn names_match_exactly_and_arguments_by_param_match() {
    let s = spec("haproxy");
    assert!(s.matches(&proc_("haproxy", &[])));
    assert!(!s.matches(&proc_("haproxy-wrap", &[])), "no prefix match");
    assert!(!spec("ssh").matches(&proc_("sshd", &[])));
    // The kernel keeps 15 bytes of a name.
    assert!(spec("a-very-long-process-name").matches(&proc_("a-very-long-pro", &[])));

    let with = |params: &[&str], m: Option<ParamMatch>| ProcessConfig {
        params: params.iter().map(|s| s.to_string()).collect(),
        param_match: m,
        ..spec("/usr/sbin/nginx")
    };
    let p = proc_("nginx", &["/usr/sbin/nginx", "-c", "/etc/nginx.conf"]);
    assert!(with(&["-c", "/etc/nginx.conf"], None).matches(&p));
    assert!(!with(&["-c"], None).matches(&p), "exact: all arguments");
    assert!(with(&["-c"], Some(ParamMatch::Partial)).matches(&p));
    assert!(with(&["-c", "/etc/ng"], Some(ParamMatch::Initial)).matches(&p));
    assert!(!with(&["-x", "/etc/ng"], Some(ParamMatch::Initial)).matches(&p));
    assert!(
        !with(&[], Some(ParamMatch::Exact)).matches(&p),
        "param_match without parameters: no arguments allowed"
    );
    assert!(with(&[], Some(ParamMatch::Exact)).matches(&proc_("nginx", &["/usr/sbin/nginx"])));
    let full = ProcessConfig {
        full_command: true,
        ..spec("/usr/sbin/nginx")
    };
    assert!(full.matches(&p));
    assert!(!full.matches(&proc_("nginx", &["nginx"])));
}

#[test]
fn quorum_and_quorum_max() {
    let t0 = Instant::now();
    let mut t = Table::new(vec![ProcessConfig {
        quorum: 2,
        quorum_max: 3,
        ..spec("worker")
    }]);
    t.rescan(&[(1, proc_("worker", &[]))]);
    assert_eq!(t.verdicts(), vec![false]);
    t.update(t0, 2, &proc_("worker", &[]));
    assert_eq!(t.verdicts(), vec![true]);
    // A fork of a worker is a worker until it execs something else.
    t.fork(t0, 2, 3);
    assert_eq!(t.verdicts(), vec![true]);
    t.fork(t0, 2, 4);
    assert_eq!(t.verdicts(), vec![false], "4 > quorum_max 3");
    t.update(t0, 4, &proc_("sh", &[]));
    assert_eq!(t.verdicts(), vec![true]);
    t.fork(t0, 99, 100);
    assert_eq!(t.verdicts(), vec![true], "an unrelated fork");
    t.exit(t0, 1);
    t.exit(t0, 3);
    assert_eq!(t.verdicts(), vec![false]);
}

#[test]
fn terminate_delay_rides_out_a_restart_and_fork_delay_holds_the_way_up() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut t = Table::new(vec![ProcessConfig {
        fork_delay: ms(500),
        terminate_delay: ms(2000),
        ..spec("daemon")
    }]);
    t.rescan(&[(10, proc_("daemon", &[]))]);
    assert_eq!(t.verdicts(), vec![true], "the start-up scan is taken as is");
    // Restarted within terminate_delay: never reported down.
    t.exit(t0, 10);
    assert_eq!(t.next_deadline(), Some(t0 + ms(2000)));
    t.update(t0 + ms(800), 11, &proc_("daemon", &[]));
    assert_eq!(t.next_deadline(), None);
    t.tick(t0 + ms(3000));
    assert_eq!(t.verdicts(), vec![true]);
    // Gone for good: down after terminate_delay, not before.
    t.exit(t0 + ms(4000), 11);
    t.tick(t0 + ms(5999));
    assert_eq!(t.verdicts(), vec![true]);
    t.tick(t0 + ms(6000));
    assert_eq!(t.verdicts(), vec![false]);
    // Back: up after fork_delay.
    t.update(t0 + ms(7000), 12, &proc_("daemon", &[]));
    t.tick(t0 + ms(7499));
    assert_eq!(t.verdicts(), vec![false]);
    t.tick(t0 + ms(7500));
    assert_eq!(t.verdicts(), vec![true]);
}

#[test]
fn this_process_is_found_by_the_proc_scan() {
    let me = std::process::id();
    let procs = scan_proc(true);
    let (_, info) = procs
        .iter()
        .find(|(p, _)| *p == me)
        .expect("own pid in /proc");
    let mut t = Table::new(vec![ProcessConfig {
        full_command: true,
        ..spec(&info.argv[0])
    }]);
    t.rescan(&procs);
    assert_eq!(t.verdicts(), vec![true]);
}
