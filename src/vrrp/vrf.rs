//! `vrf NAME` of an instance without `interface`: its VRRP sockets are bound to the VRF
//! device, so adverts are routed by the VRF's table and received from the interfaces enslaved
//! to it. This module answers whether a device is a VRF master.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// `ETHTOOL_GDRVINFO` answer (linux/ethtool.h `struct ethtool_drvinfo`).
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

const ETHTOOL_GDRVINFO: u32 = 3;

/// The driver of network device `name` in the current network namespace (`ethtool -i`):
/// asked of the kernel, not of sysfs (which answers for the namespace it was mounted in).
pub fn driver(name: &str) -> io::Result<String> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        n_priv_flags: 0,
        n_stats: 0,
        testinfo_len: 0,
        eedump_len: 0,
        regdump_len: 0,
    };
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut info as *mut DrvInfo).cast();
    // SAFETY: SIOCETHTOOL reads the ifreq and writes at most a DrvInfo through ifru_data,
    // both of which live until the call returns.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

/// Whether `name` is a VRF master device (`ip link add NAME type vrf table N`). None when the
/// device does not exist.
pub fn is_vrf(name: &str) -> Option<bool> {
    match driver(name) {
        Ok(d) => Some(d == "vrf"),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => None,
        // A device without ethtool operations (EOPNOTSUPP) is no VRF.
        Err(_) => nix::net::if_::if_nametoindex(name).ok().map(|_| false),
    }
}

/// Fails unless `name` is a VRF master device.
pub fn check(name: &str) -> io::Result<()> {
    match is_vrf(name) {
        Some(true) => Ok(()),
        Some(false) => Err(io::Error::other(format!("vrf {name} is not a VRF device"))),
        None => Err(io::Error::other(format!(
            "VRF device {name} does not exist"
        ))),
    }
}

/// The source address the kernel picks towards `peer` (a UDP route lookup, nothing is sent),
/// in the VRF `device` is bound to, or the main table: the advert source of an instance
/// without `interface` nor `unicast_src_ip`.
pub fn source_towards(peer: IpAddr, device: Option<&str>) -> io::Result<IpAddr> {
    let domain = if peer.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
    if let Some(d) = device {
        sock.bind_device(Some(d.as_bytes()))?;
    }
    sock.connect(&SocketAddr::new(peer, 9).into())?;
    sock.local_addr()?
        .as_socket()
        .map(|a| a.ip())
        .ok_or_else(|| io::Error::other("no local address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_no_vrf_and_a_missing_device_is_none() {
        assert_eq!(is_vrf("lo"), Some(false));
        assert_eq!(is_vrf("lvsd-no-such0"), None);
        assert_eq!(is_vrf(""), None);
        assert!(check("lo").is_err());
    }

    #[test]
    fn the_source_towards_loopback_is_loopback() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(source_towards(lo, None).ok(), Some(lo));
    }
}
