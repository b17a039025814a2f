//! One error type for the crate: every message names the operation and the object.

use std::fmt;
use std::io;

/// The verb of a kernel request, as ipvsadm would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Resolve the "IPVS" generic netlink family.
    Connect,
    /// `-A`.
    AddService,
    /// `-E`.
    EditService,
    /// `-D`.
    DelService,
    /// `-a`.
    AddDest,
    /// `-e`.
    EditDest,
    /// `-d`.
    DelDest,
    /// `-L` (service or destination dump).
    List,
    /// `-C`.
    Flush,
    /// `-Z`.
    Zero,
    /// Version / connection table size.
    GetInfo,
    /// `--set` read side.
    GetTimeouts,
    /// `--set`.
    SetTimeouts,
    /// `--start-daemon`.
    AddDaemon,
    /// `--stop-daemon`.
    DelDaemon,
    /// `-L --daemon`.
    ListDaemons,
    /// `-R`: a batch of a plan's ops (transport errors only; each op reports its own verb).
    Apply,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Connect => "connect to IPVS",
            Verb::AddService => "add service",
            Verb::EditService => "edit service",
            Verb::DelService => "delete service",
            Verb::AddDest => "add destination",
            Verb::EditDest => "edit destination",
            Verb::DelDest => "delete destination",
            Verb::List => "list",
            Verb::Flush => "flush",
            Verb::Zero => "zero counters",
            Verb::GetInfo => "get info",
            Verb::GetTimeouts => "get timeouts",
            Verb::SetTimeouts => "set timeouts",
            Verb::AddDaemon => "start sync daemon",
            Verb::DelDaemon => "stop sync daemon",
            Verb::ListDaemons => "list sync daemons",
            Verb::Apply => "apply plan",
        })
    }
}

/// An IPVS operation that could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel has no "IPVS" generic netlink family.
    #[error(
        "the kernel has no IPVS (generic netlink family \"IPVS\" not found): \
         load the ip_vs module (`modprobe ip_vs`) or use a kernel built with CONFIG_IP_VS"
    )]
    NoIpvs,
    /// The kernel refused the request.
    #[error("{verb} {object}: {}", explain(*verb, *errno))]
    Kernel {
        /// What was asked.
        verb: Verb,
        /// The object, as ipvsadm arguments (`-t 192.0.2.1:80 -r 10.0.0.2:80`).
        object: String,
        /// Positive errno.
        errno: i32,
    },
    /// The socket failed.
    #[error("{verb}: netlink socket: {source}")]
    Io {
        /// What was being done.
        verb: Verb,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel sent something we could not decode or did not expect.
    #[error("{verb}: malformed reply from the kernel: {detail}")]
    Decode {
        /// What was being done.
        verb: Verb,
        /// What was wrong.
        detail: String,
    },
}

impl Error {
    /// The kernel's errno, if the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
    /// The object already exists (EEXIST).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc_errno::EEXIST)
    }
    /// The service or destination does not exist (ESRCH / ENOENT on delete or edit).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc_errno::ESRCH) | Some(libc_errno::ENOENT)
        )
    }
    /// The kernel has no IPVS.
    pub fn is_no_ipvs(&self) -> bool {
        matches!(self, Error::NoIpvs)
    }
}

/// The errno values IPVS returns (stable Linux ABI numbers, x86 and generic).
pub(crate) mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const ENOMEM: i32 = 12;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EOPNOTSUPP: i32 = 95;
}

/// The operator sentence for an errno in the context of `verb` (as ipvsadm words them).
fn explain(verb: Verb, errno: i32) -> String {
    use libc_errno::*;
    let text = match (verb, errno) {
        (_, EPERM) => "permission denied (run as root / CAP_NET_ADMIN)",
        (Verb::AddService, EEXIST) => "service already exists",
        (Verb::AddDest, EEXIST) => "destination already exists",
        (Verb::AddDaemon, EEXIST) => "sync daemon already running",
        (Verb::AddService | Verb::EditService, ENOENT) => {
            "scheduler or persistence engine not found (no such ip_vs_<name> module)"
        }
        (Verb::AddDest | Verb::EditDest | Verb::DelDest, ESRCH) => "no such service",
        (Verb::EditService | Verb::DelService, ESRCH) => "no such service",
        (Verb::EditDest | Verb::DelDest, ENOENT) => "no such destination",
        (Verb::DelDaemon, ESRCH) => "no such sync daemon",
        (_, EINVAL) => "invalid argument (the kernel rejected a field value)",
        (_, ERANGE) => "value out of range (e.g. lower threshold above upper threshold)",
        (_, EAFNOSUPPORT) => "address family not supported (IPv6 support missing?)",
        (_, EOPNOTSUPP) => "not supported by this kernel",
        (_, ENOMEM) => "out of memory",
        (_, EBUSY) => "busy",
        _ => "",
    };
    let os = io::Error::from_raw_os_error(errno);
    if text.is_empty() {
        os.to_string()
    } else {
        format!("{text} ({os})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_operation_object_and_cause() {
        let e = Error::Kernel {
            verb: Verb::AddService,
            object: "-t 192.0.2.1:80".into(),
            errno: libc_errno::ENOENT,
        };
        let s = e.to_string();
        assert!(
            s.starts_with("add service -t 192.0.2.1:80: scheduler"),
            "{s}"
        );
        assert!(Error::NoIpvs.to_string().contains("modprobe ip_vs"));
        let dup = Error::Kernel {
            verb: Verb::AddDest,
            object: "x".into(),
            errno: 17,
        };
        assert!(dup.is_exists() && !dup.is_not_found());
    }
}
