//! Health checkers: each check is a target, a kind and its timing; the scheduler runs them and
//! reports each real server's up/down transitions with a reason. No IPVS knowledge lives here.
