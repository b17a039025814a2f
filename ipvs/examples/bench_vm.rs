//! Benchmark: programming 1,000 services × 10 destinations with lvsd's client vs `ipvsadm -R`,
//! then one weight change in the 11,000-object table: full reconcile (dump + diff + apply) vs
//! scoped reconcile (desired-table diff + read of the changed service + diff + apply).
//!
//! Needs an IPVS kernel and ipvsadm; it flushes the table. Run in the VM:
//!
//! ```sh
//! cargo build --release -p ipvs --example bench_vm
//! tests/vm/ipvs-vm.sh target/release/examples/bench_vm [services] [dests] [rounds]
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipvs::{
    Client, Dest, Forward, Ipvs, Ownership, Scheduler, Service, ServiceKey, Table, reconcile,
};

fn table(n: usize, m: usize) -> Table {
    let mut t = Table::new();
    for i in 0..n {
        let vip = IpAddr::V4(Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250 + 1) as u8));
        let key = ServiceKey::tcp(vip, 80);
        t.add_service(Service::new(key, Scheduler::Wrr));
        for j in 0..m {
            let rip = IpAddr::V4(Ipv4Addr::new(10, 2, (i % 250) as u8, (j + 1) as u8));
            t.add_dest(
                &key,
                Dest::new(rip, 8080, Forward::Masq).weight(j as u32 + 1),
            );
        }
    }
    t
}

fn ipvsadm(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new("ipvsadm")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ipvsadm: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("ipvsadm stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ipvsadm: {e}"))?;
    if !out.status.success() {
        return Err(format!("ipvsadm {args:?} failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(n: usize, m: usize, rounds: usize) -> Result<(), String> {
    let client = Client::connect().await.map_err(|e| e.to_string())?;
    let want = table(n, m);
    let plan = reconcile::plan(&Table::new(), &want, &Ownership::All);
    let rules = plan.to_string();
    let objects = want.service_count() + want.dest_count();
    println!(
        "table: {} services x {m} dests = {objects} objects, {} ops",
        n,
        plan.len()
    );

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        ipvsadm(&["-C"], None)?;
        let t0 = Instant::now();
        let report = client.apply(&plan).await.map_err(|e| e.to_string())?;
        let d = t0.elapsed();
        if !report.is_success() || report.writes() != objects {
            return Err(format!("apply failed: {report}"));
        }
        let ours_rules = ipvsadm(&["-Sn"], None)?;
        ours.push(ms(d));

        ipvsadm(&["-C"], None)?;
        let t0 = Instant::now();
        ipvsadm(&["-R"], Some(&rules))?;
        let d = t0.elapsed();
        theirs.push(ms(d));
        if ipvsadm(&["-Sn"], None)? != ours_rules {
            return Err("ipvsadm -R and lvsd produced different tables".into());
        }
        println!(
            "round {round}: lvsd apply {:8.1} ms   ipvsadm -R {:8.1} ms",
            ours[round], theirs[round]
        );
    }
    let (o, t) = (median(ours), median(theirs));
    println!("program {objects} objects from empty (median of {rounds}):");
    println!("  lvsd Client::apply   {o:8.1} ms");
    println!("  ipvsadm -R           {t:8.1} ms");
    println!("  ratio lvsd/ipvsadm   {:8.2}  (goal <= 0.50)", o / t);

    // The table ipvsadm restored is in the kernel now: one weight change, reconciled by a full
    // pass (dump everything + diff + apply), then by a scoped pass (diff the two desired tables,
    // read only the changed services, diff + apply). Both alternate the weight back and forth.
    let mut want2 = want.clone();
    let key = ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 100)), 80);
    let mut d = want2
        .get(&key)
        .and_then(|e| e.dests.values().nth(4).cloned())
        .ok_or("no dest")?;
    d.weight = 99;
    want2.add_dest(&key, d);
    let mut in_kernel = &want;
    let (mut full, mut dumps) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let w = if std::ptr::eq(in_kernel, &want) {
            &want2
        } else {
            &want
        };
        let t0 = Instant::now();
        let current = client.dump().await.map_err(|e| e.to_string())?;
        let t_dump = t0.elapsed();
        let p = reconcile::plan(&current, w, &Ownership::All);
        let report = client.apply(&p).await.map_err(|e| e.to_string())?;
        let total = t0.elapsed();
        if report.writes() != 1 || !report.is_success() {
            return Err(format!("expected exactly one write, got:\n{p}{report}"));
        }
        in_kernel = w;
        println!(
            "full   pass {i}: read {:7.2} ms, total (dump+diff+apply) {:7.2} ms, writes {}: {}",
            ms(t_dump),
            ms(total),
            report.writes(),
            p.to_string().trim_end()
        );
        dumps.push(ms(t_dump));
        full.push(ms(total));
    }
    let (mut scoped, mut reads, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        let w = if std::ptr::eq(in_kernel, &want) {
            &want2
        } else {
            &want
        };
        let t0 = Instant::now();
        // What the director does: compare its previous and new desired tables...
        let scope = Table::changed_services(in_kernel, w);
        let t_scope = t0.elapsed();
        // ...then Ipvs::reconcile_scoped, spelled out to time the read.
        let current = client
            .read_services(&scope)
            .await
            .map_err(|e| e.to_string())?;
        let t_read = t0.elapsed() - t_scope;
        let p = reconcile::plan_scoped(&current, w, &scope, &Ownership::All);
        let report = client.apply(&p).await.map_err(|e| e.to_string())?;
        let total = t0.elapsed();
        if report.writes() != 1 || !report.is_success() || scope.len() != 1 {
            return Err(format!(
                "expected one service in scope and one write, got {scope:?}:\n{p}{report}"
            ));
        }
        in_kernel = w;
        println!(
            "scoped pass {i}: read {:7.2} ms, total (desired diff+read+diff+apply) {:7.2} ms, writes {}: {}",
            ms(t_read),
            ms(total),
            report.writes(),
            p.to_string().trim_end()
        );
        diffs.push(ms(t_scope));
        reads.push(ms(t_read));
        scoped.push(ms(total));
    }
    // Under TCG the guest clock may tick in jiffies (4 ms): time many passes together too.
    const MANY: usize = 200;
    let t0 = Instant::now();
    let mut t_diffs = Duration::ZERO;
    for _ in 0..MANY {
        let w = if std::ptr::eq(in_kernel, &want) {
            &want2
        } else {
            &want
        };
        let t1 = Instant::now();
        let scope = Table::changed_services(in_kernel, w);
        t_diffs += t1.elapsed();
        let (p, report) = client
            .reconcile_scoped(w, &scope, &Ownership::All)
            .await
            .map_err(|e| e.to_string())?;
        if report.writes() != 1 || !report.is_success() {
            return Err(format!("expected exactly one write, got:\n{p}{report}"));
        }
        in_kernel = w;
    }
    let scoped_mean = ms(t0.elapsed()) / MANY as f64;
    let diff_mean = ms(t_diffs) / MANY as f64;
    // The kernel must hold exactly what the last pass desired.
    let check = client.dump().await.map_err(|e| e.to_string())?;
    if !check.same_config(in_kernel) {
        return Err("after the scoped passes the kernel differs from the desired table".into());
    }
    println!(
        "one weight change in {objects} objects, reconciled (median of {rounds}; goal < 50 ms, 1 write):"
    );
    println!("                      total ms   kernel read ms   writes");
    println!(
        "  full reconcile    {:9.2}   {:14.2}        1   (1 service dump + {n} dest dumps)",
        median(full.clone()),
        median(dumps.clone())
    );
    println!(
        "  scoped reconcile  {:9.2}   {:14.2}        1   (1 service: GET_SERVICE + 1 dest dump)",
        median(scoped),
        median(reads),
    );
    println!(
        "  scoped, mean of {MANY} passes: {scoped_mean:.3} ms each (of which desired-table diff \
         {diff_mean:.3} ms; median above {:.2} ms)",
        median(diffs)
    );
    let clock =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default();
    println!(
        "  (guest clocksource: {}; with jiffies, single timings are multiples of the tick)",
        clock.trim()
    );
    // Reference for one write: ipvsadm making the same edit blind (no read at all).
    let mut edits = Vec::new();
    for i in 0..rounds {
        let w = if i % 2 == 0 { "99" } else { "5" };
        let t0 = Instant::now();
        ipvsadm(
            &[
                "-e",
                "-t",
                "10.1.1.100:80",
                "-r",
                "10.2.99.5:8080",
                "-m",
                "-w",
                w,
            ],
            None,
        )?;
        edits.push(ms(t0.elapsed()));
    }
    println!(
        "  ipvsadm -e (same edit, no read) {:.2} ms (median of {rounds})",
        median(edits)
    );
    // Reference for the dump: ipvsadm reads the same table the same way (libnl, one dump per
    // service's destinations), and prints it.
    let mut refs = Vec::new();
    let mut svc_only = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        ipvsadm(&["-Ln"], None)?;
        refs.push(ms(t0.elapsed()));
        let t0 = Instant::now();
        client.services().await.map_err(|e| e.to_string())?;
        svc_only.push(ms(t0.elapsed()));
    }
    println!(
        "read {objects} objects: lvsd Client::dump {:.1} ms (services alone {:.1} ms), ipvsadm -Ln {:.1} ms",
        median(dumps),
        median(svc_only),
        median(refs)
    );
    // The floor under TCG: one round trip that makes the kernel do almost nothing.
    let t0 = Instant::now();
    for _ in 0..n {
        client.info().await.map_err(|e| e.to_string())?;
    }
    println!(
        "floor: {n} GET_INFO round trips (send + recv, no dump work) take {:.1} ms",
        ms(t0.elapsed())
    );
    ipvsadm(&["-C"], None)?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1000);
    let m = args.get(1).copied().unwrap_or(10);
    let rounds = args.get(2).copied().unwrap_or(3).max(1);
    match run(n, m, rounds).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_vm: {e}");
            ExitCode::FAILURE
        }
    }
}
