//! `lvsd genhash`: keepalived's genhash options and output (see `checkers::genhash`).
//!
//! Exit codes as keepalived's: 0 once a request was attempted (even if it failed: the failure is
//! printed on stdout), 1 for usage errors.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use checkers::HttpProtocol;
use checkers::genhash::Options;

/// Options of `lvsd genhash`, spelled as keepalived's genhash.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GenhashArgs {
    /// Use SSL connection to remote server.
    #[arg(short = 'S', long = "use-ssl")]
    pub use_ssl: bool,
    /// Use SNI during SSL handshake (uses virtualhost setting; see -V).
    #[arg(short = 'I', long = "use-sni")]
    pub use_sni: bool,
    /// Use the specified remote server address (an IP).
    #[arg(short = 's', long = "server")]
    pub server: Option<String>,
    /// Use the specified remote server port.
    #[arg(short = 'p', long = "port")]
    pub port: Option<String>,
    /// Use the specified remote server url.
    #[arg(short = 'u', long = "url")]
    pub url: Option<String>,
    /// Use the specified virtualhost in GET query.
    #[arg(short = 'V', long = "use-virtualhost")]
    pub virtualhost: Option<String>,
    /// Use verbose mode output.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Use the specified FW mark.
    #[arg(short = 'm', long = "fwmark")]
    pub fwmark: Option<u32>,
    /// Use the specified HTTP protocol - '1.0', '1.0c', '1.1'. 1.0c means 1.0 with 'Connection: close'.
    #[arg(short = 'P', long = "protocol")]
    pub protocol: Option<String>,
    /// Timeout in seconds.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<u64>,
}

const USAGE: &str = "Usage: lvsd genhash [OPTIONS] -s server-address -p port -u url
   -S/--use-ssl  -I/--use-sni  -V/--use-virtualhost host  -P/--protocol 1.0|1.0c|1.1
   -t/--timeout seconds  -m/--fwmark mark  -v/--verbose";

impl GenhashArgs {
    /// Validates the options as keepalived does; `Err` is the message for stderr.
    pub fn options(&self) -> Result<Options, String> {
        let (Some(server), Some(port), Some(url)) = (&self.server, &self.port, &self.url) else {
            return Err("the options -s, -p and -u are required".to_string());
        };
        let ip: IpAddr = server
            .parse()
            .map_err(|_| format!("server should be an IP, not {server}"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port number '{port}'"))?;
        let protocol = match self.protocol.as_deref() {
            None | Some("1.0") => HttpProtocol::Http10,
            Some("1.0c") | Some("1.0C") => HttpProtocol::Http10Close,
            Some("1.1") => HttpProtocol::Http11,
            Some(other) => return Err(format!("invalid HTTP protocol version '{other}'")),
        };
        Ok(Options {
            target: SocketAddr::new(ip, port),
            url: url.clone(),
            ssl: self.use_ssl,
            sni: self.use_sni,
            virtualhost: self.virtualhost.clone(),
            protocol,
            timeout: Duration::from_secs(self.timeout.unwrap_or(5)),
            fwmark: self.fwmark,
            verbose: self.verbose,
        })
    }
}

/// Runs genhash and prints to stdout. Safe to call from inside or outside a tokio runtime
/// (it runs on its own thread and runtime).
pub fn run(args: &GenhashArgs) -> ExitCode {
    let opts = match args.options() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    let worker = std::thread::spawn(move || -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        rt.block_on(checkers::genhash::run(&opts, &mut out, &mut err))
    });
    match worker.join() {
        Ok(Ok(())) => ExitCode::SUCCESS,
        // Output closed (e.g. piped into head): nothing more to say.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            let _ = writeln!(std::io::stderr(), "genhash: {e}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(server: &str, port: &str, url: &str) -> GenhashArgs {
        GenhashArgs {
            server: Some(server.into()),
            port: Some(port.into()),
            url: Some(url.into()),
            ..GenhashArgs::default()
        }
    }

    #[test]
    fn options_validated_as_keepalived() {
        let o = args("::1", "8080", "/x").options().unwrap();
        assert_eq!(o.target, "[::1]:8080".parse().unwrap());
        assert_eq!(
            (o.protocol, o.timeout),
            (HttpProtocol::Http10, Duration::from_secs(5))
        );
        assert_eq!(
            args("foo", "80", "/").options().unwrap_err(),
            "server should be an IP, not foo"
        );
        assert_eq!(
            args("127.0.0.1", "99999", "/").options().unwrap_err(),
            "invalid port number '99999'"
        );
        let bad = GenhashArgs {
            protocol: Some("2.0".into()),
            ..args("127.0.0.1", "80", "/")
        };
        assert_eq!(
            bad.options().unwrap_err(),
            "invalid HTTP protocol version '2.0'"
        );
        let c = GenhashArgs {
            protocol: Some("1.0c".into()),
            ..args("127.0.0.1", "80", "/")
        };
        assert_eq!(c.options().unwrap().protocol, HttpProtocol::Http10Close);
        assert!(
            GenhashArgs {
                url: None,
                ..args("127.0.0.1", "80", "/")
            }
            .options()
            .is_err()
        );
    }

    #[test]
    fn usage_error_exits_1() {
        assert_eq!(run(&GenhashArgs::default()), ExitCode::from(1));
    }
}
