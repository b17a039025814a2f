//! nftables, as keepalived 2.2.7 uses it: the VRRP `no_accept` table ([`vrrp`]) and the
//! `nftables_ipvs` fwmarks of virtual server groups ([`ipvs`]).
//!
//! Model: each user computes the whole table it wants (a [`ruleset::Table`]: sets with their
//! elements, chains with their rules) from configuration and state alone; [`ruleset::converge`]
//! lists the table in the kernel (`nft -j list table`), compares its shape (sets and elements,
//! chains, hooks, priorities, rules) with the wanted one, and replaces the table in one atomic
//! `nft -f -` transaction when they differ, or deletes it when none is wanted. Nothing relies on
//! remembering what was written: a table someone flushed is rewritten at the next convergence.
//!
//! How lvsd talks to nftables, and why: the [`backend::Nft`] seam has one implementation, the
//! `nft` program (Debian package nftables), written to in nft's own syntax and read in its JSON
//! output. The crates were weighed: `rustables` (netlink, pure Rust) is GPL-3.0, which this
//! MIT/Apache project cannot link; `nftnl` (libnftnl FFI) needs libnftnl-dev/libmnl-dev at
//! build time and hand-assembled expressions; the `nftables` crate (typed JSON over the same
//! `nft` program) cannot express keepalived's layout: its set types lack `iface_index` and
//! `icmpv6_type`, so it cannot even read keepalived's IPv6 table back. The `nft` program is
//! what an operator already uses to inspect the result, and what keepalived's table is read with.

pub mod backend;
pub mod ipvs;
pub mod ruleset;
pub mod vrrp;
