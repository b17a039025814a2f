//! `fast_recovery` (HTTP_GET / SSL_GET): keepalived checks a down (or `alpha`) checker's urls
//! one per `delay_loop`, so with N urls a server comes back N runs after it recovered; with
//! `fast_recovery` every url is checked in the same run. An up checker checks every url each
//! run either way. Pure: the scheduler asks which url to run and hands back the outcome.

use crate::outcome::{FailReason, Outcome};
use crate::spec::{CheckKind, Spec};

/// How far a recovering checker got through its urls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlProgress {
    passed: usize,
}

fn slow_urls(spec: &Spec) -> usize {
    match &spec.kind {
        CheckKind::Http(h) | CheckKind::Ssl(h) if !h.fast_recovery => h.urls.len(),
        _ => 0,
    }
}

impl UrlProgress {
    /// `None`: this run checks everything; `Some(i)`: only url `i`.
    pub(crate) fn pick(&self, spec: &Spec, up: bool) -> Option<usize> {
        let n = slow_urls(spec);
        (!up && n > 1).then(|| self.passed.min(n - 1))
    }

    /// The outcome the check's state sees for a run that checked `picked`: a pass of a url
    /// that is not the last one keeps the checker down ([`FailReason::Recovering`]).
    pub(crate) fn after(
        &mut self,
        picked: Option<usize>,
        outcome: Outcome,
        spec: &Spec,
    ) -> Outcome {
        let Some(_) = picked else {
            self.passed = 0;
            return outcome;
        };
        if !outcome.is_pass() {
            self.passed = 0;
            return outcome;
        }
        self.passed += 1;
        let total = slow_urls(spec);
        if self.passed >= total {
            self.passed = 0;
            return outcome;
        }
        Outcome::Fail(FailReason::Recovering {
            passed: self.passed,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{HttpSpec, UrlSpec};

    fn spec(fast: bool) -> Spec {
        Spec::new(
            "127.0.0.1:80".parse().unwrap(),
            CheckKind::Http(HttpSpec {
                urls: vec![UrlSpec::new("/a"), UrlSpec::new("/b"), UrlSpec::new("/c")],
                fast_recovery: fast,
                ..HttpSpec::default()
            }),
        )
    }

    #[test]
    fn one_url_per_run_while_down() {
        let s = spec(false);
        let mut p = UrlProgress::default();
        assert_eq!(p.pick(&s, true), None, "an up checker checks every url");
        for i in 0..2 {
            assert_eq!(p.pick(&s, false), Some(i));
            let o = p.after(Some(i), Outcome::PASS, &s);
            assert!(matches!(o, Outcome::Fail(FailReason::Recovering { .. })));
        }
        assert_eq!(p.pick(&s, false), Some(2));
        assert!(p.after(Some(2), Outcome::PASS, &s).is_pass());
        // A failure on the way starts over.
        p.after(Some(0), Outcome::PASS, &s);
        p.after(Some(1), Outcome::Fail(FailReason::ConnectRefused), &s);
        assert_eq!(p.pick(&s, false), Some(0));
        // fast_recovery: everything at once.
        assert_eq!(UrlProgress::default().pick(&spec(true), false), None);
    }
}
