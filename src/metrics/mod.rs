//! Prometheus metrics: an explicit `prometheus-client` registry, OpenMetrics text.
//!
//! Two kinds of series, kept apart so nothing is counted twice:
//! - **Level** series are rendered at scrape time from the latest [`Status`] snapshot (VRRP state and
//!   counters, real/virtual server health, reloads) and from a kernel IPVS dump taken for that
//!   scrape ([`IpvsDump`]). The producers already keep these numbers; the renderer only reads them.
//! - **Event** series (check durations, failures by reason) only exist as events; the director
//!   reports them through the cheap, cloneable [`Metrics`] handle.
//!
//! Names and labels follow the tools operators already use: the `keepalived_*` VRRP families of the
//! widely used keepalived exporter (labels `iname`, `intf`, `vrid`), and the `node_ipvs_*` families
//! of node_exporter (labels `local_address`, `local_port`, `local_mark`, `proto`,
//! `remote_address`, `remote_port`), so dashboards and alerts keep working. Everything else is
//! `lvsd_*`.

mod events;
mod ipvs;
mod render;

pub use events::{CheckResult, Metrics};
pub use ipvs::{
    IpvsDest, IpvsDump, IpvsService, IpvsStats, parse_proc_ip_vs_stats, read_proc_totals,
};
pub use render::{
    IpvsScrape, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE, render, to_prometheus_text,
};
