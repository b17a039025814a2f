//! lvsd's keepalived-compatible dumps against dumps written by keepalived 2.2.7 for the same
//! instances (tests/fixtures/keepalived-2.2.7), and the signals that trigger them.

use std::collections::BTreeMap;
use std::time::Duration;

use lvsd::dump::{self, DumpKind};
use lvsd::status::{
    Status, StatusHub, VrrpCounters, VrrpInstanceStatus, VrrpScriptStatus, VrrpState,
};
use serde_json::Value;

const KA_DATA: &str = include_str!("fixtures/keepalived-2.2.7/keepalived.data");
const KA_STATS: &str = include_str!("fixtures/keepalived-2.2.7/keepalived.stats");
const KA_JSON: &str = include_str!("fixtures/keepalived-2.2.7/keepalived.json");

/// The state keepalived was in when it wrote the fixtures, as lvsd's producers would publish it.
fn same_as_fixture() -> Status {
    let inst =
        |name: &str, vrid, version, family, prio, since, vip: &str, sent| VrrpInstanceStatus {
            name: name.into(),
            interface: "d0".into(),
            vrid,
            version,
            family,
            state: VrrpState::Master,
            base_priority: prio,
            effective_priority: prio,
            master_addr: None,
            since_unix_ms: since,
            since_unix_us: 0,
            master_priority: 0,
            vips: vec![vip.into()],
            counters: VrrpCounters {
                advert_sent: sent,
                become_master: 1,
                ..Default::default()
            },
        };
    Status {
        vrrp: vec![
            inst(
                "VI_1",
                51,
                2,
                "inet",
                150,
                1_795_527_961_215,
                "10.99.0.100/24",
                3,
            ),
            inst(
                "VI_6",
                52,
                3,
                "inet6",
                90,
                1_795_527_961_444,
                "fd00:99::100/64",
                2,
            ),
        ],
        vrrp_scripts: vec![VrrpScriptStatus {
            name: "chk_ok".into(),
            ok: true,
            running: false,
        }],
        ..Default::default()
    }
}

#[test]
fn stats_dump_is_byte_identical_to_keepalived() {
    assert_eq!(dump::render_stats(&same_as_fixture()), KA_STATS);
}

#[test]
fn json_dump_has_keepalived_keys_types_and_values() {
    let ours: Value = serde_json::from_str(&dump::render_json(&same_as_fixture())).unwrap();
    let theirs: Value = serde_json::from_str(KA_JSON).unwrap();
    let (ours, theirs) = (ours.as_array().unwrap(), theirs.as_array().unwrap());
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(theirs) {
        // Stats: exactly keepalived's keys and values.
        assert_eq!(o["stats"]["advert_rcvd"], t["stats"]["advert_rcvd"]);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&o["stats"]), keys(&t["stats"]));
        assert_eq!(o["stats"]["become_master"], t["stats"]["become_master"]);
        // Data: every key lvsd writes is one keepalived writes, with the same JSON type.
        for (k, v) in o["data"].as_object().unwrap() {
            let tv = t["data"]
                .get(k)
                .unwrap_or_else(|| panic!("keepalived has no data key {k:?}"));
            assert_eq!(
                std::mem::discriminant(v),
                std::mem::discriminant(tv),
                "type of {k}: ours {v}, keepalived {tv}"
            );
        }
        for k in [
            "iname",
            "ifp_ifname",
            "vmac_ifname",
            "vrid",
            "base_priority",
            "effective_priority",
            "vipset",
            "state",
            "wantstate",
            "version",
        ] {
            assert_eq!(o["data"][k], t["data"][k], "data.{k}");
        }
        let lt = |v: &Value| v["data"]["last_transition"].as_f64().unwrap();
        assert!((lt(o) - lt(t)).abs() < 0.001, "last_transition");
    }
    assert_eq!(ours[0]["data"]["vips"], theirs[0]["data"]["vips"]);
}

/// What the text-dump tools (keepalived_exporter's text mode) read: `key = value` lines under
/// each ` VRRP Instance = NAME` header of the VRRP Topology section.
fn instances(data: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_topology = false;
    for line in data.lines() {
        if line.starts_with("------<") {
            in_topology = line.contains("VRRP Topology");
            current = None;
            continue;
        }
        if !in_topology {
            continue;
        }
        if let Some(name) = line.strip_prefix(" VRRP Instance = ") {
            current = Some(name.to_string());
            out.entry(name.to_string()).or_default();
        } else if let (Some(cur), Some(kv)) = (&current, line.strip_prefix("   "))
            && let Some((k, v)) = kv.split_once(" = ")
            && !k.starts_with(' ')
        {
            out.get_mut(cur)
                .unwrap()
                .insert(k.to_string(), v.to_string());
        }
    }
    out
}

#[test]
fn data_dump_reads_like_keepalived_for_parsers() {
    let ours = instances(&dump::render_data(&same_as_fixture()));
    let theirs = instances(KA_DATA);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, o) in &ours {
        let t = &theirs[name];
        for k in [
            "State",
            "Wantstate",
            "Interface",
            "Virtual Router ID",
            "Priority",
            "Effective priority",
            "VRRP Version",
        ] {
            assert_eq!(o.get(k), t.get(k), "{name}: {k}");
        }
        // Same seconds and same human date (to the second).
        let secs = |v: &str| v.split('.').next().unwrap().to_string();
        assert_eq!(secs(&o["Last transition"]), secs(&t["Last transition"]));
        let date = |v: &str| v.split('(').nth(1).unwrap()[..19].to_string();
        assert_eq!(date(&o["Last transition"]), date(&t["Last transition"]));
        for k in o.keys() {
            assert!(
                t.contains_key(k) || k == "Master router",
                "{name}: keepalived has no {k:?}"
            );
        }
    }
    let data = dump::render_data(&same_as_fixture());
    assert!(
        data.contains("     10.99.0.100/24 dev d0 scope global set\n"),
        "{data}"
    );
    assert!(data.contains(" VRRP Script = chk_ok\n   Status = GOOD\n"));
}

#[tokio::test]
async fn signals_write_the_dumps() {
    let dir = std::env::temp_dir().join(format!("lvsd-dump-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hub = StatusHub::new();
    hub.vrrp.send_replace(same_as_fixture().vrrp);
    let _task = dump::spawn_signal_handlers(hub.clone(), dir.clone()).unwrap();
    let pid = nix::unistd::Pid::this();
    for (sig, kind) in [
        (libc::SIGUSR1, DumpKind::Data),
        (libc::SIGUSR2, DumpKind::Stats),
        (dump::signum("JSON").unwrap(), DumpKind::Json),
    ] {
        let path = dir.join(kind.file_name());
        let _ = std::fs::remove_file(&path);
        // SAFETY: kill(2) on our own pid with a signal tokio has a handler for.
        assert_eq!(unsafe { libc::kill(pid.as_raw(), sig) }, 0);
        let mut waited = Duration::ZERO;
        while !path.exists() && waited < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("signal {sig} wrote no {}: {e}", path.display()));
        assert_eq!(text, kind.render(&hub.snapshot()));
        // SIGUSR1 also writes the checker's and the parent's files, as keepalived's processes do.
        for (name, want) in kind.files(&hub.snapshot()) {
            let got = std::fs::read_to_string(dir.join(name)).unwrap();
            assert_eq!(got, want, "{name}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `lower_prio_no_advert` / `higher_prio_send_advert` in the JSON dump are the instance's
/// configured values (strict mode forces the first on and the second off, as keepalived).
#[test]
fn json_dump_advert_options_come_from_the_config() {
    let dump_of = |extra: &str| -> Value {
        let text = format!(
            "vrrp_instance VI_1 {{\n interface d0\n virtual_router_id 51\n{extra} virtual_ipaddress {{\n  10.99.0.100/24\n }}\n}}\n"
        );
        let l = lvsd::config::load_str(
            &text,
            std::path::Path::new("t.conf"),
            &lvsd::config::LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{:?}", e.diagnostics));
        let mut st = same_as_fixture();
        st.vrrp_config = std::sync::Arc::new(lvsd::vrrp::VrrpConfig::from_model(&l.config));
        let v: Value = serde_json::from_str(&dump::render_json(&st)).unwrap();
        v[0]["data"].clone()
    };
    let d = dump_of("");
    assert_eq!(
        (&d["lower_prio_no_advert"], &d["higher_prio_send_advert"]),
        (&Value::from(0), &Value::from(0))
    );
    let d = dump_of(" lower_prio_no_advert\n higher_prio_send_advert\n");
    assert_eq!(
        (&d["lower_prio_no_advert"], &d["higher_prio_send_advert"]),
        (&Value::from(1), &Value::from(1))
    );
    let d = dump_of(" lower_prio_no_advert off\n higher_prio_send_advert\n strict_mode\n");
    assert_eq!(
        (&d["lower_prio_no_advert"], &d["higher_prio_send_advert"]),
        (&Value::from(1), &Value::from(0))
    );
}
