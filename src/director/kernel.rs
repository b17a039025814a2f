//! The real kernel behind the director's [`Kernel`] seam: `ipvs::Client` over generic netlink.

use ipvs::{Client, DaemonState, Plan, Table};

use super::run::{Kernel, KernelError};
use super::spec::Globals;

impl Kernel for Client {
    async fn dump(&self) -> Result<Table, KernelError> {
        Ok(Client::dump(self).await?)
    }

    async fn read_services(
        &self,
        keys: &std::collections::BTreeSet<ipvs::ServiceKey>,
    ) -> Result<Table, KernelError> {
        Ok(Client::read_services(self, keys).await?)
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

    /// `lvs_timeouts` are set when configured. The sync daemon runs in `roles` (see
    /// `run::sync_roles`), restarted only when its settings differ from the kernel's; the
    /// other role is stopped.
    async fn setup(&self, globals: &Globals, roles: &[DaemonState]) -> Result<(), KernelError> {
        if let Some(t) = &globals.timeouts {
            self.set_timeouts(t).await?;
        }
        if let Some(want) = &globals.sync_daemon {
            let running = self.daemons().await?;
            for state in [DaemonState::Master, DaemonState::Backup] {
                let is_running = running.iter().any(|r| r.state == state);
                if !roles.contains(&state) {
                    if is_running {
                        self.del_daemon(state).await?;
                    }
                    continue;
                }
                let mut d = want.clone();
                d.state = state;
                if running.iter().any(|r| same_daemon(r, &d)) {
                    continue;
                }
                if is_running {
                    self.del_daemon(state).await?;
                }
                self.add_daemon(&d).await?;
            }
        }
        Ok(())
    }
}

/// Whether a running daemon has the configured settings; 0 / unset fields mean "kernel
/// default", which the kernel reports filled in (maxlen 1472, port 8848, ttl 1, 224.0.0.81).
fn same_daemon(running: &ipvs::DaemonConfig, want: &ipvs::DaemonConfig) -> bool {
    running.state == want.state
        && running.mcast_ifn == want.mcast_ifn
        && running.sync_id == want.sync_id
        && (want.sync_maxlen == 0 || running.sync_maxlen == want.sync_maxlen)
        && (want.mcast_group.is_none() || running.mcast_group == want.mcast_group)
        && (want.mcast_port == 0 || running.mcast_port == want.mcast_port)
        && (want.mcast_ttl == 0 || running.mcast_ttl == want.mcast_ttl)
}
