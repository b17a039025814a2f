//! The result of one check attempt. A failure is a value, not an error: its `Display` is the
//! sentence an operator reads in the log and in `Transition::reason`.

use std::fmt;
use std::time::Duration;

/// What a check saw besides its verdict, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Expiry of the server certificate, when TLS verified it (`SSL_GET`, gRPC over TLS).
    pub cert_not_after: Option<std::time::SystemTime>,
}

/// What one attempt of a check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed. `weight` is a dynamic weight (MISC_CHECK `misc_dynamic`, FILE_CHECK
    /// `dynamic`), `None` for every other checker.
    Pass {
        /// Dynamic weight reported by the check.
        weight: Option<i64>,
    },
    /// The check failed for this reason.
    Fail(FailReason),
}

impl Outcome {
    /// A pass with no dynamic weight.
    pub const PASS: Outcome = Outcome::Pass { weight: None };

    /// Whether the check passed.
    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Pass { .. })
    }

    /// A short stable label for metrics (`pass`, `timeout`, `refused`, `status`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Pass { .. } => "pass",
            Outcome::Fail(r) => r.kind(),
        }
    }
}

impl From<Result<(), FailReason>> for Outcome {
    fn from(r: Result<(), FailReason>) -> Self {
        match r {
            Ok(()) => Outcome::PASS,
            Err(e) => Outcome::Fail(e),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass { weight: None } => f.write_str("check passed"),
            Outcome::Pass { weight: Some(w) } => write!(f, "check passed, weight {w}"),
            Outcome::Fail(r) => r.fmt(f),
        }
    }
}

/// Why a check failed. Each variant names what was tried and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// No connection within `connect_timeout`.
    ConnectTimeout(Duration),
    /// The server answered the connection with a reset (nothing listens).
    ConnectRefused,
    /// Any other socket error while connecting (unreachable, bind failure...).
    Connect(String),
    /// Connected, but the exchange did not finish in time; `during` says what was awaited.
    Timeout {
        /// e.g. "the response headers of /health".
        during: String,
        /// The bound that expired.
        after: Duration,
    },
    /// The connection dropped mid-exchange (reset, EOF before the end).
    Io {
        /// What was being done.
        during: String,
        /// The socket error or "connection closed".
        detail: String,
    },
    /// The server's bytes were not valid for the protocol.
    Protocol {
        /// What was being read.
        during: String,
        /// What was wrong.
        detail: String,
    },
    /// The TLS handshake failed.
    Tls(String),
    /// An HTTP status outside the accepted codes.
    HttpStatus {
        /// Requested path.
        path: String,
        /// Status received.
        status: u16,
        /// Accepted codes, as configured.
        expected: String,
    },
    /// The body's MD5 differs from the configured digest.
    DigestMismatch {
        /// Requested path.
        path: String,
        /// Digest of what was received.
        got: String,
        /// Configured digest.
        want: String,
    },
    /// SMTP server replied with an unexpected code.
    Smtp {
        /// The command answered (`greeting`, `HELO`, `QUIT`).
        step: String,
        /// The reply line.
        reply: String,
    },
    /// DNS reply carried an error or no answer.
    Dns(String),
    /// UDP probe failed (port unreachable, bad reply...).
    Udp(String),
    /// Echo request not answered.
    Ping(String),
    /// MISC_CHECK program exited with a failing status.
    MiscExit {
        /// The program.
        program: String,
        /// Its exit status.
        code: i32,
    },
    /// MISC_CHECK program was killed by a signal.
    MiscSignal {
        /// The program.
        program: String,
        /// Signal number.
        signal: i32,
    },
    /// MISC_CHECK program ran too long; its process group was killed.
    MiscTimeout {
        /// The program.
        program: String,
        /// `misc_timeout`.
        after: Duration,
    },
    /// MISC_CHECK program could not be started.
    MiscSpawn {
        /// The program.
        program: String,
        /// Why.
        detail: String,
    },
    /// FILE_CHECK: unreadable file or a failing value.
    File(String),
    /// The body did not match the url's `regex` (or matched it, with `regex_no_match`).
    Regex {
        /// Requested path.
        path: String,
        /// The pattern.
        pattern: String,
        /// `regex_no_match`: the failure is that it matched.
        no_match: bool,
    },
    /// A down HTTP_GET / SSL_GET without `fast_recovery` checks one url per `delay_loop`:
    /// this many of them passed in a row so far.
    Recovering {
        /// Urls passed in a row.
        passed: usize,
        /// Urls in the checker.
        total: usize,
    },
    /// Checker could not run at all (bad setting that passed the config layer).
    Setup(String),
}

impl FailReason {
    /// A short stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FailReason::ConnectTimeout(_)
            | FailReason::Timeout { .. }
            | FailReason::MiscTimeout { .. } => "timeout",
            FailReason::ConnectRefused => "refused",
            FailReason::Connect(_) => "connect",
            FailReason::Io { .. } => "io",
            FailReason::Protocol { .. } => "protocol",
            FailReason::Tls(_) => "tls",
            FailReason::HttpStatus { .. } => "status",
            FailReason::DigestMismatch { .. } => "digest",
            FailReason::Smtp { .. } => "smtp",
            FailReason::Dns(_) => "dns",
            FailReason::Udp(_) => "udp",
            FailReason::Ping(_) => "ping",
            FailReason::MiscExit { .. } | FailReason::MiscSignal { .. } => "exit",
            FailReason::MiscSpawn { .. } | FailReason::Setup(_) => "setup",
            FailReason::File(_) => "file",
            FailReason::Regex { .. } => "regex",
            FailReason::Recovering { .. } => "recovering",
        }
    }
}

/// Durations as operators write them: "3 s", "1.5 s", "200 ms".
pub(crate) struct Secs(pub Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{} s", d.as_secs())
        } else if d < Duration::from_secs(1) {
            write!(f, "{} ms", d.as_millis())
        } else {
            write!(f, "{} s", d.as_secs_f64())
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::ConnectTimeout(d) => write!(f, "connect timeout after {}", Secs(*d)),
            FailReason::ConnectRefused => f.write_str("connection refused"),
            FailReason::Connect(e) => write!(f, "connect failed: {e}"),
            FailReason::Timeout { during, after } => {
                write!(f, "timeout after {} waiting for {during}", Secs(*after))
            }
            FailReason::Io { during, detail } => write!(f, "{detail} while reading {during}"),
            FailReason::Protocol { during, detail } => {
                write!(f, "invalid {}: {detail}", during.trim_start_matches("the "))
            }
            FailReason::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            FailReason::HttpStatus {
                path,
                status,
                expected,
            } => {
                write!(f, "HTTP {status} on {path} (expected {expected})")
            }
            FailReason::DigestMismatch { path, got, want } => {
                write!(f, "digest mismatch on {path}: got {got}, want {want}")
            }
            FailReason::Smtp { step, reply } => write!(f, "SMTP {step} answered {reply:?}"),
            FailReason::Dns(e) => write!(f, "DNS {e}"),
            FailReason::Udp(e) => write!(f, "UDP {e}"),
            FailReason::Ping(e) => write!(f, "ping {e}"),
            FailReason::MiscExit { program, code } => {
                write!(f, "{program} exited with status {code}")
            }
            FailReason::MiscSignal { program, signal } => {
                write!(f, "{program} killed by signal {signal}")
            }
            FailReason::MiscTimeout { program, after } => {
                write!(
                    f,
                    "{program} still running after {}, process group killed",
                    Secs(*after)
                )
            }
            FailReason::MiscSpawn { program, detail } => {
                write!(f, "cannot run {program}: {detail}")
            }
            FailReason::File(e) => f.write_str(e),
            FailReason::Regex {
                path,
                pattern,
                no_match: false,
            } => write!(f, "body of {path} does not match regex {pattern:?}"),
            FailReason::Regex {
                path,
                pattern,
                no_match: true,
            } => write!(
                f,
                "body of {path} matches regex {pattern:?} (regex_no_match)"
            ),
            FailReason::Recovering { passed, total } => write!(
                f,
                "recovering: {passed} of {total} urls passed (one url per delay_loop without fast_recovery)"
            ),
            FailReason::Setup(e) => write!(f, "check cannot run: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_operators_read() {
        assert_eq!(
            FailReason::ConnectTimeout(Duration::from_secs(3)).to_string(),
            "connect timeout after 3 s"
        );
        let s = FailReason::HttpStatus {
            path: "/health".into(),
            status: 503,
            expected: "200-299".into(),
        };
        assert_eq!(s.to_string(), "HTTP 503 on /health (expected 200-299)");
        let d = FailReason::DigestMismatch {
            path: "/index.html".into(),
            got: "ab".into(),
            want: "cd".into(),
        };
        assert_eq!(
            d.to_string(),
            "digest mismatch on /index.html: got ab, want cd"
        );
        assert_eq!(Secs(Duration::from_millis(1500)).to_string(), "1.5 s");
        assert_eq!(Secs(Duration::from_millis(200)).to_string(), "200 ms");
    }
}
