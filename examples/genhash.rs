//! `genhash` as a stand-alone program, for comparing with keepalived's (tests/genhash.rs).
use clap::Parser;

#[derive(Parser)]
#[command(name = "genhash", disable_version_flag = true)]
struct Cli {
    #[command(flatten)]
    args: lvsd::genhash::GenhashArgs,
}

fn main() -> std::process::ExitCode {
    lvsd::genhash::run(&Cli::parse().args)
}
