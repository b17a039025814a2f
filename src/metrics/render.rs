//! Scrape-time rendering: the latest [`Status`] and one IPVS dump become OpenMetrics text, next to
//! the event series of [`Metrics`]. Nothing here keeps state between scrapes.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::events::Metrics;
use super::ipvs::{IpvsDump, IpvsStats};
use crate::status::{RealServerStatus, Status, VrrpCounters};

/// What the scrape learned about the kernel table.
#[derive(Debug, Clone)]
pub enum IpvsScrape {
    /// No IPVS source configured (a VRRP-only daemon): no IPVS series at all.
    Disabled,
    /// The dump failed: `lvsd_ipvs_scrape_success 0`, no per-service series.
    Failed,
    Dumped(Arc<IpvsDump>),
}

/// Renders one complete exposition (ends with `# EOF`).
pub fn render(metrics: &Metrics, status: Arc<Status>, ipvs: IpvsScrape) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let mut scrape = Registry::default();
    scrape.register_collector(Box::new(Snapshot {
        status,
        ipvs,
        node_ipvs: metrics.node_ipvs(),
    }));
    // Writing to a String cannot fail; an Err here would only come from a label encoder and would
    // leave a truncated exposition, which Prometheus rejects as a whole (the scrape shows as down).
    let _ = encode_registry(&mut out, &scrape)
        .and_then(|()| encode_registry(&mut out, metrics.registry()))
        .and_then(|()| encode_eof(&mut out));
    drop_empty_label_sets(out)
}

/// prometheus-client writes a sample without labels as `name{} 1`; the exporters (and
/// Prometheus' own output) write `name 1`, which is what text-matching tools expect. A metric
/// name cannot hold `{`, so the first one on a sample line opens its label set.
fn drop_empty_label_sets(text: String) -> String {
    if !text.contains("{} ") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.find('{') {
            Some(i) if !line.starts_with('#') && line[i..].starts_with("{} ") => {
                out.push_str(&line[..i]);
                out.push_str(&line[i + 2..]);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[derive(Debug)]
struct Snapshot {
    status: Arc<Status>,
    ipvs: IpvsScrape,
    node_ipvs: bool,
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        encode_build(&mut enc, &self.status)?;
        encode_vrrp(&mut enc, &self.status)?;
        encode_bfd(&mut enc, &self.status)?;
        encode_servers(&mut enc, &self.status)?;
        encode_reload(&mut enc, &self.status)?;
        match &self.ipvs {
            IpvsScrape::Disabled => Ok(()),
            IpvsScrape::Failed => gauges(
                &mut enc,
                "lvsd_ipvs_scrape_success",
                "Whether reading the kernel IPVS table for this scrape worked",
                [(NoLabels, 0i64)],
            ),
            IpvsScrape::Dumped(dump) => {
                gauges(
                    &mut enc,
                    "lvsd_ipvs_scrape_success",
                    "Whether reading the kernel IPVS table for this scrape worked",
                    [(NoLabels, 1i64)],
                )?;
                encode_ipvs(&mut enc, dump, self.node_ipvs)
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct NoLabels;

impl EncodeLabelSet for NoLabels {
    fn encode(&self, _: &mut prometheus_client::encoding::LabelSetEncoder) -> fmt::Result {
        Ok(())
    }
}

fn counters<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    // The text encoder appends `_total` to counter samples.
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauges<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn encode_build(enc: &mut DescriptorEncoder, status: &Status) -> fmt::Result {
    gauges(
        enc,
        "lvsd_build_info",
        "lvsd version, always 1",
        [([("version", env!("CARGO_PKG_VERSION"))], 1i64)],
    )?;
    // keepalived-exporter's keepalived_up: 1 when it could read keepalived's state. lvsd's
    // equivalent: a configuration is loaded and running (0 while the first load is pending).
    gauges(
        enc,
        "keepalived_up",
        "Status",
        [(
            NoLabels,
            i64::from(status.reload.last_reload_unix_ms.is_some()),
        )],
    )
}

type VrrpLabels<'a> = [Label<'a>; 3];
type Label<'a> = (&'static str, &'a str);

/// The keepalived_exporter counter families: (metric name, help, field).
/// (metric name, help, the field it reads).
type Field<T> = (&'static str, &'static str, fn(&T) -> u64);

const VRRP_COUNTERS: [Field<VrrpCounters>; 14] = [
    (
        "keepalived_advertisements_received",
        "Advertisements received",
        |c| c.advert_rcvd,
    ),
    (
        "keepalived_advertisements_sent",
        "Advertisements sent",
        |c| c.advert_sent,
    ),
    ("keepalived_become_master", "Became master", |c| {
        c.become_master
    }),
    ("keepalived_release_master", "Released master", |c| {
        c.release_master
    }),
    (
        "keepalived_packet_length_errors",
        "Packet length errors",
        |c| c.packet_len_err,
    ),
    (
        "keepalived_advertisements_interval_errors",
        "Advertisement interval errors",
        |c| c.advert_interval_err,
    ),
    ("keepalived_ip_ttl_errors", "TTL errors", |c| c.ip_ttl_err),
    (
        "keepalived_invalid_type_received",
        "Invalid type errors",
        |c| c.invalid_type_rcvd,
    ),
    (
        "keepalived_address_list_errors",
        "Address list errors",
        |c| c.addr_list_err,
    ),
    (
        "keepalived_authentication_invalid",
        "Authentication invalid",
        |c| c.invalid_authtype,
    ),
    (
        "keepalived_authentication_mismatch",
        "Authentication mismatch",
        |c| c.authtype_mismatch,
    ),
    (
        "keepalived_authentication_failure",
        "Authentication failure",
        |c| c.auth_failure,
    ),
    (
        "keepalived_priority_zero_received",
        "Priority zero received",
        |c| c.pri_zero_rcvd,
    ),
    ("keepalived_priority_zero_sent", "Priority zero sent", |c| {
        c.pri_zero_sent
    }),
];

/// Counters lvsd keeps beyond the exporter's set.
const LVSD_VRRP_COUNTERS: [Field<VrrpCounters>; 5] = [
    (
        "lvsd_vrrp_delayed_garp_bursts",
        "Gratuitous ARP / unsolicited NA bursts sent garp_master_delay after becoming master",
        |c| c.garp_delay,
    ),
    (
        "lvsd_vrrp_version_errors",
        "Advertisements with the wrong VRRP version",
        |c| c.version_err,
    ),
    (
        "lvsd_vrrp_vrid_errors",
        "Advertisements for a VRID not configured on the interface",
        |c| c.vrid_err,
    ),
    (
        "lvsd_vrrp_checksum_errors",
        "Advertisements with a bad checksum",
        |c| c.checksum_err,
    ),
    (
        "lvsd_vrrp_split_brain_events",
        "Times another master was heard while this instance was master",
        |c| c.split_brain,
    ),
];

fn encode_vrrp(enc: &mut DescriptorEncoder, status: &Status) -> fmt::Result {
    let vrids: Vec<String> = status.vrrp.iter().map(|v| v.vrid.to_string()).collect();
    let labels = |i: usize| -> VrrpLabels<'_> {
        let v = &status.vrrp[i];
        [
            ("iname", v.name.as_str()),
            ("intf", v.interface.as_str()),
            ("vrid", vrids[i].as_str()),
        ]
    };
    encode_vrrp_states(enc, status, &labels)?;
    encode_vrrp_instances(enc, status, &labels)?;
    encode_scripts(enc, status)
}

/// `keepalived_vrrp_state` and `keepalived_vrrp_excluded_state`, a series per address.
fn encode_vrrp_states<'a>(
    enc: &mut DescriptorEncoder,
    status: &'a Status,
    labels: &dyn Fn(usize) -> VrrpLabels<'a>,
) -> fmt::Result {
    // One state series per virtual address, as keepalived-exporter does: ip_address and intf
    // are the first and third words of keepalived's VIP line (prefix kept unless /32 or /128,
    // the VIP's own device). An instance without addresses still shows its state
    // (ip_address="", the instance's interface).
    let vip_rows = |excluded: bool| {
        let mut rows = Vec::new();
        for (i, v) in status.vrrp.iter().enumerate() {
            let [a, _, c] = labels(i);
            let mut vips = crate::dump::vip_labels(status, v, excluded);
            if vips.is_empty() && !excluded {
                vips.push((String::new(), v.interface.clone()));
            }
            // The same address listed twice would be a duplicate series, which Prometheus
            // rejects for the whole scrape.
            let mut seen = std::collections::HashSet::new();
            for (addr, dev) in vips {
                if seen.insert((addr.clone(), dev.clone())) {
                    rows.push(((a, c, addr, dev), v.state.as_gauge()));
                }
            }
        }
        rows
    };
    let as_labels = |((a, c, addr, dev), g): ((Label<'_>, Label<'_>, String, String), i64)| {
        (
            [
                (a.0, a.1.to_string()),
                ("intf", dev),
                (c.0, c.1.to_string()),
                ("ip_address", addr),
            ],
            g,
        )
    };
    gauges(
        enc,
        "keepalived_vrrp_state",
        "State of vrrp",
        vip_rows(false).into_iter().map(as_labels),
    )?;
    gauges(
        enc,
        "keepalived_vrrp_excluded_state",
        "State of vrrp with excluded VIP",
        vip_rows(true).into_iter().map(as_labels),
    )?;
    Ok(())
}

/// The per-instance families: GARP delay, keepalived's and lvsd's counters, priorities, since.
fn encode_vrrp_instances<'a>(
    enc: &mut DescriptorEncoder,
    status: &'a Status,
    labels: &dyn Fn(usize) -> VrrpLabels<'a>,
) -> fmt::Result {
    // The exporter reads keepalived's garp_delay setting (seconds) into this counter.
    counters(
        enc,
        "keepalived_gratuitous_arp_delay",
        "Gratuitous ARP delay",
        status.vrrp.iter().enumerate().map(|(i, v)| {
            let delay = status
                .vrrp_config
                .instances
                .iter()
                .find(|c| c.name == v.name)
                .map_or(0, |c| c.garp_master_delay.as_secs());
            (labels(i), delay)
        }),
    )?;
    for (name, help, field) in VRRP_COUNTERS.iter().chain(LVSD_VRRP_COUNTERS.iter()) {
        counters(
            enc,
            name,
            help,
            status
                .vrrp
                .iter()
                .enumerate()
                .map(|(i, v)| (labels(i), field(&v.counters))),
        )?;
    }
    gauges(
        enc,
        "lvsd_vrrp_effective_priority",
        "Priority advertised now (base priority adjusted by tracking)",
        status
            .vrrp
            .iter()
            .enumerate()
            .map(|(i, v)| (labels(i), i64::from(v.effective_priority))),
    )?;
    gauges(
        enc,
        "lvsd_vrrp_base_priority",
        "Configured priority",
        status
            .vrrp
            .iter()
            .enumerate()
            .map(|(i, v)| (labels(i), i64::from(v.base_priority))),
    )?;
    gauges(
        enc,
        "lvsd_vrrp_state_since_timestamp_seconds",
        "When the current VRRP state was entered, Unix time",
        status
            .vrrp
            .iter()
            .enumerate()
            .map(|(i, v)| (labels(i), ms_to_s(v.since_unix_ms))),
    )?;
    Ok(())
}

/// The tracked scripts' status and state, as keepalived-exporter names them.
fn encode_scripts(enc: &mut DescriptorEncoder, status: &Status) -> fmt::Result {
    gauges(
        enc,
        "keepalived_script_status",
        "Tracker Script Status",
        status
            .vrrp_scripts
            .iter()
            .map(|s| ([("name", s.name.as_str())], i64::from(s.ok))),
    )?;
    // keepalived's script states as keepalived-exporter numbers them (0 idle, 1 running,
    // 2 requested termination, 3 forcing termination); lvsd's scripts are idle or running.
    gauges(
        enc,
        "keepalived_script_state",
        "Tracker Script State",
        status
            .vrrp_scripts
            .iter()
            .map(|s| ([("name", s.name.as_str())], i64::from(s.running))),
    )
}

fn encode_bfd(enc: &mut DescriptorEncoder, status: &Status) -> fmt::Result {
    let rows: Vec<[(&'static str, String); 2]> = status
        .bfd
        .iter()
        .map(|b| {
            [
                ("name", b.name.clone()),
                ("neighbor", b.neighbor.to_string()),
            ]
        })
        .collect();
    let each = |f: fn(&crate::bfd::SessionStatus) -> u64| {
        rows.iter().cloned().zip(status.bfd.iter().map(f))
    };
    gauges(
        enc,
        "lvsd_bfd_session_state",
        "Whether the BFD session is Up (1) or not (0: AdminDown, Down or Init)",
        rows.iter()
            .cloned()
            .zip(status.bfd.iter().map(|b| i64::from(b.up()))),
    )?;
    counters(
        enc,
        "lvsd_bfd_session_transitions",
        "BFD session state changes since the session started",
        each(|b| b.detail.transitions),
    )?;
    counters(
        enc,
        "lvsd_bfd_packets_received",
        "BFD Control packets accepted for the session",
        each(|b| b.received),
    )?;
    counters(
        enc,
        "lvsd_bfd_packets_sent",
        "BFD Control packets sent by the session",
        each(|b| b.sent),
    )?;
    gauges(
        enc,
        "lvsd_bfd_session_state_since_timestamp_seconds",
        "When the current BFD session state was entered, Unix time",
        rows.iter()
            .cloned()
            .zip(status.bfd.iter().map(|b| ms_to_s(b.detail.since_unix_ms))),
    )?;
    let d = status.bfd_dropped;
    counters(
        enc,
        "lvsd_bfd_dropped_datagrams",
        "BFD datagrams dropped before reaching a session, by reason",
        [
            ("malformed", d.malformed),
            ("no_session", d.no_session),
            ("bad_ttl", d.bad_ttl),
        ]
        .map(|(r, v)| ([("reason", r)], v)),
    )
}

fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn encode_servers(enc: &mut DescriptorEncoder, status: &Status) -> fmt::Result {
    let vs_label = |key: &str| -> [(&'static str, String); 1] { [("virtual_server", key.into())] };
    let vss = &status.virtual_servers;
    gauges(
        enc,
        "lvsd_virtual_server_quorum_up",
        "Whether the live weight of the virtual server meets its quorum",
        vss.iter()
            .map(|v| (vs_label(&v.key), i64::from(v.quorum_up))),
    )?;
    gauges(
        enc,
        "lvsd_virtual_server_quorum",
        "Configured quorum (minimum live weight)",
        vss.iter().map(|v| (vs_label(&v.key), v.quorum)),
    )?;
    gauges(
        enc,
        "lvsd_virtual_server_live_weight",
        "Sum of the weights of the real servers that are up",
        vss.iter().map(|v| (vs_label(&v.key), v.live_weight)),
    )?;
    gauges(
        enc,
        "lvsd_virtual_server_sorry_server_active",
        "Whether the sorry server replaces the real servers",
        vss.iter()
            .map(|v| (vs_label(&v.key), i64::from(v.sorry_server_active))),
    )?;

    // Real server labels are built once and shared by every family below.
    let rs_rows: Vec<RsRow<'_>> = vss
        .iter()
        .flat_map(|v| {
            v.real_servers.iter().map(|r| {
                (
                    v.key.as_str(),
                    SocketAddr::new(r.address, r.port).to_string(),
                    r,
                )
            })
        })
        .collect();
    gauges(
        enc,
        "lvsd_real_server_up",
        "Whether the real server passes its health checks",
        rs_rows
            .iter()
            .map(|row| (rs_labels(row), i64::from(row.2.up))),
    )?;
    gauges(
        enc,
        "lvsd_real_server_weight",
        "Configured (or misc_dynamic) weight of the real server",
        rs_rows.iter().map(|row| (rs_labels(row), row.2.weight)),
    )?;
    gauges(
        enc,
        "lvsd_real_server_live_weight",
        "Weight lvsd programs into IPVS for the real server (0 when inhibited)",
        rs_rows
            .iter()
            .filter_map(|row| Some((rs_labels(row), i64::from(row.2.live_weight?)))),
    )?;
    counters(
        enc,
        "lvsd_real_server_transitions",
        "Health transitions (up to down and down to up) of the real server",
        rs_rows
            .iter()
            .map(|row| (rs_labels(row), row.2.transitions)),
    )?;
    gauges(
        enc,
        "lvsd_real_server_last_change_timestamp_seconds",
        "When the health of the real server last changed (its first verdict, then each transition), Unix time",
        rs_rows
            .iter()
            .filter_map(|row| Some((rs_labels(row), ms_to_s(row.2.last_check_unix_ms?)))),
    )
}

type RsRow<'a> = (&'a str, String, &'a RealServerStatus);

fn rs_labels<'a>(row: &'a RsRow<'a>) -> [(&'static str, &'a str); 2] {
    [("virtual_server", row.0), ("real_server", row.1.as_str())]
}

fn encode_reload(enc: &mut DescriptorEncoder, status: &Status) -> fmt::Result {
    let r = &status.reload;
    counters(
        enc,
        "lvsd_config_reloads",
        "Configuration reloads by result",
        [
            ([("result", "success")], r.successes),
            ([("result", "failure")], r.failures),
        ],
    )?;
    gauges(
        enc,
        "lvsd_config_last_reload_successful",
        "Whether the last configuration reload succeeded",
        [(NoLabels, i64::from(r.last_error.is_none()))],
    )?;
    gauges(
        enc,
        "lvsd_config_last_reload_timestamp_seconds",
        "When the running configuration was loaded (start-up or the last successful reload), Unix time",
        r.last_reload_unix_ms.map(|ms| (NoLabels, ms_to_s(ms))),
    )?;
    gauges(
        enc,
        "lvsd_config_unimplemented_keywords",
        "Keywords of the running configuration lvsd does not implement (listed in /status)",
        [(NoLabels, r.unimplemented.len() as i64)],
    )
}

/// node_exporter's backend label values, computed once per destination.
struct BackendLabels<'a> {
    local_address: String,
    local_port: String,
    local_mark: String,
    proto: &'a str,
    remote_address: String,
    remote_port: String,
}

impl BackendLabels<'_> {
    fn service(&self) -> [(&'static str, &str); 4] {
        [
            ("local_address", &self.local_address),
            ("local_port", &self.local_port),
            ("local_mark", &self.local_mark),
            ("proto", self.proto),
        ]
    }

    fn backend(&self) -> [(&'static str, &str); 6] {
        [
            ("local_address", &self.local_address),
            ("local_port", &self.local_port),
            ("local_mark", &self.local_mark),
            ("proto", self.proto),
            ("remote_address", &self.remote_address),
            ("remote_port", &self.remote_port),
        ]
    }
}

/// (suffix, node_exporter's HELP for the whole-kernel total, what it counts, field).
type StatField = (
    &'static str,
    &'static str,
    &'static str,
    fn(&IpvsStats) -> u64,
);

const STATS: [StatField; 5] = [
    (
        "connections",
        "The total number of connections made.",
        "connections",
        |s| s.connections,
    ),
    (
        "incoming_packets",
        "The total number of incoming packets.",
        "incoming packets",
        |s| s.incoming_packets,
    ),
    (
        "outgoing_packets",
        "The total number of outgoing packets.",
        "outgoing packets",
        |s| s.outgoing_packets,
    ),
    (
        "incoming_bytes",
        "The total amount of incoming data.",
        "incoming bytes",
        |s| s.incoming_bytes,
    ),
    (
        "outgoing_bytes",
        "The total amount of outgoing data.",
        "outgoing bytes",
        |s| s.outgoing_bytes,
    ),
];

fn addr_label(a: IpAddr) -> String {
    a.to_string()
}

fn encode_ipvs(enc: &mut DescriptorEncoder, dump: &IpvsDump, node_ipvs: bool) -> fmt::Result {
    // Firewall-mark services have no address or port: node_exporter leaves local_address empty,
    // local_port 0 and puts the mark in local_mark.
    let mut services = Vec::with_capacity(dump.services.len());
    let mut backends = Vec::new();
    for s in &dump.services {
        let local_address = s.address.map(addr_label).unwrap_or_default();
        let local_port = s.port.to_string();
        // /proc/net/ip_vs prints a mark as 8 upper-case hex digits, and node_exporter passes
        // that text through: mark 1 is "00000001".
        let local_mark = if s.fwmark != 0 {
            format!("{:08X}", s.fwmark)
        } else {
            String::new()
        };
        for d in &s.dests {
            backends.push((
                BackendLabels {
                    local_address: local_address.clone(),
                    local_port: local_port.clone(),
                    local_mark: local_mark.clone(),
                    proto: &s.proto,
                    remote_address: addr_label(d.address),
                    remote_port: d.port.to_string(),
                },
                d,
            ));
        }
        services.push((
            BackendLabels {
                local_address,
                local_port,
                local_mark,
                proto: &s.proto,
                remote_address: String::new(),
                remote_port: String::new(),
            },
            s,
        ));
    }

    if node_ipvs {
        encode_node_ipvs(enc, dump, &backends)?;
    }
    for (suffix, _, what, field) in STATS {
        counters(
            enc,
            &format!("lvsd_ipvs_service_{suffix}"),
            &format!("The total number of {what} of the virtual service"),
            services.iter().map(|(l, s)| (l.service(), field(&s.stats))),
        )?;
        counters(
            enc,
            &format!("lvsd_ipvs_backend_{suffix}"),
            &format!("The total number of {what} of the destination"),
            backends.iter().map(|(l, d)| (l.backend(), field(&d.stats))),
        )?;
    }
    Ok(())
}

type Backend<'a> = (BackendLabels<'a>, &'a super::ipvs::IpvsDest);

/// node_exporter's ipvs collector families, with its names, labels and HELP texts.
fn encode_node_ipvs(
    enc: &mut DescriptorEncoder,
    dump: &IpvsDump,
    backends: &[Backend<'_>],
) -> fmt::Result {
    if let Some(t) = &dump.totals {
        for (suffix, help, _, field) in STATS {
            counters(
                enc,
                &format!("node_ipvs_{suffix}"),
                help,
                [(NoLabels, field(t))],
            )?;
        }
    }
    gauges(
        enc,
        "node_ipvs_backend_connections_active",
        "The current active connections by local and remote address.",
        backends
            .iter()
            .map(|(l, d)| (l.backend(), i64::from(d.active_connections))),
    )?;
    gauges(
        enc,
        "node_ipvs_backend_connections_inactive",
        "The current inactive connections by local and remote address.",
        backends
            .iter()
            .map(|(l, d)| (l.backend(), i64::from(d.inactive_connections))),
    )?;
    gauges(
        enc,
        "node_ipvs_backend_weight",
        "The current backend weight by local and remote address.",
        backends
            .iter()
            .map(|(l, d)| (l.backend(), i64::from(d.weight))),
    )
}

/// Content type of [`render`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of [`to_prometheus_text`]'s output.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrites an OpenMetrics exposition into the classic Prometheus text format (0.0.4), for
/// clients that do not ask for OpenMetrics (curl, `promtool check metrics`, older scrapers). The
/// differences that matter here: a counter family is named with its `_total` suffix in HELP/TYPE,
/// and there is no `# EOF` / `# UNIT`.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut pending_help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(help) = line.strip_prefix("# HELP ") {
            if let Some(h) = pending_help.replace(help) {
                push_line(&mut out, &["# HELP ", h]);
            }
            continue;
        }
        if let Some(ty) = line.strip_prefix("# TYPE ") {
            let (name, kind) = ty.split_once(' ').unwrap_or((ty, ""));
            let suffix = if kind == "counter" && !name.ends_with("_total") {
                "_total"
            } else {
                ""
            };
            if let Some(h) = pending_help.take() {
                let (hname, text) = h.split_once(' ').unwrap_or((h, ""));
                push_line(&mut out, &["# HELP ", hname, suffix, " ", text]);
            }
            push_line(&mut out, &["# TYPE ", name, suffix, " ", kind]);
            continue;
        }
        if let Some(h) = pending_help.take() {
            push_line(&mut out, &["# HELP ", h]);
        }
        push_line(&mut out, &[line]);
    }
    out
}

fn push_line(out: &mut String, parts: &[&str]) {
    for p in parts {
        out.push_str(p);
    }
    out.push('\n');
}
