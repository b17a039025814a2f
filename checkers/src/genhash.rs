//! `genhash`: fetch a page and print the digest an `HTTP_GET` / `SSL_GET` `digest` line needs,
//! with the same output as keepalived's genhash (the plain output byte for byte; the verbose
//! dump in the same layout, its read-sized pieces and timing naturally varying).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::digest::{Part, ResponseReader, hex};
use crate::http::{Get, ReadBody, TlsOptions};
use crate::outcome::FailReason;
use crate::spec::{Bind, HttpProtocol, TlsVerify};

/// What to fetch (the command-line options, validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-s` and `-p`.
    pub target: SocketAddr,
    /// `-u`.
    pub url: String,
    /// `-S`.
    pub ssl: bool,
    /// `-I`: send the virtual host as SNI.
    pub sni: bool,
    /// `-V`.
    pub virtualhost: Option<String>,
    /// `-P`.
    pub protocol: HttpProtocol,
    /// `-t` (default 5 s).
    pub timeout: Duration,
    /// `-m`.
    pub fwmark: Option<u32>,
    /// `-v`.
    pub verbose: bool,
}

const BAR: &str = "-----------------------";

/// Section titles exactly as keepalived pads them.
fn banner(out: &mut dyn Write, title: &str) -> io::Result<()> {
    let padded = match title {
        "HTTP Header Buffer" => "    HTTP Header Buffer    ",
        "HTTP Header Ascii Buffer" => " HTTP Header Ascii Buffer ",
        "HTML Buffer" => "        HTML Buffer        ",
        "HTML hash resulting" => "    HTML hash resulting    ",
        _ => " HTML hash final resulting ",
    };
    writeln!(out, "{BAR}[{padded}]{BAR}")
}

/// keepalived's hex dump: decimal offsets, 8 + 8 bytes around a dash, printable ASCII.
pub fn dump(out: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    let mut line = String::with_capacity(80);
    for (i, chunk) in data.chunks(16).enumerate() {
        line.clear();
        line.push_str(&format!("{:04}  ", i * 16));
        for j in 0..16 {
            if j == 8 {
                line.push_str("- ");
            }
            match chunk.get(j) {
                Some(b) => line.push_str(&format!("{b:02x} ")),
                None => line.push_str("   "),
            }
        }
        line.push_str("  ");
        for j in 0..16 {
            line.push(match chunk.get(j) {
                Some(&b) if (0x20..0x7f).contains(&b) => b as char,
                Some(_) => '.',
                None => ' ',
            });
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The one-line message keepalived's genhash prints for a failure.
fn failure_line(e: &FailReason) -> &'static str {
    match e {
        FailReason::ConnectTimeout(_) => "Timeout connecting",
        FailReason::Timeout { during, .. } if during.contains("TLS") => "Timeout connecting",
        FailReason::Timeout { during, .. } if during.starts_with("sending") => "Timeout WEB write",
        FailReason::Timeout { .. } => "Timeout WEB read",
        FailReason::Tls(_) => "SSL handshake/communication error connecting to",
        FailReason::Io { during, .. } | FailReason::Protocol { during, .. }
            if during.contains("headers") =>
        {
            "no data received from remote webserver"
        }
        FailReason::Io { .. } => "Connection failed",
        _ => "Connection failed",
    }
}

/// Fetches the page and writes genhash's output to `out`, and the one message keepalived
/// prints on stderr ("no data received ...") to `err`.
pub async fn run(
    opts: &Options,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> io::Result<()> {
    let started = Instant::now();
    let bind = Bind {
        fwmark: opts.fwmark,
        ..Bind::default()
    };
    let verify = TlsVerify::None;
    let get = Get {
        target: opts.target,
        bind: &bind,
        tls: opts.ssl.then_some(TlsOptions {
            sni: opts.sni,
            sni_name: None,
            verify: &verify,
            client_cert: None,
        }),
        path: &opts.url,
        virtualhost: opts.virtualhost.as_deref(),
        protocol: opts.protocol,
        timeout: opts.timeout,
        read_body: ReadBody::Always,
        lenient: true,
    };
    let verbose = opts.verbose;
    let mut io_err: Option<io::Error> = None;
    let mut body_banner = false;
    let result = {
        let mut sink = |part: Part<'_>| {
            if !verbose || io_err.is_some() {
                return;
            }
            let r = (|| -> io::Result<()> {
                match part {
                    Part::Head(h) => {
                        banner(out, "HTTP Header Buffer")?;
                        dump(out, h)?;
                        banner(out, "HTTP Header Ascii Buffer")?;
                        // Printed as a C string: a NUL ends it.
                        let text = h.split(|&b| b == 0).next().unwrap_or_default();
                        out.write_all(text)?;
                        writeln!(out)?;
                    }
                    Part::Body(b) => {
                        // The section appears with the first body piece (none for an empty body).
                        if !body_banner {
                            body_banner = true;
                            banner(out, "HTML Buffer")?;
                        }
                        dump(out, b)?;
                    }
                }
                Ok(())
            })();
            if let Err(e) = r {
                io_err = Some(e);
            }
        };
        crate::http::get_with(&get, ResponseReader::lenient(), &mut sink, None).await
    };
    if let Some(e) = io_err {
        return Err(e);
    }
    match result {
        Ok((_, reader)) => {
            if verbose {
                writeln!(out)?;
                banner(out, "HTML hash resulting")?;
                dump(out, &reader.md5())?;
                banner(out, "HTML hash final resulting")?;
            }
            writeln!(out, "{}", hex(&reader.md5()))?;
        }
        Err(e) => {
            let line = failure_line(&e);
            if line.starts_with("no data") {
                writeln!(err, "{line}")?;
                err.flush()?;
            } else {
                writeln!(out, "{line}")?;
            }
            if verbose && line.starts_with("no data") {
                banner(out, "HTTP Header Buffer")?;
                writeln!(out)?;
                banner(out, "HTML hash resulting")?;
                dump(out, &ResponseReader::new().md5())?;
                banner(out, "HTML hash final resulting")?;
            }
        }
    }
    if verbose {
        writeln!(
            out,
            "\nGlobal response time for [{}] = {} usecs",
            opts.url,
            started.elapsed().as_micros()
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_matches_keepalived_layout() {
        let mut v = Vec::new();
        dump(&mut v, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n").unwrap();
        // Captured from keepalived 2.2.7 `genhash -v`.
        let want = "0000  48 54 54 50 2f 31 2e 31 - 20 32 30 30 20 4f 4b 0d   HTTP/1.1 200 OK.\n\
                    0016  0a 43 6f 6e 74 65 6e 74 - 2d 4c 65 6e 67 74 68 3a   .Content-Length:\n\
                    0032  20 36 0d 0a 0d 0a       -                            6....          \n";
        assert_eq!(String::from_utf8(v).unwrap(), want);
        let mut v = Vec::new();
        dump(&mut v, b"hello\n").unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "0000  68 65 6c 6c 6f 0a       -                           hello.          \n"
        );
        let mut v = Vec::new();
        banner(&mut v, "HTML hash final resulting").unwrap();
        banner(&mut v, "HTML Buffer").unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "-----------------------[ HTML hash final resulting ]-----------------------\n\
             -----------------------[        HTML Buffer        ]-----------------------\n"
        );
    }
}
