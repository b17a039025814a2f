//! BFD Control packets (RFC 5880 §4.1), without authentication.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Intervals are microseconds. [`decode`] applies the reception checks of §6.8.6 that need no
//! session (version, length, multiplier, multipoint, discriminators); each failure is its own
//! [`DecodeError`] so the edge can count it.

/// Length of the mandatory section.
pub const LEN: usize = 24;
/// RFC 5881 single-hop destination port.
pub const PORT_SINGLE_HOP: u16 = 3784;
/// RFC 5883 multihop destination port.
pub const PORT_MULTI_HOP: u16 = 4784;
/// RFC 5881 §4: source ports are taken from this range.
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// Session states (§4.1 `Sta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    AdminDown,
    Down,
    Init,
    Up,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
    /// As FRR and keepalived print it.
    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

/// Diagnostic codes (§4.1 `Diag`); unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    None,
    DetectionTimeExpired,
    EchoFailed,
    NeighborDown,
    ForwardingReset,
    PathDown,
    ConcatenatedPathDown,
    AdminDown,
    ReverseConcatenatedPathDown,
    Other(u8),
}

impl From<u8> for Diag {
    fn from(v: u8) -> Diag {
        match v {
            0 => Diag::None,
            1 => Diag::DetectionTimeExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborDown,
            4 => Diag::ForwardingReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            o => Diag::Other(o & 0x1f),
        }
    }
}

impl From<Diag> for u8 {
    fn from(d: Diag) -> u8 {
        match d {
            Diag::None => 0,
            Diag::DetectionTimeExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborDown => 3,
            Diag::ForwardingReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Other(o) => o & 0x1f,
        }
    }
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Diag::None => "no diagnostic",
            Diag::DetectionTimeExpired => "control detection time expired",
            Diag::EchoFailed => "echo function failed",
            Diag::NeighborDown => "neighbor signaled session down",
            Diag::ForwardingReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdminDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Other(o) => return write!(f, "diagnostic {o}"),
        };
        f.write_str(s)
    }
}

/// A Control packet's mandatory section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    /// Control Plane Independent.
    pub cpi: bool,
    /// Demand mode.
    pub demand: bool,
    pub detect_mult: u8,
    pub my_disc: u32,
    pub your_disc: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    /// Microseconds; 0: the sender does not want packets.
    pub required_min_rx: u32,
    /// Microseconds; lvsd sends 0 (no Echo function).
    pub required_min_echo_rx: u32,
}

/// Why a datagram is not a usable Control packet (§6.8.6 "discard" rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("shorter than a BFD Control packet ({0} bytes)")]
    Short(usize),
    #[error("version {0}, not 1")]
    Version(u8),
    #[error("length field {field} does not fit the {got}-byte datagram")]
    Length { field: u8, got: usize },
    #[error("authentication present (none configured)")]
    Auth,
    #[error("detect multiplier 0")]
    ZeroMultiplier,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator 0")]
    ZeroMyDisc,
    #[error("your discriminator 0 in state {0:?}")]
    ZeroYourDisc(State),
    #[error("poll and final both set")]
    PollAndFinal,
}

/// Parses and checks one datagram's payload.
pub fn decode(b: &[u8]) -> Result<Control, DecodeError> {
    if b.len() < LEN {
        return Err(DecodeError::Short(b.len()));
    }
    let version = b[0] >> 5;
    if version != 1 {
        return Err(DecodeError::Version(version));
    }
    let length = b[3];
    let auth = b[1] & 0x04 != 0;
    let min = if auth { LEN + 2 } else { LEN };
    if usize::from(length) < min || usize::from(length) > b.len() {
        return Err(DecodeError::Length {
            field: length,
            got: b.len(),
        });
    }
    if auth {
        return Err(DecodeError::Auth);
    }
    let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let c = Control {
        diag: Diag::from(b[0] & 0x1f),
        state: State::from_bits(b[1] >> 6),
        poll: b[1] & 0x20 != 0,
        final_: b[1] & 0x10 != 0,
        cpi: b[1] & 0x08 != 0,
        demand: b[1] & 0x02 != 0,
        detect_mult: b[2],
        my_disc: word(4),
        your_disc: word(8),
        desired_min_tx: word(12),
        required_min_rx: word(16),
        required_min_echo_rx: word(20),
    };
    if b[1] & 0x01 != 0 {
        return Err(DecodeError::Multipoint);
    }
    if c.detect_mult == 0 {
        return Err(DecodeError::ZeroMultiplier);
    }
    if c.my_disc == 0 {
        return Err(DecodeError::ZeroMyDisc);
    }
    if c.your_disc == 0 && !matches!(c.state, State::Down | State::AdminDown) {
        return Err(DecodeError::ZeroYourDisc(c.state));
    }
    if c.poll && c.final_ {
        return Err(DecodeError::PollAndFinal);
    }
    Ok(c)
}

/// The 24 bytes of a Control packet (version 1, no authentication, never multipoint).
pub fn encode(c: &Control) -> [u8; LEN] {
    let mut b = [0u8; LEN];
    b[0] = (1 << 5) | (u8::from(c.diag) & 0x1f);
    b[1] = (c.state.bits() << 6)
        | (u8::from(c.poll) << 5)
        | (u8::from(c.final_) << 4)
        | (u8::from(c.cpi) << 3)
        | (u8::from(c.demand) << 1);
    b[2] = c.detect_mult;
    b[3] = LEN as u8;
    b[4..8].copy_from_slice(&c.my_disc.to_be_bytes());
    b[8..12].copy_from_slice(&c.your_disc.to_be_bytes());
    b[12..16].copy_from_slice(&c.desired_min_tx.to_be_bytes());
    b[16..20].copy_from_slice(&c.required_min_rx.to_be_bytes());
    b[20..24].copy_from_slice(&c.required_min_echo_rx.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet in Init, assembled by hand from RFC 5880 §4.1 (what a peer configured with
    /// `receive-interval 100`, `detect-multiplier 3` sends while on its 1 s slow timer).
    const INIT: [u8; 24] = [
        0x20, 0x80, 0x03, 0x18, 0x5a, 0x3e, 0x10, 0x27, 0x00, 0x00, 0x00, 0x07, 0x00, 0x0f, 0x42,
        0x40, 0x00, 0x01, 0x86, 0xa0, 0x00, 0x00, 0xc3, 0x50,
    ];

    #[test]
    fn golden_init_packet_round_trips() {
        let c = decode(&INIT).unwrap();
        assert_eq!(
            c,
            Control {
                diag: Diag::None,
                state: State::Init,
                poll: false,
                final_: false,
                cpi: false,
                demand: false,
                detect_mult: 3,
                my_disc: 0x5a3e_1027,
                your_disc: 7,
                desired_min_tx: 1_000_000,
                required_min_rx: 100_000,
                required_min_echo_rx: 50_000,
            }
        );
        assert_eq!(encode(&c), INIT);
    }

    /// FRR 8.4.4 bfdd's first packet (`peer 10.80.0.2 local-address 10.80.0.1`,
    /// `receive-interval 100`, `transmit-interval 100`, `detect-multiplier 3`), read from a UDP
    /// socket bound to 10.80.0.2:3784 in a namespace: Down, slow 1 s timers on both intervals
    /// until Up, Echo 50 ms, source port 49152.
    const FRR_DOWN: [u8; 24] = [
        0x20, 0x40, 0x03, 0x18, 0x85, 0xef, 0xe2, 0xbc, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42,
        0x40, 0x00, 0x0f, 0x42, 0x40, 0x00, 0x00, 0xc3, 0x50,
    ];

    #[test]
    fn golden_frr_packet_round_trips() {
        let c = decode(&FRR_DOWN).unwrap();
        assert_eq!(
            (c.state, c.diag, c.detect_mult, c.my_disc, c.your_disc),
            (State::Down, Diag::None, 3, 0x85ef_e2bc, 0)
        );
        assert_eq!(
            (c.desired_min_tx, c.required_min_rx, c.required_min_echo_rx),
            (1_000_000, 1_000_000, 50_000)
        );
        assert!(!c.poll && !c.final_ && !c.cpi && !c.demand);
        assert_eq!(encode(&c), FRR_DOWN);
    }

    fn base() -> [u8; 24] {
        let mut b = INIT;
        b[1] = 0x40; // Down, no flags
        b
    }

    #[test]
    fn every_discard_rule() {
        assert_eq!(decode(&INIT[..23]), Err(DecodeError::Short(23)));
        let mut b = base();
        b[0] = 0x40;
        assert_eq!(decode(&b), Err(DecodeError::Version(2)));
        let mut b = base();
        b[3] = 23;
        assert!(matches!(decode(&b), Err(DecodeError::Length { .. })));
        let mut b = base();
        b[3] = 40;
        assert!(matches!(decode(&b), Err(DecodeError::Length { .. })));
        // A trailing byte beyond the length field is tolerated (the field rules).
        let mut long = base().to_vec();
        long.push(0);
        assert!(decode(&long).is_ok());
        let mut b = base();
        b[1] |= 0x04;
        b[3] = 24; // claims auth but has no room for its section
        assert!(matches!(decode(&b), Err(DecodeError::Length { .. })));
        let mut a = base().to_vec();
        a[1] |= 0x04;
        a[3] = 28;
        a.extend([1, 4, 0, 0]);
        assert_eq!(decode(&a), Err(DecodeError::Auth));
        let mut b = base();
        b[1] |= 0x01;
        assert_eq!(decode(&b), Err(DecodeError::Multipoint));
        let mut b = base();
        b[2] = 0;
        assert_eq!(decode(&b), Err(DecodeError::ZeroMultiplier));
        let mut b = base();
        b[4..8].fill(0);
        assert_eq!(decode(&b), Err(DecodeError::ZeroMyDisc));
        let mut b = INIT;
        b[8..12].fill(0);
        assert_eq!(decode(&b), Err(DecodeError::ZeroYourDisc(State::Init)));
        let mut b = base();
        b[8..12].fill(0);
        assert!(decode(&b).is_ok(), "Down with your_disc 0 is the start");
        let mut b = base();
        b[1] |= 0x30;
        assert_eq!(decode(&b), Err(DecodeError::PollAndFinal));
    }

    #[test]
    fn flags_and_unknown_diag_round_trip() {
        for flags in [0x20u8, 0x10, 0x08, 0x02] {
            let mut b = base();
            b[1] |= flags;
            b[0] = 0x20 | 0x1d; // diag 29: unknown
            let c = decode(&b).unwrap();
            assert_eq!(c.diag, Diag::Other(29));
            assert_eq!(encode(&c), b);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x = 0x1234_5678u32;
        for n in 0..2000usize {
            let mut v = vec![0u8; n % 64];
            for b in &mut v {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            if v.len() >= 4 && n % 2 == 0 {
                v[0] = 0x20;
                v[3] = v.len() as u8;
            }
            let _ = decode(&v);
        }
    }
}
