//! `ipvsadm -Ln` through the ipvs crate: prints the kernel's table, or the error.
//!
//! Run in the IPVS VM: `tests/vm/ipvs-vm.sh target/debug/examples/ipvs_list`

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let client = match ipvs::Client::connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvs_list: {e}");
            return ExitCode::FAILURE;
        }
    };
    match (client.info().await, client.dump().await) {
        (Ok(info), Ok(table)) => {
            println!(
                "IP Virtual Server version {} (size={})",
                info.version_string(),
                info.conn_tab_size
            );
            for entry in table.services.values() {
                let s = &entry.service;
                println!(
                    "{} {} flags={:#x} timeout={}",
                    s.key, s.scheduler, s.flags.0, s.timeout
                );
                for d in entry.dests.values() {
                    println!("  -> {} {} {}", d.key(), d.forward.ipvsadm_name(), d.weight);
                }
            }
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("ipvs_list: {e}");
            ExitCode::FAILURE
        }
    }
}
