//! One instance per configuration: keepalived's pid files, each locked for the life of the
//! process, and where the control socket lives.
//!
//! keepalived runs a parent and up to three children, each with a pid file; lvsd is one
//! process, so every file it writes names that process. Which files are written follows
//! keepalived: the main one always, `vrrp` when VRRP runs, `checkers` when the director runs,
//! `bfd` when a `bfd_instance` is configured (lvsd runs BFD itself; the file also keeps a
//! keepalived from starting beside it) unless `-B`; `--all` writes every one.
//!
//! Paths ([`RunPaths::new`]), as keepalived 2.2.7 (Debian build) lays them out:
//!
//! | configuration              | files                                                        |
//! |----------------------------|--------------------------------------------------------------|
//! | default                    | `/run/keepalived.pid`, `/run/vrrp.pid`, `/run/checkers.pid`, `/run/bfd.pid` |
//! | `use_pid_dir`              | the same names in `/run/keepalived/`                         |
//! | `instance NAME`            | `/run/keepalived/keepalived_NAME.pid`, `vrrp_NAME.pid`, ...  |
//! | network namespace `NS`     | `/run/keepalived/NS/keepalived.pid`, ... (`_NAME` with `instance`) |
//!
//! The namespace row is keepalived's `net_namespace NS` layout seen from the host; lvsd also
//! applies it when started inside a named namespace (`ip netns exec NS lvsd`), so directors in
//! different namespaces of one host do not take each other for a second instance. `-p`, `-r`,
//! `-c`, `-b` override single files. The control socket is `lvsd.sock` (`lvsd_NAME.sock` with
//! `instance`) in the same directory as the main pid file's default.
//!
//! Locking: each file is opened and `flock`ed exclusively; a file locked by a live lvsd means
//! "daemon is already running" (keepalived's message; keepalived exits 0 then, and so does
//! lvsd). keepalived itself does not lock, so an unlocked file naming a live `keepalived`
//! process also counts as running. Anything else is stale (a killed process) and is taken
//! over. The lock dies with the process, so a SIGKILL never leaves a file that blocks a restart.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// keepalived's run directory.
pub const RUN_DIR: &str = "/run";
/// keepalived's pid directory (`use_pid_dir`, `instance`, namespaces).
pub const PID_DIR: &str = "/run/keepalived";

/// What decides the paths (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub use_pid_dir: bool,
    pub instance: Option<String>,
    /// The named network namespace lvsd runs in, if any.
    pub namespace: Option<String>,
}

/// Every file lvsd keeps under /run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub main: PathBuf,
    pub vrrp: PathBuf,
    pub checkers: PathBuf,
    pub bfd: PathBuf,
    pub socket: PathBuf,
}

impl RunPaths {
    /// keepalived's default paths for this layout.
    pub fn new(layout: &Layout) -> RunPaths {
        let dir = match (
            &layout.namespace,
            layout.use_pid_dir || layout.instance.is_some(),
        ) {
            // keepalived 2.2.7 with `net_namespace NS` or `-s NS`, read back from /run.
            (Some(ns), _) => Path::new(PID_DIR).join(ns),
            (None, true) => PathBuf::from(PID_DIR),
            (None, false) => PathBuf::from(RUN_DIR),
        };
        let suffix = layout
            .instance
            .as_ref()
            .map(|i| format!("_{i}"))
            .unwrap_or_default();
        let f = |stem: &str, ext: &str| dir.join(format!("{stem}{suffix}.{ext}"));
        RunPaths {
            main: f("keepalived", "pid"),
            vrrp: f("vrrp", "pid"),
            checkers: f("checkers", "pid"),
            bfd: f("bfd", "pid"),
            socket: f("lvsd", "sock"),
        }
    }

    /// The control socket `lvsd ctl` uses without `--socket`, run in the same namespace as the
    /// daemon: the default one if it exists, else the only daemon socket in the pid directory
    /// (a daemon with `instance` or `use_pid_dir`), else the default (for the error message).
    pub fn default_socket() -> PathBuf {
        let namespace = current_netns_name();
        let plain = RunPaths::new(&Layout {
            namespace: namespace.clone(),
            ..Layout::default()
        })
        .socket;
        if plain.exists() {
            return plain;
        }
        let dir = RunPaths::new(&Layout {
            namespace,
            use_pid_dir: true,
            instance: None,
        })
        .socket
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            n.starts_with("lvsd")
                                && n.ends_with(".sock")
                                && n != "lvsd-health-check.sock"
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        match found.len() {
            1 => found.remove(0),
            _ => plain,
        }
    }
}

/// The name under /run/netns of the network namespace this process is in, if it has one
/// (`ip netns exec NAME`). The root namespace never counts, even if someone named it.
pub fn current_netns_name() -> Option<String> {
    let me = std::fs::metadata("/proc/self/ns/net").ok()?;
    if let Ok(init) = std::fs::metadata("/proc/1/ns/net")
        && init.ino() == me.ino()
        && init.dev() == me.dev()
    {
        return None;
    }
    let entries = std::fs::read_dir("/run/netns").ok()?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| {
            std::fs::metadata(e.path()).is_ok_and(|m| m.ino() == me.ino() && m.dev() == me.dev())
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.contains('/') && !n.is_empty())
        .collect();
    names.sort();
    names.into_iter().next()
}

/// Why a pid file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live instance holds it.
    #[error("daemon is already running ({} held by pid {})", path.display(), pid.map_or("?".to_string(), |p| p.to_string()))]
    Running { path: PathBuf, pid: Option<i32> },
    #[error("pid file {}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
}

/// A pid file this process owns: locked while it lives, removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: nix::fcntl::Flock<File>,
    /// Directories created for this file, deepest first (removed again if empty).
    created_dirs: Vec<PathBuf>,
}

impl PidFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Locks `path` and writes this process's pid into it (see the module doc).
    pub fn acquire(path: &Path) -> Result<PidFile, LockError> {
        let io = |err| LockError::Io {
            path: path.to_path_buf(),
            err,
        };
        let created_dirs = ensure_pid_dir(path).map_err(io)?;
        for _ in 0..5 {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
                .map_err(io)?;
            let mut file =
                match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                    Ok(locked) => locked,
                    Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                        return Err(LockError::Running {
                            path: path.to_path_buf(),
                            pid: read_pid(&mut file),
                        });
                    }
                    Err((_, e)) => return Err(io(std::io::Error::from(e))),
                };
            // Locked; but the file may have been removed (and a new one created) by its
            // previous owner between our open and our lock: then start over on the new one.
            let same = match (file.metadata(), std::fs::symlink_metadata(path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            if let Some(pid) = read_pid(&mut file)
                && pid != std::process::id() as i32
                && is_live_keepalived(pid)
            {
                return Err(LockError::Running {
                    path: path.to_path_buf(),
                    pid: Some(pid),
                });
            }
            write_pid(&mut file).map_err(io)?;
            return Ok(PidFile {
                path: path.to_path_buf(),
                file,
                created_dirs,
            });
        }
        Err(io(std::io::Error::other(
            "the file keeps being replaced while locking it",
        )))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only our own file: a newer owner may have replaced it (it could not while we held
        // the lock, but an operator can delete it by hand).
        if let (Ok(a), Ok(b)) = (self.file.metadata(), std::fs::symlink_metadata(&self.path))
            && a.ino() == b.ino()
            && a.dev() == b.dev()
        {
            let _ = std::fs::remove_file(&self.path);
        }
        for d in &self.created_dirs {
            // Fails (harmlessly) while other files remain.
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Creates the default pid directories (/run/keepalived and a namespace's subdirectory) with
/// mode 0755 as keepalived does; any other missing directory is the operator's mistake.
fn ensure_pid_dir(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = path.parent() else {
        return Ok(Vec::new());
    };
    if dir.as_os_str().is_empty() || dir.is_dir() || !dir.starts_with(PID_DIR) {
        return Ok(Vec::new());
    }
    let mut created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| d.starts_with(PID_DIR) && !d.is_dir())
        .map(Path::to_path_buf)
        .collect();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)?;
    created.dedup();
    Ok(created)
}

fn read_pid(file: &mut File) -> Option<i32> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.take(64).read_to_string(&mut s).ok()?;
    s.trim().parse().ok().filter(|&p| p > 0)
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

/// A running keepalived (which does not lock its pid files) named by a file.
fn is_live_keepalived(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "keepalived")
}

/// All the pid files of one lvsd; released together, last taken first (so the directory the
/// first one created is empty when it goes).
#[derive(Debug, Default)]
pub struct PidFiles(Vec<PidFile>);

impl Drop for PidFiles {
    fn drop(&mut self) {
        while let Some(f) = self.0.pop() {
            drop(f);
        }
    }
}

impl PidFiles {
    /// Takes every file in order; on the first failure the ones taken are released.
    pub fn acquire_all<'a>(
        paths: impl IntoIterator<Item = &'a Path>,
    ) -> Result<PidFiles, LockError> {
        let mut held = Vec::new();
        for p in paths {
            if held.iter().any(|h: &PidFile| h.path == p) {
                continue;
            }
            held.push(PidFile::acquire(p)?);
        }
        Ok(PidFiles(held))
    }

    pub fn paths(&self) -> Vec<&Path> {
        self.0.iter().map(PidFile::path).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_keepalived() {
        let p = RunPaths::new(&Layout::default());
        assert_eq!(p.main, Path::new("/run/keepalived.pid"));
        assert_eq!(p.vrrp, Path::new("/run/vrrp.pid"));
        assert_eq!(p.checkers, Path::new("/run/checkers.pid"));
        assert_eq!(p.bfd, Path::new("/run/bfd.pid"));
        assert_eq!(p.socket, Path::new("/run/lvsd.sock"));
        let p = RunPaths::new(&Layout {
            use_pid_dir: true,
            ..Layout::default()
        });
        assert_eq!(p.main, Path::new("/run/keepalived/keepalived.pid"));
        assert_eq!(p.vrrp, Path::new("/run/keepalived/vrrp.pid"));
        let p = RunPaths::new(&Layout {
            instance: Some("foo".into()),
            ..Layout::default()
        });
        assert_eq!(p.main, Path::new("/run/keepalived/keepalived_foo.pid"));
        assert_eq!(p.bfd, Path::new("/run/keepalived/bfd_foo.pid"));
        assert_eq!(p.socket, Path::new("/run/keepalived/lvsd_foo.sock"));
        let p = RunPaths::new(&Layout {
            namespace: Some("blue".into()),
            ..Layout::default()
        });
        assert_eq!(p.main, Path::new("/run/keepalived/blue/keepalived.pid"));
        let p = RunPaths::new(&Layout {
            namespace: Some("blue".into()),
            instance: Some("pk".into()),
            ..Layout::default()
        });
        assert_eq!(p.main, Path::new("/run/keepalived/blue/keepalived_pk.pid"));
        assert_eq!(p.vrrp, Path::new("/run/keepalived/blue/vrrp_pk.pid"));
    }

    #[test]
    fn second_lock_is_refused_and_released_on_drop() {
        let dir = std::env::temp_dir().join(format!("lvsd-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.pid");
        let first = PidFile::acquire(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock is per open file description: a second open in this process conflicts too.
        match PidFile::acquire(&path) {
            Err(LockError::Running { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id() as i32))
            }
            other => panic!("expected Running, got {other:?}"),
        }
        drop(first);
        assert!(!path.exists(), "removed at release");
        // A stale file (no lock) naming a dead pid is taken over.
        std::fs::write(&path, "999999\n").unwrap();
        let again = PidFile::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
