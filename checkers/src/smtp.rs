//! `SMTP_CHECK`: the greeting and `HELO` must be answered with 2xx; then `QUIT`.
//! The whole exchange is bounded by `connect_timeout`; reply lines are bounded in length.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::outcome::{FailReason, Outcome};
use crate::spec::{SmtpSpec, Spec};

const MAX_LINE: usize = 4096;

/// Reads one (possibly multi-line) reply; returns its last line.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    step: &str,
) -> Result<String, FailReason> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut *r)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| FailReason::Io {
                during: format!("the SMTP {step} reply"),
                detail: e.to_string(),
            })?;
        if n == 0 {
            return Err(FailReason::Io {
                during: format!("the SMTP {step} reply"),
                detail: "connection closed".to_string(),
            });
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        // "250-..." continues, "250 ..." ends a reply.
        if text.len() >= 4 && text.as_bytes()[3] == b'-' {
            continue;
        }
        return Ok(text);
    }
}

fn expect_2xx(step: &str, text: String) -> Result<(), FailReason> {
    if text.starts_with('2')
        && text.len() >= 3
        && text.as_bytes()[..3].iter().all(u8::is_ascii_digit)
    {
        Ok(())
    } else {
        Err(FailReason::Smtp {
            step: step.to_string(),
            reply: text,
        })
    }
}

async fn exchange(spec: &Spec, smtp: &SmtpSpec) -> Result<(), FailReason> {
    let stream = crate::tcp::connect(spec.target, &spec.bind, spec.timing.connect_timeout).await?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    expect_2xx("greeting", reply(&mut rd, "greeting").await?)?;
    let helo = format!("HELO {}\r\n", smtp.helo_name);
    wr.write_all(helo.as_bytes())
        .await
        .map_err(|e| FailReason::Io {
            during: "sending HELO".to_string(),
            detail: e.to_string(),
        })?;
    expect_2xx("HELO", reply(&mut rd, "HELO").await?)?;
    // Polite end; its answer does not matter.
    let _ = wr.write_all(b"QUIT\r\n").await;
    Ok(())
}

/// Runs the exchange within `connect_timeout`.
pub async fn check(spec: &Spec, smtp: &SmtpSpec) -> Outcome {
    let deadline = Instant::now() + spec.timing.connect_timeout;
    match tokio::time::timeout_at(deadline, exchange(spec, smtp)).await {
        Ok(r) => r.into(),
        Err(_) => Outcome::Fail(FailReason::Timeout {
            during: "the SMTP exchange".to_string(),
            after: spec.timing.connect_timeout,
        }),
    }
}
