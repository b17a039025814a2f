//! Hostile configurations against `lvsd -t`: each must end, quickly and within bounded memory,
//! with an error naming what was refused. Run as the operator would (the binary), under a
//! deadline and with its peak memory measured by the kernel (wait4's rusage).

mod config_t_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use config_t_support::{Run, lvsd_t};

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl std::ops::Deref for Dir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("lvsd-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

/// Refused (exit 4) with `needle` in the message, in under 10 s and 256 MiB.
fn refused(file: &Path, needle: &str) -> Run {
    let r = lvsd_t(file, Duration::from_secs(20));
    assert_eq!(r.code, Some(4), "{}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "want {needle:?} in: {}",
        r.stderr
    );
    assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
    assert!(
        r.max_rss_kib < 256 * 1024,
        "peak RSS {} MiB",
        r.max_rss_kib / 1024
    );
    r
}

#[test]
fn one_round_of_substitution_cannot_allocate_gigabytes() {
    // 1 MiB value used 3,000 times in one line: 3 GiB in a single substitution pass.
    let d = dir("subst");
    let mut text = format!("$A={}\n", "x".repeat(1 << 20));
    text.push_str("router_id");
    for _ in 0..3000 {
        text.push_str(" ${A}");
    }
    text.push('\n');
    std::fs::write(d.join("k.conf"), text).unwrap();
    refused(&d.join("k.conf"), "longer than");
}

#[test]
fn nested_sequence_products_are_capped() {
    let d = dir("seq");
    // 10^10 lines, with text and without (an empty product still costs time).
    std::fs::write(
        d.join("k.conf"),
        "~SEQ(A, 1, 100000) ~SEQ(B, 1, 100000) x $A $B\n",
    )
    .unwrap();
    refused(&d.join("k.conf"), "more than");
    std::fs::write(d.join("e.conf"), "~SEQ(A, 1, 100000) ~SEQ(B, 1, 100000)\n").unwrap();
    refused(&d.join("e.conf"), "lines");
}

#[test]
fn total_expanded_size_is_capped_not_only_per_line() {
    // Each line stays under the per-line limit; 100,000 of them make 50 GB.
    let d = dir("total");
    let text = format!(
        "$BIG={}\n~SEQ(I, 1, 100000) notification_email $BIG\n",
        "y".repeat(500_000)
    );
    std::fs::write(d.join("k.conf"), text).unwrap();
    refused(&d.join("k.conf"), "16 MiB of text");
}

#[test]
fn multiline_parameters_multiplying_each_other_are_capped() {
    // Each level is 64 lines of the level below: 64^5 lines.
    let d = dir("multi");
    let mut text = String::from("$L0=x y z\n");
    for l in 1..=5 {
        text.push_str(&format!("$L{l}= \\\n"));
        for _ in 0..63 {
            text.push_str(&format!("  $L{} \\\n", l - 1));
        }
        text.push_str(&format!("  $L{}\n", l - 1));
    }
    text.push_str("$L5\n");
    std::fs::write(d.join("k.conf"), text).unwrap();
    refused(&d.join("k.conf"), "more than 500000 lines");
}

#[test]
fn a_diamond_of_includes_ends_with_an_error() {
    // Each level includes the next twice: 2^40 reads, no cycle (keepalived loops on it).
    let d = dir("diamond");
    for l in 0..40 {
        std::fs::write(
            d.join(format!("l{l}.conf")),
            format!("include l{}.conf\ninclude l{}.conf\n", l + 1, l + 1),
        )
        .unwrap();
    }
    std::fs::write(d.join("l40.conf"), "global_defs {\n}\n").unwrap();
    refused(&d.join("l0.conf"), "more than 4096 files");
}

#[test]
fn the_bytes_an_include_graph_reads_are_capped() {
    // A 1 MiB file included 100 times (no cycle, few files): 100 MiB read.
    let d = dir("bytes");
    let line = format!("! {}\n", "c".repeat(1000));
    std::fs::write(d.join("big.conf"), line.repeat(1024)).unwrap();
    std::fs::write(d.join("k.conf"), "include big.conf\n".repeat(100)).unwrap();
    refused(&d.join("k.conf"), "over 64 MiB");
}

/// Found by the config fuzzer (`include ///*//////*//…`): wildcards over directories that
/// multiply (here 20 links to `.`, so 20^8 paths) walked for ever before a file was counted.
#[test]
fn an_include_glob_looks_at_a_bounded_number_of_entries() {
    let d = dir("fanout");
    for i in 0..20 {
        std::os::unix::fs::symlink(".", d.join(format!("s{i}"))).unwrap();
    }
    std::fs::write(d.join("k.conf"), "include */*/*/*/*/*/*/*/none.conf\n").unwrap();
    refused(&d.join("k.conf"), "directory entries");
}

/// Found by the config fuzzer: each unclosed `${` searched the rest of the line for a `}`, so
/// a line of them took time quadratic in its length (500,000 of them: ~17 s before).
#[test]
fn a_line_of_unclosed_parameter_braces_is_linear() {
    let d = dir("braces");
    let line = "${".repeat(500_000);
    std::fs::write(d.join("k.conf"), format!("$P=1\n{line}\n")).unwrap();
    let r = lvsd_t(&d.join("k.conf"), Duration::from_secs(30));
    assert!(r.code.is_some(), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(5), "took {:?}", r.took);
}

/// Found by the config fuzzer: a line whose substitution passed 1 MiB was refused, but the
/// text it produced was not counted, so a `~SEQ` of 100,000 such lines (a 500-byte file) did
/// 100 GiB of substitution: `lvsd -t` took 39 s. The refused text now counts against the
/// 16 MiB expansion budget.
#[test]
fn a_sequence_of_overlong_substitutions_is_bounded() {
    let d = dir("overlong");
    let mut conf = format!("$A={}\n", "x".repeat(64));
    for (name, prev) in [("B", "A"), ("C", "B"), ("D", "C"), ("E", "D")] {
        conf += &format!("${name}={}\n", format!("${{{prev}}}").repeat(16));
    }
    conf += "~SEQ(I, 1, 100000) ${E}\n";
    std::fs::write(d.join("k.conf"), conf).unwrap();
    refused(&d.join("k.conf"), "MiB of text");
}

#[test]
fn double_star_does_not_follow_a_symlink_loop() {
    let d = dir("star");
    std::fs::create_dir_all(d.join("conf.d/sub")).unwrap();
    std::os::unix::fs::symlink("..", d.join("conf.d/sub/up")).unwrap();
    std::os::unix::fs::symlink(".", d.join("conf.d/self")).unwrap();
    std::fs::write(d.join("conf.d/a.conf"), "global_defs {\n router_id a\n}\n").unwrap();
    std::fs::write(d.join("k.conf"), "include conf.d/**/*.conf\n").unwrap();
    let r = lvsd_t(&d.join("k.conf"), Duration::from_secs(20));
    // `**` is `*` as in keepalived's glob(3): conf.d/*/*.conf matches conf.d/self/a.conf.
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(5), "took {:?}", r.took);
}

#[test]
fn f_of_a_fifo_a_device_or_a_directory_is_refused_by_name() {
    let d = dir("special");
    let fifo = d.join("k.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    refused(&fifo, &format!("{}: it is a FIFO", fifo.display()));
    refused(
        Path::new("/dev/zero"),
        "/dev/zero: it is a character device",
    );
    refused(&d, &format!("{}: it is a directory", d.display()));
    // The same through an include: named, and the rest of the file still read.
    std::fs::write(
        d.join("k.conf"),
        "include /dev/zero\nglobal_defs {\n router_id a\n}\n",
    )
    .unwrap();
    let r = refused(&d.join("k.conf"), "character device");
    assert!(r.stderr.contains("k.conf:1:1"), "{}", r.stderr);
}
