//! Address announcements on takeover: gratuitous ARP for IPv4 VIPs and unsolicited Neighbour
//! Advertisements for IPv6 VIPs, byte-for-byte as keepalived 2.2.7 sends them (netlab.md).
//!
//! Frame building is pure ([`garp_frame`], [`na_frame`]); [`Announcer`] sends complete Ethernet
//! frames on an `AF_PACKET` socket, so nothing depends on the VIP's kernel state (a fresh IPv6
//! address may still be tentative).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use socket2::{Domain, Socket, Type};

use super::packet::internet_checksum;

pub type Mac = [u8; 6];

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Gratuitous ARP (42 bytes): an ARP request, op 1, sha = `mac`, spa = tpa = `vip`,
/// tha = ff:ff:ff:ff:ff:ff (keepalived's choice, not zeros), broadcast.
pub fn garp_frame(mac: Mac, vip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&vip.octets());
    f
}

/// Unsolicited NA (86 bytes): from the VIP to ff02::1, hop limit 255, flags O=1 R=0 S=0,
/// target = VIP, target link-layer address option = `mac`.
pub fn na_frame(mac: Mac, vip: Ipv6Addr) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[136, 0, 0, 0]); // type NA, code, checksum placeholder
    icmp.extend_from_slice(&[0x20, 0, 0, 0]); // O flag
    icmp.extend_from_slice(&vip.octets());
    icmp.extend_from_slice(&[2, 1]); // option: target link-layer address, 8 bytes
    icmp.extend_from_slice(&mac);
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&vip.octets());
    pseudo.extend_from_slice(&ALL_NODES.octets());
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    let ck = internet_checksum(&[&pseudo, &icmp]);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());

    let mut f = Vec::with_capacity(86);
    f.extend_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&ALL_NODES.octets());
    f.extend_from_slice(&icmp);
    f
}

/// The frame that announces `vip`.
pub fn announce_frame(mac: Mac, vip: IpAddr) -> Vec<u8> {
    match vip {
        IpAddr::V4(a) => garp_frame(mac, a),
        IpAddr::V6(a) => na_frame(mac, a),
    }
}

/// Sends announcement frames out of one interface.
pub struct Announcer {
    sock: Arc<Socket>,
    ifindex: u32,
    pacer: Option<Arc<Pacer>>,
}

/// `vrrp_garp_interval` / `vrrp_gna_interval` (and `garp_group`): the minimum gap between two
/// GARPs (two NAs) on an interface, or across a group of interfaces. One task per key sends
/// the queued frames with that spacing; it ends when the last announcer using it is dropped.
pub struct Pacer {
    tx: mpsc::Sender<(Arc<Socket>, u32, Vec<u8>)>,
}

/// Frames waiting for their turn, per pacer; beyond this they are dropped (and logged).
const PACER_QUEUE: usize = 1024;

static PACERS: Mutex<Option<HashMap<String, Weak<Pacer>>>> = Mutex::new(None);

impl Pacer {
    /// The pacer for `key` (an interface or a garp_group), shared by every instance using it.
    /// Needs a tokio runtime.
    pub fn shared(key: &str, garp: Duration, gna: Duration) -> Arc<Pacer> {
        let mut g = PACERS.lock().unwrap_or_else(|e| e.into_inner());
        let map = g.get_or_insert_with(HashMap::new);
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(p) = map.get(key).and_then(Weak::upgrade) {
            return p;
        }
        let (tx, mut rx) = mpsc::channel::<(Arc<Socket>, u32, Vec<u8>)>(PACER_QUEUE);
        tokio::spawn(async move {
            while let Some((sock, ifindex, frame)) = rx.recv().await {
                if let Err(e) = send_frame(&sock, ifindex, &frame) {
                    tracing::debug!("paced announcement not sent: {e}");
                }
                let gap = if is_na(&frame) { gna } else { garp };
                tokio::time::sleep(gap).await;
            }
        });
        let p = Arc::new(Pacer { tx });
        map.insert(key.to_string(), Arc::downgrade(&p));
        p
    }
}

fn is_na(frame: &[u8]) -> bool {
    frame.len() >= 14 && u16::from_be_bytes([frame[12], frame[13]]) == ETH_P_IPV6
}

impl Announcer {
    /// An `AF_PACKET` socket with protocol 0: it sends and never receives.
    pub fn new(ifindex: u32) -> io::Result<Announcer> {
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)?;
        sock.set_nonblocking(true)?;
        Ok(Announcer {
            sock: Arc::new(sock),
            ifindex,
            pacer: None,
        })
    }

    /// Spaces this announcer's frames through `pacer` (none: sent at once).
    pub fn paced(mut self, pacer: Option<Arc<Pacer>>) -> Announcer {
        self.pacer = pacer;
        self
    }

    /// Sends one complete Ethernet frame (destination taken from its first 6 bytes), or
    /// queues it behind the pacer.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        match &self.pacer {
            None => send_frame(&self.sock, self.ifindex, frame),
            Some(p) => {
                p.tx.try_send((self.sock.clone(), self.ifindex, frame.to_vec()))
                    .map_err(|_| io::Error::other("announcement queue full"))
            }
        }
    }
}

fn send_frame(sock: &Socket, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    if frame.len() < 14 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "short frame"));
    }
    // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: valid fd, buffer and address of the stated lengths.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::packet::tests_support::hex;

    const LB1: Mac = [0x02, 0x77, 0, 0, 0, 1];

    #[test]
    fn garp_matches_keepalived() {
        let want = hex("
0x0000:  ffff ffff ffff 0277 0000 0001 0806 0001
0x0010:  0800 0604 0001 0277 0000 0001 0a4d 0064
0x0020:  ffff ffff ffff 0a4d 0064");
        assert_eq!(garp_frame(LB1, Ipv4Addr::new(10, 77, 0, 100)), want);
    }

    #[test]
    fn unsolicited_na_matches_keepalived() {
        let want = hex("
0x0000:  3333 0000 0001 0277 0000 0001 86dd 6000
0x0010:  0000 0020 3aff fe80 0000 0000 0000 0000
0x0020:  0000 0000 0100 ff02 0000 0000 0000 0000
0x0030:  0000 0000 0001 8800 5526 2000 0000 fe80
0x0040:  0000 0000 0000 0000 0000 0000 0100 0201
0x0050:  0277 0000 0001");
        assert_eq!(na_frame(LB1, "fe80::100".parse().unwrap()), want);
    }
}
