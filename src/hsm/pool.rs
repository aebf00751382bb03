//! A small, bounded pool of PKCS#11 sessions.
//!
//! A PKCS#11 session runs one operation at a time (`C_SignInit`/`C_Sign` is a two-call
//! sequence on the session's state), so concurrent signers need one session each. cryptoki's
//! `Session` is `Send` but not `Sync`, which this pool respects: a session is only ever used by
//! the thread holding its [`Lease`], and moves between threads only through the mutex.
//!
//! Invariants: `open` counts the idle sessions plus the leased ones plus those being opened,
//! and never exceeds `max`; a session is closed (dropped) outside the lock, because
//! `C_CloseSession` can block on a network HSM.

use cryptoki::session::Session;
use std::ops::Deref;
use std::sync::{Condvar, Mutex, MutexGuard};

struct State {
    idle: Vec<Session>,
    open: usize,
}

pub(crate) struct SessionPool {
    state: Mutex<State>,
    returned: Condvar,
    max: usize,
}

impl SessionPool {
    /// A pool that holds `first` (the session used to log in) and opens up to `max` in all.
    pub(crate) fn new(first: Session, max: usize) -> Self {
        SessionPool {
            state: Mutex::new(State {
                idle: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
            max: max.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave `State` half-updated (every update is a
        // single push/pop/add), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle session, or a new one from `open` while fewer than `max` exist, or else waits
    /// for one to be returned.
    pub(crate) fn acquire<E>(
        &self,
        open: impl FnOnce() -> Result<Session, E>,
    ) -> Result<Lease<'_>, E> {
        let mut state = self.lock();
        loop {
            if let Some(session) = state.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    session: Some(session),
                    keep: true,
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match open() {
                    Ok(session) => Ok(Lease {
                        pool: self,
                        session: Some(session),
                        keep: true,
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Sessions currently open (idle or leased); for tests and metrics.
    pub(crate) fn open_sessions(&self) -> usize {
        self.lock().open
    }
}

/// A session on loan from the pool; returned on drop unless [`Lease::discard`]ed.
pub(crate) struct Lease<'a> {
    pool: &'a SessionPool,
    /// Always `Some` until drop.
    session: Option<Session>,
    keep: bool,
}

impl Lease<'_> {
    /// Closes the session instead of returning it: it failed in a way (handle invalid, logged
    /// out, device removed) that makes it useless to the next caller.
    pub(crate) fn discard(mut self) {
        self.keep = false;
    }
}

impl Deref for Lease<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        // `session` is only taken in `drop`, so it is present whenever the lease is usable.
        match &self.session {
            Some(session) => session,
            None => unreachable!("a lease holds its session until dropped"),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        if self.keep {
            self.pool.lock().idle.push(session);
        } else {
            self.pool.lock().open -= 1;
            // Closes it (cryptoki closes on drop), outside the lock.
            drop(session);
        }
        self.pool.returned.notify_one();
    }
}
