//! The MAC argument of `use_vmac [NAME] [MAC]` (keepalived.conf(5)): six octets, or five with
//! the VRID as the sixth.

/// Five or six colon-separated hex octets; None when malformed.
pub(super) fn parse(s: &str) -> Option<Vec<u8>> {
    let v: Vec<u8> = s
        .split(':')
        .map(|o| {
            (!o.is_empty() && o.len() <= 2)
                .then(|| u8::from_str_radix(o, 16).ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    matches!(v.len(), 5 | 6).then_some(v)
}

/// The full MAC: five octets take the VRID as the last one.
pub(super) fn complete(m: &[u8], vrid: u8) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (d, s) in out.iter_mut().zip(m) {
        *d = *s;
    }
    if m.len() == 5 {
        out[5] = vrid;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_or_six_octets() {
        assert_eq!(
            complete(&parse("02:00:5e:10:20").unwrap(), 51),
            [2, 0, 0x5e, 0x10, 0x20, 51]
        );
        assert_eq!(
            complete(&parse("02:1:2:3:4:ff").unwrap(), 51),
            [2, 1, 2, 3, 4, 0xff]
        );
        for bad in [
            "02:00",
            "zz:00:5e:00:01",
            "02:00:5e:00:01:02:03",
            "02::5e:00:01",
            "123:0:0:0:0",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
