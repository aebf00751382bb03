//! What the listener allows a client, and why each default is what it is.

use super::duration::format_duration;
use std::time::Duration;

/// The limits one listener enforces. Every field becomes a `mayfly serve` flag (see
/// [`FLAGS`]); [`ConnectionLimits::for_nofile_limit`] fills in the connection caps from the
/// process's descriptor limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest time from accepting a connection to having its first request's complete
    /// head (request line and headers), and from the first byte of any later request on
    /// the connection to its complete head. A total, not an inactivity timer: a client
    /// trickling one header byte a second is closed all the same.
    ///
    /// Default 10 s. Real clients send the whole head in one write right after connecting,
    /// so they need one round trip; 10 s covers a bad mobile or intercontinental link many
    /// times over, and makes a slow-headers attacker spend a connection slot per 10 s
    /// instead of forever. (Go's servers are commonly set to 5–10 s, hyper defaults to 30 s,
    /// nginx to 60 s; nginx also sees the connection first when it fronts Mayfly.)
    pub header_read_timeout: Duration,
    /// Longest time from a request's complete head to its complete body. When it passes
    /// while the handler is still reading, the request is answered 408 and the connection
    /// is closed.
    ///
    /// Default 30 s. Mayfly's request bodies are small (a CSR and a token, or a Rekor entry;
    /// the body limit is about 2 MiB): 2 MiB at a pessimistic 1 Mbit/s takes 17 s. Requests
    /// with no body, or whose body already arrived with the head, never start the timer.
    pub body_read_timeout: Duration,
    /// Longest time a connection may sit with the server waiting on the client for
    /// anything other than a request head or body: between requests on a keep-alive
    /// connection, and while the client does not read a response the server is writing.
    ///
    /// Default 75 s (nginx's `keepalive_timeout`). It must be longer than the idle timeout
    /// of a proxy or load balancer that pools connections to Mayfly (AWS ALB and nginx's
    /// upstream pool: 60 s), so that the proxy, not Mayfly, closes an idle pooled
    /// connection: otherwise the proxy can send a request just as Mayfly closes, and its
    /// client gets a 502. Idle connections are cheap here because they are the first to be
    /// closed when the connection cap is reached.
    pub keep_alive_idle_timeout: Duration,
    /// Connections open at once, from all clients. When reached, a new connection closes
    /// the oldest connection that has no request in progress (idle, or still waiting for
    /// its head) and takes its place; if every connection has a request in progress, the
    /// new one is closed at once.
    ///
    /// Default: see [`default_max_connections`](super::default_max_connections) — below the
    /// descriptor limit with room for the database, log files and outbound HTTPS, so that
    /// `accept` never fails for lack of descriptors.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv4 address, or IPv6 /64: one
    /// IPv6 client commonly holds a whole /64). A connection over this cap is closed at
    /// once; it never takes another client's connection.
    ///
    /// Default a quarter of `max_connections`: no single address can take the service, and
    /// a CI farm behind one NAT address still gets hundreds. Behind a reverse proxy every
    /// connection comes from the proxy's address: set it equal to `max_connections` there
    /// and let the proxy limit its clients.
    pub max_connections_per_ip: usize,
    /// After shutdown starts (SIGTERM), how long requests already in progress may take to
    /// finish before their connections are closed regardless. Connections with no request
    /// in progress are closed at once.
    ///
    /// Default 10 s. A request takes milliseconds; 10 s lets a slow upload finish, and
    /// leaves most of systemd's `TimeoutStopSec=30` (and Kubernetes' 30 s grace) for the
    /// logs to commit their last batch before the process is killed.
    pub shutdown_grace: Duration,
}

/// What an operator sets: the timeouts, and the caps if not derived from the descriptor limit.
/// Resolved into [`ConnectionLimits`] once the process has raised that limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub keep_alive_idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// `None`: [`default_max_connections`](super::default_max_connections) of the soft limit.
    pub max_connections: Option<usize>,
    /// `None`: a quarter of the total.
    pub max_connections_per_ip: Option<usize>,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_read_timeout: ConnectionLimits::DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: ConnectionLimits::DEFAULT_BODY_READ_TIMEOUT,
            keep_alive_idle_timeout: ConnectionLimits::DEFAULT_KEEP_ALIVE_IDLE_TIMEOUT,
            shutdown_grace: ConnectionLimits::DEFAULT_SHUTDOWN_GRACE,
            max_connections: None,
            max_connections_per_ip: None,
        }
    }
}

impl ConnectionSettings {
    /// The limits for a process whose soft `RLIMIT_NOFILE` is `soft_limit`, checked.
    pub fn resolve(&self, soft_limit: u64) -> Result<ConnectionLimits, LimitsError> {
        let max_connections = self
            .max_connections
            .unwrap_or_else(|| super::default_max_connections(soft_limit));
        let limits = ConnectionLimits {
            header_read_timeout: self.header_read_timeout,
            body_read_timeout: self.body_read_timeout,
            keep_alive_idle_timeout: self.keep_alive_idle_timeout,
            max_connections,
            max_connections_per_ip: self
                .max_connections_per_ip
                .unwrap_or_else(|| default_max_connections_per_ip(max_connections)),
            shutdown_grace: self.shutdown_grace,
        };
        limits.validate()?;
        Ok(limits)
    }
}

/// Timeouts above this are refused: they mean "never" to any client, and keeping them
/// finite keeps every deadline computation far from `Instant` overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl ConnectionLimits {
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_KEEP_ALIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

    /// The defaults, with the connection caps derived from a soft `RLIMIT_NOFILE` of
    /// `soft_limit` (as raised by [`raise_nofile_limit`](super::raise_nofile_limit)).
    pub fn for_nofile_limit(soft_limit: u64) -> Self {
        let max_connections = super::default_max_connections(soft_limit);
        ConnectionLimits {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            keep_alive_idle_timeout: Self::DEFAULT_KEEP_ALIVE_IDLE_TIMEOUT,
            max_connections,
            max_connections_per_ip: default_max_connections_per_ip(max_connections),
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Refuses values that would make the listener useless or its arithmetic overflow.
    pub fn validate(&self) -> Result<(), LimitsError> {
        for (flag, value) in [
            ("--header-timeout", self.header_read_timeout),
            ("--body-timeout", self.body_read_timeout),
            ("--idle-timeout", self.keep_alive_idle_timeout),
        ] {
            if value.is_zero() {
                return Err(LimitsError::ZeroTimeout(flag));
            }
            if value > MAX_TIMEOUT {
                return Err(LimitsError::TimeoutTooLong(flag, format_duration(value)));
            }
        }
        if self.shutdown_grace > MAX_TIMEOUT {
            return Err(LimitsError::TimeoutTooLong(
                "--shutdown-grace",
                format_duration(self.shutdown_grace),
            ));
        }
        if self.max_connections == 0 {
            return Err(LimitsError::ZeroCap("--max-connections"));
        }
        // tokio's semaphore holds at most usize::MAX >> 3 permits.
        if self.max_connections > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(LimitsError::CapTooLarge(self.max_connections));
        }
        if self.max_connections_per_ip == 0 {
            return Err(LimitsError::ZeroCap("--max-connections-per-client"));
        }
        Ok(())
    }
}

impl Default for ConnectionLimits {
    /// The defaults for the common systemd soft limit of 1,024 descriptors; a server should
    /// rather use [`ConnectionLimits::for_nofile_limit`] with the limit it actually has.
    fn default() -> Self {
        Self::for_nofile_limit(1024)
    }
}

/// A quarter of the total, at least one.
pub fn default_max_connections_per_ip(max_connections: usize) -> usize {
    (max_connections / 4).max(1)
}

/// A [`ConnectionLimits`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("{0} must be longer than zero")]
    ZeroTimeout(&'static str),
    #[error("{0} {1} is longer than the 24h maximum")]
    TimeoutTooLong(&'static str, String),
    #[error("{0} must be at least 1")]
    ZeroCap(&'static str),
    #[error("--max-connections {0} is more than the listener can count")]
    CapTooLarge(usize),
}

/// One `mayfly serve` flag for a [`ConnectionLimits`] field: for clap's `help` and the
/// README's flag table.
#[derive(Clone, Copy, Debug)]
pub struct FlagDoc {
    pub flag: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// The flags, in README order. `default` is what the README shows; clap's own default is
/// left unset for the derived caps so that "not given" can be told from "given".
pub const FLAGS: &[FlagDoc] = &[
    FlagDoc {
        flag: "--header-timeout",
        env: "MAYFLY_HEADER_TIMEOUT",
        default: "10s",
        help: "time a client has to send a request's headers, from connecting (or from the \
               first byte of a later request on the same connection); then the connection is \
               closed",
    },
    FlagDoc {
        flag: "--body-timeout",
        env: "MAYFLY_BODY_TIMEOUT",
        default: "30s",
        help: "time a client has to send a whole request body once its headers are in; then \
               the request gets 408 and the connection is closed",
    },
    FlagDoc {
        flag: "--idle-timeout",
        env: "MAYFLY_IDLE_TIMEOUT",
        default: "75s",
        help: "how long a keep-alive connection may wait for its next request, or a client \
               may leave a response unread, before the connection is closed; keep it above \
               the idle timeout of a proxy in front (60s for nginx and AWS ALB)",
    },
    FlagDoc {
        flag: "--max-connections",
        env: "MAYFLY_MAX_CONNECTIONS",
        default: "from the descriptor limit: 7/8 of it, at most 16384 (896 at 1024)",
        help: "connections open at once; when reached, a new connection replaces the oldest \
               one with no request in progress, or is closed if there is none",
    },
    FlagDoc {
        flag: "--max-connections-per-client",
        env: "MAYFLY_MAX_CONNECTIONS_PER_CLIENT",
        default: "a quarter of --max-connections",
        help: "connections open at once from one client address (IPv6: one /64); more are \
               closed at once. Behind a reverse proxy, set it to --max-connections",
    },
    FlagDoc {
        flag: "--shutdown-grace",
        env: "MAYFLY_SHUTDOWN_GRACE",
        default: "10s",
        help: "on SIGTERM or Ctrl-C, time requests in progress have to finish before their \
               connections are closed; idle connections close at once",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::listener::duration::parse_duration;

    #[test]
    fn defaults_are_valid_and_documented() {
        let limits = ConnectionLimits::default();
        assert_eq!(limits.validate(), Ok(()));
        assert_eq!(
            (limits.max_connections, limits.max_connections_per_ip),
            (896, 224)
        );
        let documented = |flag: &str| {
            let doc = FLAGS.iter().find(|f| f.flag == flag).unwrap();
            parse_duration(doc.default).unwrap()
        };
        assert_eq!(documented("--header-timeout"), limits.header_read_timeout);
        assert_eq!(documented("--body-timeout"), limits.body_read_timeout);
        assert_eq!(documented("--idle-timeout"), limits.keep_alive_idle_timeout);
        assert_eq!(documented("--shutdown-grace"), limits.shutdown_grace);
    }

    #[test]
    fn refuses_unworkable_limits() {
        let ok = ConnectionLimits::default();
        let zero = ConnectionLimits {
            header_read_timeout: Duration::ZERO,
            ..ok
        };
        assert_eq!(
            zero.validate(),
            Err(LimitsError::ZeroTimeout("--header-timeout"))
        );
        let long = ConnectionLimits {
            keep_alive_idle_timeout: Duration::from_secs(90_000),
            ..ok
        };
        assert!(matches!(
            long.validate(),
            Err(LimitsError::TimeoutTooLong("--idle-timeout", _))
        ));
        let no_conns = ConnectionLimits {
            max_connections_per_ip: 0,
            ..ok
        };
        assert_eq!(
            no_conns.validate(),
            Err(LimitsError::ZeroCap("--max-connections-per-client"))
        );
        let no_grace = ConnectionLimits {
            shutdown_grace: Duration::ZERO,
            ..ok
        };
        assert_eq!(no_grace.validate(), Ok(()));
    }
}
