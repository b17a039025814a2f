//! IPVS: the typed model of the kernel's virtual-server table, a generic-netlink client for it,
//! and the reconciler that turns a desired table into the minimal list of kernel operations.
