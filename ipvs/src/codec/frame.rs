//! Netlink framing: an [`IpvsMessage`] inside `nlmsghdr` + `genlmsghdr`, and the replies.

use netlink_packet_core::{DecodeError, NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;

use super::IpvsMessage;

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
pub enum Reply {
    /// An IPVS message (dump entry or GET reply).
    Ipvs(IpvsMessage),
    /// An ACK (`errno` = 0) or an error (`errno` > 0).
    Ack {
        /// Positive errno, 0 for success.
        errno: i32,
    },
    /// End of a dump.
    Done,
    /// Something else (e.g. NOOP, overrun).
    Other,
}

/// A decoded reply with its sequence number and flags.
#[derive(Debug)]
pub struct Frame {
    /// Sequence number of the request it answers.
    pub seq: u32,
    /// `NLM_F_*`.
    pub flags: u16,
    /// The body.
    pub reply: Reply,
}

/// Splits a received datagram into messages. A malformed message is an `Err` item; iteration
/// stops after it (its length field cannot be trusted).
pub fn frames(buf: &[u8]) -> impl Iterator<Item = Result<Frame, DecodeError>> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let rest = &buf[pos..];
        let item = (|| {
            let nb = NetlinkBuffer::new_checked(rest)?;
            let len = nb.length() as usize;
            if len < 16 || len > rest.len() {
                return Err(DecodeError::from(format!("netlink message length {len}")));
            }
            let (seq, flags) = (nb.sequence_number(), nb.flags());
            let msg = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(&rest[..len])?;
            let reply = match msg.payload {
                NetlinkPayload::InnerMessage(g) => Reply::Ipvs(g.payload),
                NetlinkPayload::Error(e) => Reply::Ack {
                    errno: e.code.map_or(0, |c| -c.get()),
                },
                NetlinkPayload::Done(_) => Reply::Done,
                _ => Reply::Other,
            };
            // Messages are 4-byte aligned within a datagram.
            Ok::<_, DecodeError>((Frame { seq, flags, reply }, (len + 3) & !3))
        })();
        match item {
            Ok((frame, step)) => {
                pos += step.max(1);
                Some(Ok(frame))
            }
            Err(e) => {
                pos = buf.len();
                Some(Err(e))
            }
        }
    })
}
