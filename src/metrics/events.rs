//! Event metrics: what happens between scrapes and is not kept anywhere else (how long each check
//! took, why it failed). The director holds a [`Metrics`] clone and calls it per check run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Check duration buckets, seconds: 1 ms .. 10 s (connect timeouts are usually 1-5 s).
const CHECK_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How one check run ended, as the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult<'a> {
    Success,
    /// `reason` is a short, bounded kind (`timeout`, `connection_refused`, `http_status`,
    /// `digest_mismatch`, `script_exit`...), never a free-form sentence: it becomes a label value.
    Failure {
        reason: &'a str,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    virtual_server: String,
    checker: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    virtual_server: String,
    real_server: String,
    checker: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CertLabels {
    virtual_server: String,
    real_server: String,
    checker: String,
}

fn check_histogram() -> Histogram {
    Histogram::new(CHECK_BUCKETS)
}

/// Handle for event metrics; cheap to clone, safe to call from any task.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    check_duration: Family<DurationLabels, Histogram, fn() -> Histogram>,
    check_failures: Family<FailureLabels, Counter>,
    cert_expiry: Family<CertLabels, Gauge>,
    /// Whether the scrape carries node_exporter's `node_ipvs_*` families (off where
    /// node_exporter's ipvs collector already exports them: `sum()` would count twice).
    node_ipvs: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let check_duration =
            Family::<DurationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                check_histogram,
            );
        let check_failures = Family::<FailureLabels, Counter>::default();
        let cert_expiry = Family::<CertLabels, Gauge>::default();
        registry.register(
            "lvsd_check_certificate_expiry_timestamp_seconds",
            "When the certificate a verifying SSL_GET / GRPC_CHECK saw expires (Unix time)",
            cert_expiry.clone(),
        );
        // Labelled per virtual server and checker type, not per real server: with thousands of
        // real servers, 15 series per histogram would dwarf the rest of the scrape.
        registry.register(
            "lvsd_check_duration_seconds",
            "Duration of health check runs",
            check_duration.clone(),
        );
        registry.register(
            "lvsd_check_failures",
            "Failed health check runs by reason",
            check_failures.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                check_duration,
                check_failures,
                cert_expiry,
                node_ipvs: AtomicBool::new(true),
            }),
        }
    }

    /// The expiry (Unix seconds) of the verified certificate a check of this real server saw.
    pub fn observe_cert_expiry(
        &self,
        virtual_server: &str,
        real_server: &str,
        checker: &str,
        not_after_unix: i64,
    ) {
        self.inner
            .cert_expiry
            .get_or_create(&CertLabels {
                virtual_server: virtual_server.to_owned(),
                real_server: real_server.to_owned(),
                checker: checker.to_owned(),
            })
            .set(not_after_unix);
    }

    /// Records one finished check run. `virtual_server` is the display key of
    /// [`crate::status::VirtualServerStatus::key`] (`TCP 10.0.0.1:80`), `real_server` is
    /// `addr:port` (`[2001:db8::2]:80` for IPv6), `checker` the keepalived keyword (`HTTP_GET`).
    pub fn observe_check(
        &self,
        virtual_server: &str,
        real_server: &str,
        checker: &str,
        duration: Duration,
        result: CheckResult<'_>,
    ) {
        let outcome = match result {
            CheckResult::Success => "success",
            CheckResult::Failure { .. } => "failure",
        };
        self.inner
            .check_duration
            .get_or_create(&DurationLabels {
                virtual_server: virtual_server.to_owned(),
                checker: checker.to_owned(),
                result: outcome,
            })
            .observe(duration.as_secs_f64());
        if let CheckResult::Failure { reason } = result {
            self.inner
                .check_failures
                .get_or_create(&FailureLabels {
                    virtual_server: virtual_server.to_owned(),
                    real_server: real_server.to_owned(),
                    checker: checker.to_owned(),
                    reason: reason.to_owned(),
                })
                .inc();
        }
    }

    /// Leaves node_exporter's `node_ipvs_*` families out of the exposition (`false`), or puts
    /// them back; the `lvsd_ipvs_*` families stay either way.
    pub fn set_node_ipvs(&self, on: bool) {
        self.inner.node_ipvs.store(on, Ordering::Relaxed);
    }

    pub fn node_ipvs(&self) -> bool {
        self.inner.node_ipvs.load(Ordering::Relaxed)
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}
