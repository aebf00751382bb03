//! The process's descriptor limit, through `rustix` (already in Mayfly's tree through
//! `tempfile`, maintained by the Bytecode Alliance; the "process" feature adds no crate).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::io;

/// Descriptors kept out of the connection cap for everything else the server opens: the
/// SQLite pool (three files per pooled connection: database, WAL, shared memory), outbound
/// HTTPS to OIDC issuers, stdio, the runtime's epoll and wake-up descriptors, the listener,
/// and a margin for a connection that is accepted while another closes.
pub const NOFILE_RESERVE: u64 = 128;

/// The largest default connection cap. An idle connection costs about 16 KiB of memory
/// in the process (measured: 896 idle connections add 13-15 MiB of RSS, mostly hyper's 8 KiB
/// read buffer), plus kernel socket memory, so 16,384 stalled connections stay near
/// 250 MiB; a deployment that really needs more says so with `--max-connections`.
pub const MAX_DEFAULT_CONNECTIONS: usize = 16_384;

/// Where to raise the soft limit when the hard limit is "unlimited" (not on Linux, where
/// `fs.nr_open` caps it; macOS reports unlimited but refuses values above its own cap).
const UNLIMITED_TARGET: u64 = 1 << 20;

/// The soft `RLIMIT_NOFILE`; `u64::MAX` when unlimited.
pub fn nofile_soft_limit() -> u64 {
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit before and
/// after. systemd starts services with a soft limit of 1,024 (kept low for programs that
/// still use `select`) and a much higher hard limit, expecting servers to raise their own;
/// Mayfly does not use `select`. On failure nothing has changed and the caller should go
/// on with the old limit (and the connection cap derived from it).
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    let target = limit.maximum.unwrap_or(UNLIMITED_TARGET);
    if before >= target {
        return Ok((before, before));
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        },
    )?;
    Ok((before, nofile_soft_limit()))
}

/// The default `max_connections` for a soft descriptor limit: the limit less a reserve of
/// [`NOFILE_RESERVE`] or an eighth of it, whichever is larger (but never less than half the
/// limit, for tiny limits), and at most [`MAX_DEFAULT_CONNECTIONS`]. 1,024 gives 896.
pub fn default_max_connections(soft_limit: u64) -> usize {
    let reserve = NOFILE_RESERVE.max(soft_limit / 8);
    let usable = soft_limit
        .saturating_sub(reserve)
        .max(soft_limit / 2)
        .max(1);
    usize::try_from(usable)
        .unwrap_or(usize::MAX)
        .min(MAX_DEFAULT_CONNECTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_caps_leave_headroom() {
        assert_eq!(default_max_connections(1024), 896);
        assert_eq!(default_max_connections(4096), 3584);
        assert_eq!(default_max_connections(65_536), MAX_DEFAULT_CONNECTIONS);
        assert_eq!(default_max_connections(u64::MAX), MAX_DEFAULT_CONNECTIONS);
        assert_eq!(default_max_connections(200), 100);
        assert_eq!(default_max_connections(1), 1);
        assert_eq!(default_max_connections(0), 1);
    }

    #[test]
    fn raising_is_idempotent() {
        let (_, after) = raise_nofile_limit().unwrap();
        assert_eq!(raise_nofile_limit().unwrap(), (after, after));
    }
}
