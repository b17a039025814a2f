//! `lvsd -t` on a large, valid configuration keeps its peak memory within four times the
//! input's size plus what the process takes on a one-server configuration. (The issue's
//! figure: a 17 MB configuration once took 469 MB.) One test in its own binary, so that the
//! peak wait4 reports is not raised by other tests' allocations in this process: a spawned
//! child's peak starts from its parent's at exec.

mod config_t_support;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use config_t_support::lvsd_t;

/// `n` virtual servers × 10 real servers with an HTTP_GET each, in the shape of keepalived's
/// sample configuration, written as it is generated (this process stays small).
fn write_config(path: &Path, n: usize) -> u64 {
    let f = std::fs::File::create(path).expect("create config");
    let mut w = std::io::BufWriter::new(f);
    w.write_all(b"global_defs {\n    router_id big\n}\n\n")
        .unwrap();
    let mut s = String::new();
    for v in 0..n {
        s.clear();
        let (a, b) = (v / 250, v % 250);
        let _ = writeln!(s, "virtual_server 10.{a}.{b}.1 80 {{");
        s.push_str("    delay_loop 6\n    lb_algo wrr\n    lb_kind NAT\n");
        s.push_str("    persistence_timeout 50\n    protocol TCP\n\n");
        for r in 0..10 {
            let _ = writeln!(s, "    real_server 172.{}.{b}.{} 8080 {{", 16 + a, r + 10);
            s.push_str("        weight 1\n        HTTP_GET {\n            url {\n");
            s.push_str("                path /health\n                status_code 200\n");
            s.push_str("            }\n            connect_timeout 3\n            retry 3\n");
            s.push_str("            delay_before_retry 3\n        }\n    }\n");
        }
        s.push_str("}\n\n");
        w.write_all(s.as_bytes()).unwrap();
    }
    w.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn t_peak_memory_is_within_four_times_a_17_mb_config() {
    let d = std::env::temp_dir().join(format!("lvsd-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let (small, big) = (d.join("small.conf"), d.join("big.conf"));
    write_config(&small, 1);
    let len = write_config(&big, 6400);
    assert!(len > 17_000_000, "{len} bytes");

    let base = lvsd_t(&small, Duration::from_secs(60));
    assert_eq!(base.code, Some(0), "{}", base.stderr);
    let run = lvsd_t(&big, Duration::from_secs(120));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&d);

    let limit_kib = base.max_rss_kib + 4 * (len as i64) / 1024;
    println!(
        "lvsd -t: {} KiB on one server, {} KiB on {} KiB of config (limit {limit_kib} KiB), {:?}",
        base.max_rss_kib,
        run.max_rss_kib,
        len / 1024,
        run.took
    );
    assert!(
        run.max_rss_kib <= limit_kib,
        "peak RSS {} KiB over {limit_kib} KiB (4 x {} KiB input + {} KiB)",
        run.max_rss_kib,
        len / 1024,
        base.max_rss_kib
    );
}
