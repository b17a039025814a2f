//! What the VRRP runtime needs to know, already validated: one [`InstanceConfig`] per
//! `vrrp_instance`, [`ScriptConfig`] per `vrrp_script`, [`SyncGroupConfig`] per
//! `vrrp_sync_group`. Durations are `Duration`s; on the serde side they are seconds as floats
//! (`"advert_int": 0.01`) so a JSON file can drive the runtime without the keepalived parser.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use checkers::Script;

use super::packet::{Auth, ChecksumMode, Version};

/// Everything `vrrp::run` drives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VrrpConfig {
    pub instances: Vec<InstanceConfig>,
    pub scripts: Vec<ScriptConfig>,
    pub sync_groups: Vec<SyncGroupConfig>,
    /// `vrrp_rt_priority`: SCHED_RR priority of the VRRP thread (None: normal scheduling).
    pub realtime_priority: Option<u8>,
    /// `max_auto_priority` / `min_auto_priority_delay` (`crate::tuning::auto_priority`).
    pub max_auto_priority: i32,
    #[serde(with = "opt_secs")]
    pub min_auto_priority_delay: Option<Duration>,
    /// SO_PRIORITY of advert sockets (6 = TC_PRIO_INTERACTIVE, puts adverts in the high band).
    pub socket_priority: Option<u32>,
    /// `-V/--dont-release-vrrp`: when lvsd stops, masters keep their VIPs and routes and send
    /// no priority-0 advert (a reload still releases what it removes).
    pub keep_vips_on_stop: bool,
    /// `vrrp_track_process` blocks some instance tracks.
    pub processes: Vec<super::track_process::ProcessConfig>,
    /// `linkbeat_interfaces`: link state polled by ioctl rather than read from netlink.
    pub linkbeat: Vec<String>,
    /// `vrrp_startup_delay`: instances stay in INIT this long after lvsd starts.
    #[serde(with = "secs")]
    pub startup_delay: Duration,
    /// global_defs `nftables*`: where `no_accept` rules go (see [`crate::nft::vrrp`]).
    pub firewall: crate::nft::vrrp::FirewallConfig,
}

/// One virtual address (`10.0.0.1/24 dev eth1 brd 10.0.0.255 scope global label eth1:1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vip {
    pub addr: IpAddr,
    /// Default /32 or /128 as keepalived does.
    pub prefix: u8,
    #[serde(default)]
    pub dev: Option<String>,
    #[serde(default)]
    pub brd: Option<Ipv4Addr>,
    /// rtnetlink scope value (0 global, 253 link, 254 host).
    #[serde(default)]
    pub scope: Option<u8>,
    #[serde(default)]
    pub label: Option<String>,
    /// `preferred_lft N|forever` as written (`u32::MAX` is forever); see
    /// [`Vip::preferred_lft`].
    #[serde(default)]
    pub preferred_lft: Option<u32>,
}

impl Vip {
    /// The IPv6 preferred lifetime to install, `u32::MAX` being forever. keepalived.conf(5):
    /// a /128 is deprecated (0) unless `preferred_lft` says otherwise, so it is never picked
    /// as a source address. IPv4 has no preferred lifetime.
    pub fn preferred_lft(&self) -> u32 {
        match self.preferred_lft {
            Some(v) => v,
            None if self.addr.is_ipv6() && self.prefix == 128 => 0,
            None => u32::MAX,
        }
    }

    pub fn new(addr: IpAddr) -> Vip {
        Vip {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
            dev: None,
            brd: None,
            scope: None,
            label: None,
            preferred_lft: None,
        }
    }

    /// `10.0.0.1/24`, as keepalived prints it.
    pub fn display(&self) -> String {
        format!("{}/{}", self.addr, self.prefix)
    }
}

/// `track_script` / `track_interface` / `track_file` entry with its optional weight. Without a
/// weight, a failure puts the instance in FAULT; with one, it adds to the priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub name: String,
    #[serde(default)]
    pub weight: Option<i32>,
    /// `weight -10 reverse`.
    #[serde(default)]
    pub reverse: bool,
}

/// The notify hooks of an instance, resolved (user, security) when the configuration loaded;
/// a disabled hook is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notify {
    #[serde(with = "script_opt")]
    pub master: Option<Script>,
    #[serde(with = "script_opt")]
    pub backup: Option<Script>,
    #[serde(with = "script_opt")]
    pub fault: Option<Script>,
    #[serde(with = "script_opt")]
    pub stop: Option<Script>,
    /// Generic `notify`: called with `INSTANCE name STATE priority`.
    #[serde(with = "script_opt")]
    pub any: Option<Script>,
    /// `notify_master_rx_lower_pri`: run when the master hears a lower-priority advert.
    #[serde(with = "script_opt")]
    pub master_rx_lower_pri: Option<Script>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AuthKind {
    #[default]
    None,
    Pass,
    Ah,
}

/// One `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceConfig {
    pub name: String,
    /// Empty for a unicast instance without `interface` (its VIPs name their devices).
    pub interface: String,
    /// `vrf NAME` (only without `interface`): the sockets are bound to this VRF device.
    pub vrf: Option<String>,
    pub vrid: u8,
    /// 2 or 3.
    pub version: u8,
    /// `state MASTER`: like keepalived, only the owner (255) acts on it (Master at once);
    /// below 255 every instance starts in Backup.
    pub initial_master: bool,
    pub priority: u8,
    #[serde(with = "secs")]
    pub advert_int: Duration,
    /// `false` with `nopreempt`.
    pub preempt: bool,
    #[serde(with = "secs")]
    pub preempt_delay: Duration,
    pub auth_type: AuthKind,
    pub auth_pass: String,
    pub vips: Vec<Vip>,
    /// `virtual_ipaddress_excluded`: installed but not advertised.
    pub vips_excluded: Vec<Vip>,
    pub mcast_src_ip: Option<IpAddr>,
    /// `mcast_dst_ip` (default 224.0.0.18 / ff02::12).
    pub mcast_dst_ip: Option<IpAddr>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    /// `v3_checksum_as_v2`.
    pub checksum_as_v2: bool,
    /// `accept` / `no_accept`: false drops traffic to the VIPs while a non-owner master
    /// (see [`crate::nft::vrrp`]).
    pub accept: bool,
    /// `use_vmac [NAME]`: Some(name) creates a macvlan with 00:00:5e:00:01:VRID.
    pub use_vmac: Option<String>,
    /// `use_vmac NAME MAC`: the VMAC's address (default 00:00:5e:00:01|02:VRID).
    pub use_vmac_mac: Option<[u8; 6]>,
    /// `vmac_xmit_base`: adverts are sent and received on the parent, not the VMAC.
    pub vmac_xmit_base: bool,
    /// `use_vmac_addr`: VIPs naming another interface go on a VMAC made on it
    /// (`super::vmac_addr`).
    pub use_vmac_addr: bool,
    /// `use_ipvlan`: adverts go over an ipvlan the instance creates ([`super::ipvlan`]).
    #[serde(default)]
    pub use_ipvlan: Option<crate::config::model::UseIpvlan>,
    /// `unicast_ttl`: TTL / hop limit of unicast adverts (default 255).
    pub unicast_ttl: Option<u8>,
    /// `kernel_rx_buf_size`: SO_RCVBUF of the receive socket (default: the kernel's).
    pub kernel_rx_buf_size: Option<u32>,
    #[serde(with = "secs")]
    pub garp_master_delay: Duration,
    pub garp_master_repeat: u32,
    #[serde(with = "opt_secs")]
    pub garp_master_refresh: Option<Duration>,
    pub garp_master_refresh_repeat: u32,
    /// `garp_extra_if [all] SECS`: while MASTER, a GARP/NA every SECS for the VIPs on other
    /// interfaces than the instance's (only VMAC ones unless `garp_extra_if_all`).
    #[serde(with = "opt_secs")]
    pub garp_extra_if: Option<Duration>,
    pub garp_extra_if_all: bool,
    /// `garp_lower_prio_delay` / `_repeat`: GARP bursts after a lower-priority advert heard
    /// as master (at once, and again after the delay; zero delay: no second burst).
    #[serde(with = "secs")]
    pub garp_lower_prio_delay: Duration,
    pub garp_lower_prio_repeat: u32,
    /// `vrrp_garp_interval` / `garp_group garp_interval`: minimum gap between two GARPs on
    /// the interface (or across the group). Zero: none.
    #[serde(with = "secs")]
    pub garp_interval: Duration,
    /// `vrrp_gna_interval` / `garp_group gna_interval`, for unsolicited NAs.
    #[serde(with = "secs")]
    pub gna_interval: Duration,
    /// The garp_group the interface is in (its pacing is shared by the group's interfaces).
    pub garp_group: Option<String>,
    pub track_scripts: Vec<Tracked>,
    pub track_interfaces: Vec<Tracked>,
    pub track_files: Vec<TrackFileRef>,
    /// `track_bfd` (the instance's and its sync group's), by bfd_instance name.
    #[serde(default)]
    pub track_bfds: Vec<Tracked>,
    /// `track_process` lines of the instance and of its sync group (a group's tracked
    /// process acts on every member, as keepalived's sync-group tracking does).
    pub track_processes: Vec<Tracked>,
    /// `notify_priority_changes`: each change of the effective priority is published as an
    /// event (`MASTER_PRIORITY 90`, keepalived's notify-FIFO words).
    pub notify_priority_changes: bool,
    /// `linkbeat_use_polling` (deprecated form): poll this instance's interface.
    pub linkbeat_use_polling: bool,
    /// `dont_track_primary`: ignore the instance interface's own link state.
    pub dont_track_primary: bool,
    pub notify: Notify,
    /// `lower_prio_no_advert`, `higher_prio_send_advert`, `down_timer_adverts` (strict mode
    /// already applied).
    #[serde(flatten)]
    pub advert_rules: super::fsm::AdvertRules,
    /// `check_unicast_src`: unicast adverts from sources that are no `unicast_peer` are dropped.
    pub check_unicast_src: bool,
    /// `skip_check_adv_addr`: adverts from the master last heard skip the address-list check.
    pub skip_check_adv_addr: bool,
    /// `unicast_fault_no_peer` with no `unicast_peer`: the instance stays in FAULT instead of
    /// falling back to multicast.
    pub fault_no_peer: bool,
    /// `promote_secondaries`: set the interface's `promote_secondaries` (IPv4) so removing one
    /// address of a subnet keeps the others.
    pub promote_secondaries: bool,
    /// `track_src_ip`: FAULT while the configured source address (`unicast_src_ip` /
    /// `mcast_src_ip`) is not on this host.
    pub track_src_ip: bool,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            name: String::new(),
            interface: String::new(),
            vrf: None,
            vrid: 0,
            version: 2,
            initial_master: false,
            priority: 100,
            advert_int: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            auth_type: AuthKind::None,
            auth_pass: String::new(),
            vips: Vec::new(),
            vips_excluded: Vec::new(),
            mcast_src_ip: None,
            mcast_dst_ip: None,
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            checksum_as_v2: false,
            accept: true,
            use_vmac: None,
            use_vmac_mac: None,
            vmac_xmit_base: false,
            use_vmac_addr: false,
            use_ipvlan: None,
            unicast_ttl: None,
            kernel_rx_buf_size: None,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: None,
            garp_master_refresh_repeat: 1,
            garp_extra_if: None,
            garp_extra_if_all: false,
            garp_lower_prio_delay: Duration::from_secs(5),
            garp_lower_prio_repeat: 5,
            garp_interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
            garp_group: None,
            track_scripts: Vec::new(),
            track_interfaces: Vec::new(),
            track_files: Vec::new(),
            track_bfds: Vec::new(),
            track_processes: Vec::new(),
            notify_priority_changes: false,
            linkbeat_use_polling: false,
            dont_track_primary: false,
            notify: Notify::default(),
            advert_rules: super::fsm::AdvertRules::default(),
            check_unicast_src: false,
            skip_check_adv_addr: false,
            fault_no_peer: false,
            promote_secondaries: false,
            track_src_ip: false,
        }
    }
}

impl VrrpConfig {
    /// Every interface whose link state is polled: `linkbeat_interfaces` and the interfaces
    /// of instances with `linkbeat_use_polling`, sorted, once each.
    pub fn linkbeat_interfaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self.linkbeat.clone();
        v.extend(
            self.instances
                .iter()
                .filter(|i| i.linkbeat_use_polling)
                .map(|i| i.interface.clone()),
        );
        v.sort();
        v.dedup();
        v
    }
}

impl InstanceConfig {
    pub fn version(&self) -> Version {
        if self.version == 3 {
            Version::V3
        } else {
            Version::V2
        }
    }

    /// The family follows the first VIP (keepalived: one family per instance).
    pub fn is_ipv6(&self) -> bool {
        self.vips.first().is_some_and(|v| v.addr.is_ipv6())
    }

    pub fn auth(&self) -> Auth {
        match (self.version(), self.auth_type) {
            (Version::V3, _) | (_, AuthKind::None) => Auth::None,
            (_, AuthKind::Pass) => Auth::pass(&self.auth_pass),
            (_, AuthKind::Ah) => Auth::Ah,
        }
    }

    /// The shared pacer of GARPs/NAs on this instance's interface (or garp_group), when an
    /// interval is set. Needs a tokio runtime.
    pub fn garp_pacer(&self) -> Option<std::sync::Arc<super::garp::Pacer>> {
        if self.garp_interval.is_zero() && self.gna_interval.is_zero() {
            return None;
        }
        let key = match &self.garp_group {
            Some(g) => format!("group:{g}"),
            None => format!("if:{}", self.interface),
        };
        Some(super::garp::Pacer::shared(
            &key,
            self.garp_interval,
            self.gna_interval,
        ))
    }

    /// Per-socket settings of keepalived.conf(5) beyond the defaults.
    pub fn socket_tuning(&self) -> super::socket::SocketTuning {
        super::socket::SocketTuning {
            unicast_ttl: self.unicast_ttl.filter(|_| !self.unicast_peers.is_empty()),
            rcvbuf: self.kernel_rx_buf_size,
        }
    }

    /// The AH settings of the sockets when `auth_type AH` applies (VRRPv2 only). A sender
    /// silent for three advert intervals may restart its sequence numbers.
    pub fn ah_options(&self) -> Option<super::socket::AhOptions> {
        (self.auth() == Auth::Ah).then(|| super::socket::AhOptions {
            key: super::ah::AhKey::new(&self.auth_pass),
            vrid: self.vrid,
            stale_after: self.effective_advert_int() * 3,
        })
    }

    pub fn checksum_mode(&self) -> ChecksumMode {
        if self.checksum_as_v2 {
            ChecksumMode::MessageOnly
        } else {
            ChecksumMode::PseudoHeader
        }
    }

    /// Interval as carried on the wire, in centiseconds (v2: whole seconds).
    pub fn interval_cs(&self) -> u16 {
        let cs = (self.advert_int.as_millis() / 10).clamp(1, 4095) as u16;
        match self.version() {
            Version::V2 => (cs / 100).max(1) * 100,
            Version::V3 => cs,
        }
    }

    /// The advertisement interval actually used (v2 rounds to whole seconds).
    pub fn effective_advert_int(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_cs()) * 10)
    }
}

/// `track_file NAME` reference: the file is declared in a `vrrp_track_file` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFileRef {
    pub path: String,
    #[serde(default)]
    pub weight: Option<i32>,
}

/// One `vrrp_script`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptConfig {
    pub name: String,
    /// Program, arguments and the user/group it runs as (resolved at load).
    #[serde(with = "script_one")]
    pub script: Script,
    #[serde(with = "secs")]
    pub interval: Duration,
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Default weight for instances that track it without their own.
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    /// `init_fail`: the script counts as failed until its first result (which then decides
    /// at once, as every first result does).
    pub init_fail: bool,
}

impl Default for ScriptConfig {
    fn default() -> Self {
        ScriptConfig {
            name: String::new(),
            script: Script::as_self(Vec::new()),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            weight: 0,
            reverse: false,
            rise: 1,
            fall: 1,
            init_fail: false,
        }
    }
}

/// One `vrrp_sync_group`: its members move together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncGroupConfig {
    pub name: String,
    pub members: Vec<String>,
    pub notify: Notify,
}

/// A [`Script`] in JSON: `{"argv": [...], "uid": N, "gid": N}`; a missing uid/gid (or a plain
/// command-line string) means this process's own.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ScriptRepr {
    Line(String),
    Full {
        argv: Vec<String>,
        #[serde(default)]
        uid: Option<u32>,
        #[serde(default)]
        gid: Option<u32>,
    },
}

impl From<&Script> for ScriptRepr {
    fn from(s: &Script) -> ScriptRepr {
        ScriptRepr::Full {
            argv: s.argv.clone(),
            uid: Some(s.user.as_raw()),
            gid: Some(s.group.as_raw()),
        }
    }
}

impl From<ScriptRepr> for Script {
    fn from(r: ScriptRepr) -> Script {
        match r {
            ScriptRepr::Line(l) => Script::as_self(checkers::split_command(&l)),
            ScriptRepr::Full { argv, uid, gid } => {
                let mut s = Script::as_self(argv);
                if let Some(u) = uid {
                    s.user = nix::unistd::Uid::from_raw(u);
                }
                if let Some(g) = gid {
                    s.group = nix::unistd::Gid::from_raw(g);
                }
                s
            }
        }
    }
}

mod script_one {
    use super::{Script, ScriptRepr};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(s: &Script, ser: S) -> Result<S::Ok, S::Error> {
        ScriptRepr::from(s).serialize(ser)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Script, D::Error> {
        ScriptRepr::deserialize(d).map(Script::from)
    }
}

mod script_opt {
    use super::{Script, ScriptRepr};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(s: &Option<Script>, ser: S) -> Result<S::Ok, S::Error> {
        s.as_ref().map(ScriptRepr::from).serialize(ser)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Script>, D::Error> {
        Ok(Option::<ScriptRepr>::deserialize(d)?.map(Script::from))
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let f = f64::deserialize(d)?;
        Duration::try_from_secs_f64(f).map_err(serde::de::Error::custom)
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|f| Duration::try_from_secs_f64(f).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_in_json_keep_their_user() {
        // The vrrp-node form: a plain command line runs as this process.
        let n: Notify = serde_json::from_str(r#"{"any": "/bin/n 'a b'"}"#).unwrap();
        assert_eq!(n.any, Script::parse("/bin/n 'a b'"));
        let s = Script {
            argv: vec!["/bin/x".into()],
            user: nix::unistd::Uid::from_raw(65534),
            group: nix::unistd::Gid::from_raw(0),
        };
        let n = Notify {
            master: Some(s.clone()),
            ..Notify::default()
        };
        let back: Notify = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back.master, Some(s));
        assert_eq!(back.backup, None);
    }
}
