//! The real kernel behind the director's [`Kernel`] seam: `ipvs::Client` over generic netlink.

use ipvs::{Client, DaemonState, Plan, Table};

use super::run::{Kernel, KernelError};
use super::spec::Globals;

impl Kernel for Client {
    async fn dump(&self) -> Result<Table, KernelError> {
        Ok(Client::dump(self).await?)
    }

    async fn apply(&self, plan: &Plan) -> Result<(), KernelError> {
        let report = Client::apply(self, plan).await?;
        let failed: Vec<String> = report
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err().map(|e| format!("`{}`: {e}", o.op)))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} of {} operations failed: {}",
                failed.len(),
                plan.len(),
                failed.join("; ")
            )
            .into())
        }
    }

    /// `lvs_timeouts` are set when configured; `lvs_sync_daemon` runs as master and backup
    /// (keepalived without `inst`), restarted only when its settings differ from the kernel's.
    async fn setup(&self, globals: &Globals) -> Result<(), KernelError> {
        if let Some(t) = &globals.timeouts {
            self.set_timeouts(t).await?;
        }
        if let Some(want) = &globals.sync_daemon {
            let running = self.daemons().await?;
            for state in [DaemonState::Master, DaemonState::Backup] {
                let mut d = want.clone();
                d.state = state;
                if running.contains(&d) {
                    continue;
                }
                if running.iter().any(|r| r.state == state) {
                    self.del_daemon(state).await?;
                }
                self.add_daemon(&d).await?;
            }
        }
        Ok(())
    }
}
