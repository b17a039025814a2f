//! `FILE_CHECK`: a number read from a file (keepalived's `track_file` semantics for real
//! servers). With weight 0, any non-zero value fails; otherwise the value times the weight
//! (negated with `reverse`) is the dynamic weight, and a result at or below -2^31 fails.

use crate::outcome::{FailReason, Outcome};
use crate::spec::FileSpec;

/// Pure verdict on a file's text.
pub fn judge(file: &FileSpec, text: &str) -> Outcome {
    let path = file.path.display();
    let first = text.split_whitespace().next().unwrap_or("0");
    let Ok(value) = first.parse::<i64>() else {
        return Outcome::Fail(FailReason::File(format!(
            "{path}: {first:?} is not a number"
        )));
    };
    if file.weight == 0 {
        return if value == 0 {
            Outcome::PASS
        } else {
            Outcome::Fail(FailReason::File(format!(
                "{path} holds {value} (non-zero with weight 0)"
            )))
        };
    }
    let mut weighted = value.saturating_mul(file.weight);
    if file.reverse {
        weighted = weighted.saturating_neg();
    }
    if weighted <= -(1i64 << 31) {
        return Outcome::Fail(FailReason::File(format!(
            "{path} holds {value}: weighted {weighted} is a fault"
        )));
    }
    Outcome::Pass {
        weight: file.dynamic.then_some(weighted),
    }
}

/// Reads and judges the file.
pub async fn check(file: &FileSpec) -> Outcome {
    match tokio::fs::read(&file.path).await {
        Ok(bytes) => judge(
            file,
            &String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]),
        ),
        Err(e) => Outcome::Fail(FailReason::File(format!(
            "cannot read {}: {e}",
            file.path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(weight: i64, reverse: bool, dynamic: bool) -> FileSpec {
        FileSpec {
            path: "/run/w".into(),
            weight,
            reverse,
            dynamic,
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(judge(&spec(0, false, false), "0\n"), Outcome::PASS);
        assert_eq!(
            judge(&spec(0, false, false), "3\n").to_string(),
            "/run/w holds 3 (non-zero with weight 0)"
        );
        assert_eq!(
            judge(&spec(2, false, true), " 7 \n"),
            Outcome::Pass { weight: Some(14) }
        );
        assert_eq!(
            judge(&spec(2, true, true), "7"),
            Outcome::Pass { weight: Some(-14) }
        );
        assert_eq!(judge(&spec(1, false, false), "7"), Outcome::PASS);
        assert!(!judge(&spec(1, false, false), "-2147483648").is_pass());
        assert!(!judge(&spec(1, false, false), "abc").is_pass());
        assert_eq!(
            judge(&spec(1, false, true), ""),
            Outcome::Pass { weight: Some(0) }
        );
    }
}
