//! Netlink framing: an [`IpvsMessage`] inside `nlmsghdr` + `genlmsghdr`, and the replies.
//!
//! ```text
//! nlmsghdr (16): len u32 | type u16 (family id, or 2 = ERROR, 3 = DONE) | flags u16 | seq u32 | pid u32
//! genlmsghdr (4): cmd u8 | version u8 | reserved u16
//! attributes...
//! ```
//!
//! Replies are split by hand (a datagram holds many messages); the attributes of an IPVS
//! message are handed to a decoder: [`frames`] builds [`IpvsMessage`]s, the client's dump path
//! decodes straight into the model with [`frames_with`].

use netlink_packet_core::{DecodeError, NetlinkBuffer, NetlinkMessage};
use netlink_packet_generic::GenlMessage;

use super::{IpvsCmd, IpvsMessage};

const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Below this, message types are netlink control messages (NOOP, ERROR, DONE, OVERRUN).
const NLMSG_MIN_TYPE: u16 = 0x10;

/// Appends one request to `out`.
pub fn encode(msg: IpvsMessage, family: u16, flags: u16, seq: u32, out: &mut Vec<u8>) {
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family);
    let mut nl = NetlinkMessage::from(genl);
    nl.header.flags = flags;
    nl.header.sequence_number = seq;
    nl.finalize();
    let start = out.len();
    out.resize(start + nl.buffer_len(), 0);
    nl.serialize(&mut out[start..]);
}

/// One decoded reply message.
#[derive(Debug)]
pub enum Reply<T = IpvsMessage> {
    /// An IPVS message (dump entry or GET reply), decoded.
    Ipvs(T),
    /// An ACK (`errno` = 0) or an error (`errno` > 0).
    Ack {
        /// Positive errno, 0 for success.
        errno: i32,
    },
    /// End of a dump.
    Done,
    /// Something else (NOOP, OVERRUN).
    Other,
}

/// A decoded reply with its sequence number and flags.
#[derive(Debug)]
pub struct Frame<T = IpvsMessage> {
    /// Sequence number of the request it answers.
    pub seq: u32,
    /// `NLM_F_*`.
    pub flags: u16,
    /// The body.
    pub reply: Reply<T>,
}

/// Splits a received datagram into [`IpvsMessage`]s, acks and dones.
pub fn frames(buf: &[u8]) -> impl Iterator<Item = Result<Frame, DecodeError>> + '_ {
    frames_with(buf, IpvsMessage::parse_attrs)
}

/// Splits a received datagram into messages, decoding each IPVS message's attributes with
/// `decode(cmd, attributes)`. A malformed message is an `Err` item and ends the iteration (its
/// length field cannot be trusted).
pub fn frames_with<'a, T, F>(
    buf: &'a [u8],
    decode: F,
) -> impl Iterator<Item = Result<Frame<T>, DecodeError>> + 'a
where
    F: Fn(IpvsCmd, &[u8]) -> Result<T, DecodeError> + 'a,
{
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let rest = buf.get(pos..).filter(|r| !r.is_empty())?;
        match one(rest, &decode) {
            Ok((frame, len)) => {
                // Messages are 4-byte aligned within a datagram; len >= 16, so this advances.
                pos += (len + 3) & !3;
                Some(Ok(frame))
            }
            Err(e) => {
                pos = buf.len();
                Some(Err(e))
            }
        }
    })
}

fn one<T, F>(rest: &[u8], decode: &F) -> Result<(Frame<T>, usize), DecodeError>
where
    F: Fn(IpvsCmd, &[u8]) -> Result<T, DecodeError>,
{
    let nb = NetlinkBuffer::new_checked(rest)?;
    let len = nb.length() as usize;
    let msg = rest
        .get(..len)
        .filter(|_| len >= NLMSG_HDRLEN)
        .ok_or_else(|| DecodeError::from(format!("netlink message length {len}")))?;
    let (seq, flags, kind) = (nb.sequence_number(), nb.flags(), nb.message_type());
    let payload = &msg[NLMSG_HDRLEN..];
    let reply = match kind {
        NLMSG_ERROR => {
            let code: [u8; 4] = payload
                .get(..4)
                .and_then(|c| c.try_into().ok())
                .ok_or("NLMSG_ERROR without an error code")?;
            // The kernel sends -errno; never trust it to be in range.
            let errno = i32::from_ne_bytes(code).checked_neg().unwrap_or(i32::MAX);
            Reply::Ack { errno }
        }
        NLMSG_DONE => Reply::Done,
        k if k < NLMSG_MIN_TYPE => Reply::Other,
        _ => {
            let cmd = *payload
                .first()
                .ok_or("generic netlink message without a header")?;
            let attrs = payload
                .get(GENL_HDRLEN..)
                .ok_or("short generic netlink header")?;
            Reply::Ipvs(decode(IpvsCmd::from(cmd), attrs)?)
        }
    };
    Ok((Frame { seq, flags, reply }, len))
}
