//! The IPVS settings an anycast deployment needs, which lvsd sets when a configuration
//! announces a virtual server (docs/anycast.md lists the others and why they are left alone):
//!
//! - `net.ipv4.vs.sloppy_tcp = 1` (`sloppy_sctp` for SCTP services): when the router moves a
//!   flow to another director, that director sees a mid-stream segment, not a SYN; without
//!   sloppy mode IPVS ignores it and the connection dies. With it, IPVS creates the entry and
//!   `mh` (the same lookup table on every director) picks the same real server.
//!
//! Per network namespace, like IPVS itself; skipped (with a log line) when IPVS is not loaded.
//! Never reverted on stop: the host may run other IPVS services relying on it.

use std::path::Path;

/// `(file under net/ipv4/vs, value)` the configuration needs.
pub fn wanted(target: &super::Target) -> Vec<(&'static str, &'static str)> {
    if target.announce.is_empty() {
        return Vec::new();
    }
    let mut v = vec![("sloppy_tcp", "1")];
    if target.sctp {
        v.push(("sloppy_sctp", "1"));
    }
    v
}

/// Writes what differs under `root` (`/proc/sys/net/ipv4/vs` in production).
pub fn apply(root: &Path, settings: &[(&str, &str)]) {
    if settings.is_empty() {
        return;
    }
    if !root.is_dir() {
        tracing::info!(
            "anycast: IPVS is not loaded here; {} not set",
            settings
                .iter()
                .map(|(k, v)| format!("net.ipv4.vs.{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        return;
    }
    for (k, v) in settings {
        let p = root.join(k);
        let now = std::fs::read_to_string(&p).unwrap_or_default();
        if now.trim() == *v {
            continue;
        }
        match std::fs::write(&p, v) {
            Ok(()) => tracing::info!("anycast: net.ipv4.vs.{k} {} -> {v}", now.trim()),
            Err(e) => tracing::error!("anycast: cannot set net.ipv4.vs.{k}={v}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_only_what_differs() {
        let dir = std::env::temp_dir().join(format!("lvsd-sysctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sloppy_tcp"), "0\n").unwrap();
        std::fs::write(dir.join("sloppy_sctp"), "1\n").unwrap();
        apply(&dir, &[("sloppy_tcp", "1"), ("sloppy_sctp", "1")]);
        assert_eq!(
            std::fs::read_to_string(dir.join("sloppy_tcp")).unwrap(),
            "1"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("sloppy_sctp")).unwrap(),
            "1\n"
        );
        // No IPVS: nothing written, nothing created.
        apply(&dir.join("absent"), &[("sloppy_tcp", "1")]);
        assert!(!dir.join("absent").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
