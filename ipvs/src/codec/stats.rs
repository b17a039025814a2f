//! `IPVS_STATS_ATTR_*`: counters nested in services and destinations.
//!
//! The kernel sends both `IPVS_*_ATTR_STATS` (32-bit counters, 64-bit bytes) and
//! `IPVS_*_ATTR_STATS64` (all `u64`, with a `PAD` attribute for alignment); [`parse_stats`]
//! reads either, widening to `u64`.

use netlink_packet_core::{DecodeError, ErrorContext, NlasIterator, parse_u32, parse_u64};

use crate::model::Stats;

const IPVS_STATS_ATTR_CONNS: u16 = 1;
const IPVS_STATS_ATTR_INPKTS: u16 = 2;
const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
const IPVS_STATS_ATTR_INBYTES: u16 = 4;
const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
const IPVS_STATS_ATTR_CPS: u16 = 6;
const IPVS_STATS_ATTR_INPPS: u16 = 7;
const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
const IPVS_STATS_ATTR_INBPS: u16 = 9;
const IPVS_STATS_ATTR_OUTBPS: u16 = 10;
// const IPVS_STATS_ATTR_PAD: u16 = 11;

/// A counter value of 4 or 8 bytes (STATS vs STATS64).
fn parse_counter(v: &[u8]) -> Result<u64, DecodeError> {
    match v.len() {
        4 => parse_u32(v).map(u64::from),
        8 => parse_u64(v),
        n => Err(DecodeError::from(format!("stats counter of {n} bytes"))),
    }
}

/// Parses the payload of a STATS or STATS64 nest.
pub(crate) fn parse_stats(payload: &[u8]) -> Result<Stats, DecodeError> {
    let mut s = Stats::default();
    for nla in NlasIterator::new(payload) {
        let nla = nla.context("invalid IPVS_STATS_ATTR")?;
        let slot = match nla.kind() {
            IPVS_STATS_ATTR_CONNS => &mut s.conns,
            IPVS_STATS_ATTR_INPKTS => &mut s.inpkts,
            IPVS_STATS_ATTR_OUTPKTS => &mut s.outpkts,
            IPVS_STATS_ATTR_INBYTES => &mut s.inbytes,
            IPVS_STATS_ATTR_OUTBYTES => &mut s.outbytes,
            IPVS_STATS_ATTR_CPS => &mut s.cps,
            IPVS_STATS_ATTR_INPPS => &mut s.inpps,
            IPVS_STATS_ATTR_OUTPPS => &mut s.outpps,
            IPVS_STATS_ATTR_INBPS => &mut s.inbps,
            IPVS_STATS_ATTR_OUTBPS => &mut s.outbps,
            _ => continue,
        };
        *slot = parse_counter(nla.value()).context("invalid IPVS_STATS_ATTR value")?;
    }
    Ok(s)
}
