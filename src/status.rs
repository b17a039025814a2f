//! The running daemon's state as plain data: what `/status`, `lvsd ctl status`, the metrics and
//! the keepalived-compatible dumps render. Producers (the VRRP instances, the director) publish
//! snapshots into a [`StatusHub`]; readers take the latest. Level-triggered: a snapshot replaces
//! the previous one, nothing is accumulated here except what the producer itself counts.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

/// VRRP state as keepalived's exporter numbers it (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpState {
    #[default]
    Init,
    Backup,
    Master,
    Fault,
}

impl VrrpState {
    /// The gauge value keepalived_exporter uses for `keepalived_vrrp_state`.
    pub fn as_gauge(self) -> i64 {
        match self {
            VrrpState::Init => 0,
            VrrpState::Backup => 1,
            VrrpState::Master => 2,
            VrrpState::Fault => 3,
        }
    }
}

/// Per-instance VRRP counters, named after keepalived's statistics (its 14 receive-error
/// counters plus the send/transition counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VrrpCounters {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub packet_len_err: u64,
    pub advert_interval_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
    pub version_err: u64,
    pub vrid_err: u64,
    pub checksum_err: u64,
    pub garp_delay: u64,
    pub split_brain: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpInstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    /// "inet" or "inet6".
    pub family: &'static str,
    pub state: VrrpState,
    pub base_priority: u8,
    pub effective_priority: u8,
    /// Address of the current master as last heard (our own address when we are master).
    pub master_addr: Option<IpAddr>,
    /// The master's advertised priority as a backup heard it; 0 otherwise.
    pub master_priority: u8,
    /// When the current state was entered, Unix milliseconds.
    pub since_unix_ms: u64,
    /// The same instant in microseconds, for the keepalived-compatible dumps (keepalived prints
    /// transition times to the microsecond); 0 when the producer only knows milliseconds.
    #[serde(skip)]
    pub since_unix_us: u64,
    /// Virtual addresses as configured (`10.0.0.1/24`).
    pub vips: Vec<String>,
    pub counters: VrrpCounters,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScriptStatus {
    pub name: String,
    /// Current verdict after rise/fall.
    pub ok: bool,
    /// Whether a run of the script is in progress (keepalived's script state `running`;
    /// otherwise `idle`).
    #[serde(default)]
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServerStatus {
    pub address: IpAddr,
    pub port: u16,
    pub up: bool,
    /// Weight from the configuration (or the last misc_dynamic result).
    pub weight: i64,
    /// Weight the kernel should hold now (0 when inhibited), None when the server is not in IPVS.
    pub live_weight: Option<u32>,
    pub last_failure: Option<String>,
    /// When the server's health last changed (up to down or down to up; its first verdict
    /// counts), not when it was last checked. The name is kept for `/status` readers.
    pub last_check_unix_ms: Option<u64>,
    pub transitions: u64,
    /// Operator state, slow start and kernel counters (lvsd extensions).
    #[serde(flatten)]
    pub runtime: RealServerRuntime,
}

/// What the operator and the kernel say about a real server, beside its health.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RealServerRuntime {
    /// `draining`, `drained`, `disabled` (its own or its virtual server's); None: normal.
    pub operator: Option<String>,
    pub operator_since_unix_ms: Option<u64>,
    /// Slow start in progress: `live_weight` is below `weight`.
    pub ramping: bool,
    /// Connection counters the kernel last reported (summed over the virtual server's
    /// services); None without a kernel or before the first read.
    pub active_conns: Option<u64>,
    pub inactive_conns: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServerStatus {
    /// Display key as ipvsadm prints it: "TCP 10.0.0.1:80", "FWM 1", "UDP [2001:db8::1]:53".
    pub key: String,
    pub scheduler: String,
    pub quorum: u64,
    /// Sum of the weights of the real servers that are up.
    pub live_weight: u64,
    pub quorum_up: bool,
    pub sorry_server_active: bool,
    /// Operator state of the whole virtual server (lvsd extension); None: normal.
    pub operator: Option<String>,
    /// Why its checks are paused (`ha_suspend` while its addresses are away); None: running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks_suspended: Option<String>,
    pub real_servers: Vec<RealServerStatus>,
}

/// Config reload bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReloadStatus {
    pub config_file: String,
    pub successes: u64,
    pub failures: u64,
    /// When the running configuration was loaded: at start-up, then at each successful reload
    /// (a failed reload keeps the running configuration, and this time).
    pub last_reload_unix_ms: Option<u64>,
    pub last_error: Option<String>,
    /// Keywords of the running configuration lvsd does not implement, one
    /// `FILE:LINE:COL: lvsd does not implement X (in BLOCK): effect` each
    /// (`Config::unimplemented_lines`).
    pub unimplemented: Vec<String>,
}

/// Everything one snapshot holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    pub vrrp: Vec<VrrpInstanceStatus>,
    pub vrrp_scripts: Vec<VrrpScriptStatus>,
    pub virtual_servers: Vec<VirtualServerStatus>,
    pub reload: ReloadStatus,
    /// Scripts of the running configuration that do not run, and why (script security, an
    /// unknown user, a missing program).
    pub disabled_scripts: Vec<crate::scripts::DisabledScript>,
    /// BFD sessions (`bfd_instance`), by name.
    pub bfd: Vec<crate::bfd::SessionStatus>,
    /// BFD datagrams dropped before reaching a session, by reason.
    pub bfd_dropped: crate::bfd::service::Dropped,
    /// The VRRP configuration the instances run: what the keepalived-compatible dumps and the
    /// exporter-compatible metrics print beside the live state (VIP devices, excluded VIPs,
    /// advert interval, garp settings, tracked scripts). Not part of `/status`.
    #[serde(skip)]
    pub vrrp_config: Arc<crate::vrrp::VrrpConfig>,
    /// The running `global_defs`, for the dumps' "Global definitions" section.
    #[serde(skip)]
    pub global_defs: Arc<crate::config::model::GlobalDefs>,
}

/// Where producers publish and readers subscribe; cheap to clone.
#[derive(Clone)]
pub struct StatusHub {
    pub vrrp: Arc<watch::Sender<Vec<VrrpInstanceStatus>>>,
    pub vrrp_scripts: Arc<watch::Sender<Vec<VrrpScriptStatus>>>,
    pub virtual_servers: Arc<watch::Sender<Vec<VirtualServerStatus>>>,
    pub reload: Arc<watch::Sender<ReloadStatus>>,
    /// The event stream (lives as long as the daemon, across reloads).
    pub events: crate::events::EventBus,
    /// Drain / disable / enable state, read by the director.
    pub operator: crate::director::operator::OperatorStore,
    /// Bumped by the STATS_CLEAR signal: VRRP instances zero their counters.
    pub stats_clear: Arc<watch::Sender<u64>>,
    pub disabled_scripts: Arc<watch::Sender<Vec<crate::scripts::DisabledScript>>>,
    pub vrrp_config: Arc<watch::Sender<Arc<crate::vrrp::VrrpConfig>>>,
    /// (instance, start of its mastership in µs) that must leave MASTER now: a tracked
    /// virtual address, route or rule was deleted (`crate::routes`).
    pub vrrp_resign: tokio::sync::broadcast::Sender<(String, u64)>,
    /// Instances a `track_group` puts in FAULT: a static address/route/rule of the group is
    /// deleted and cannot be put back (`crate::routes`).
    pub static_track_faults: Arc<watch::Sender<std::collections::BTreeSet<String>>>,
    /// BFD sessions by name (`track_bfd`, `BFD_CHECK`).
    pub bfd: Arc<watch::Sender<crate::bfd::StatusMap>>,
    pub bfd_dropped: Arc<watch::Sender<crate::bfd::service::Dropped>>,
    pub global_defs: Arc<watch::Sender<Arc<crate::config::model::GlobalDefs>>>,
}

impl Default for StatusHub {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusHub {
    pub fn new() -> Self {
        Self {
            vrrp: Arc::new(watch::channel(Vec::new()).0),
            vrrp_scripts: Arc::new(watch::channel(Vec::new()).0),
            virtual_servers: Arc::new(watch::channel(Vec::new()).0),
            reload: Arc::new(watch::channel(ReloadStatus::default()).0),
            events: crate::events::EventBus::new(),
            operator: Default::default(),
            stats_clear: Arc::new(watch::channel(0).0),
            disabled_scripts: Arc::new(watch::channel(Vec::new()).0),
            vrrp_config: Arc::new(watch::channel(Arc::default()).0),
            vrrp_resign: tokio::sync::broadcast::channel(64).0,
            static_track_faults: Arc::new(watch::channel(Default::default()).0),
            bfd: Arc::new(watch::channel(Default::default()).0),
            bfd_dropped: Arc::new(watch::channel(Default::default()).0),
            global_defs: Arc::new(watch::channel(Arc::default()).0),
        }
    }

    /// The latest of everything, as one value.
    pub fn snapshot(&self) -> Status {
        Status {
            vrrp: self.vrrp.borrow().clone(),
            vrrp_scripts: self.vrrp_scripts.borrow().clone(),
            virtual_servers: self.virtual_servers.borrow().clone(),
            reload: self.reload.borrow().clone(),
            disabled_scripts: self.disabled_scripts.borrow().clone(),
            bfd: self.bfd.borrow().values().cloned().collect(),
            bfd_dropped: *self.bfd_dropped.borrow(),
            vrrp_config: self.vrrp_config.borrow().clone(),
            global_defs: self.global_defs.borrow().clone(),
        }
    }
}
