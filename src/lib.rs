//! lvsd: a Linux load-balancer director, drop-in for keepalived.
