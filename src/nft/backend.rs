//! The one seam to the kernel's nftables: run a script, list a table. [`NftProgram`] runs the
//! `nft` program; tests substitute their own.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// A boxed future, so the seam is object safe.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How lvsd reads and writes nftables.
pub trait Nft: Send + Sync {
    /// Applies `script` (nft syntax, one command per line) as one atomic transaction.
    fn apply<'a>(&'a self, script: &'a str) -> BoxFut<'a, anyhow::Result<()>>;
    /// `nft -j list table FAMILY NAME`: None when the table does not exist.
    fn list<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
    ) -> BoxFut<'a, anyhow::Result<Option<serde_json::Value>>>;
}

/// The `nft` program on `$PATH`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NftProgram;

/// No nft call may hold the VRRP thread longer than this.
const NFT_TIMEOUT: Duration = Duration::from_secs(5);
/// A table listing larger than this is not ours to parse.
const MAX_LISTING: usize = 16 << 20;

async fn nft(args: &[&str], stdin: Option<&str>) -> anyhow::Result<std::process::Output> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("nftables needs the `nft` program (Debian package nftables)")?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .context("writing to nft")?;
    }
    match tokio::time::timeout(NFT_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => out.context("waiting for nft"),
        Err(_) => bail!("nft did not answer within {NFT_TIMEOUT:?}"),
    }
}

impl Nft for NftProgram {
    fn apply<'a>(&'a self, script: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let out = nft(&["-f", "-"], Some(script)).await?;
            if !out.status.success() {
                bail!(
                    "nft refused the rules: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(())
        })
    }

    fn list<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
    ) -> BoxFut<'a, anyhow::Result<Option<serde_json::Value>>> {
        Box::pin(async move {
            let out = nft(&["-j", "list", "table", family, table], None).await?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                if err.contains("No such file or directory") {
                    return Ok(None);
                }
                bail!("nft could not list table {family} {table}: {}", err.trim());
            }
            if out.stdout.len() > MAX_LISTING {
                bail!(
                    "nft listed {} bytes for table {family} {table}",
                    out.stdout.len()
                );
            }
            let v = serde_json::from_slice(&out.stdout)
                .with_context(|| format!("nft's JSON listing of table {family} {table}"))?;
            Ok(Some(v))
        })
    }
}
