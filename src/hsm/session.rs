//! Opening a token: load the module, find the token by label, log in, keep a session pool.

use crate::hsm::error::Pkcs11Error;
use crate::hsm::module::Module;
use crate::hsm::pin::Pin;
use crate::hsm::pool::{Lease, SessionPool};
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Sessions per token unless configured otherwise. Two cores sign in parallel here; an HSM
/// usually has more engines, and a session costs the HSM a little memory each. See NOTES.md
/// for the measurements behind this number.
pub const DEFAULT_SESSIONS: usize = 4;

/// Where the keys live: which module, which token, and the user PIN.
#[derive(Clone, Debug)]
pub struct Pkcs11Config {
    /// The PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's `CKA_LABEL` as set at initialisation (SoftHSM reassigns slot numbers, so a
    /// label is the only stable name).
    pub token_label: String,
    /// The user PIN (`Debug` prints `Pin(..)`).
    pub pin: Pin,
    /// At most this many sessions are opened for signing (at least one).
    pub max_sessions: usize,
}

impl Pkcs11Config {
    pub fn new(module: impl Into<PathBuf>, token_label: impl Into<String>, pin: Pin) -> Self {
        Pkcs11Config {
            module: module.into(),
            token_label: token_label.into(),
            pin,
            max_sessions: DEFAULT_SESSIONS,
        }
    }
}

/// A logged-in token. Cheap to clone; every key found through it shares its session pool.
#[derive(Clone)]
pub struct Pkcs11Session {
    pub(crate) token: Arc<Token>,
}

pub(crate) struct Token {
    /// Sessions close on drop (C_CloseSession); the module they need stays loaded for the
    /// life of the process (see module.rs), so they can never outlive it.
    pool: SessionPool,
    pub(crate) label: String,
    slot: Slot,
    /// Kept (zeroed on drop) for logging in again after the token logs the process out.
    pin: Pin,
    module_path: PathBuf,
    module: Arc<Module>,
    /// Set once the token refused the PIN during an automatic re-login: trying again on every
    /// request would count down the token's retry counter until it locks the PIN, so after
    /// one refusal signing fails until an operator restarts with the right PIN.
    pin_refused: AtomicBool,
}

impl Pkcs11Session {
    /// Loads the module, finds the token by label and logs in as the user. On any error
    /// nothing has been created on the token and no session stays open.
    pub fn open(config: &Pkcs11Config) -> Result<Self, Pkcs11Error> {
        let module = Module::load(&config.module)?;
        let module_error = |operation, source| Pkcs11Error::Module {
            module: config.module.clone(),
            operation,
            source,
        };

        let mut matching = Vec::new();
        let mut available = Vec::new();
        let slots = module
            .ctx
            .get_slots_with_token()
            .map_err(|e| module_error("C_GetSlotList", e))?;
        for slot in slots {
            let info = module
                .ctx
                .get_token_info(slot)
                .map_err(|e| module_error("C_GetTokenInfo", e))?;
            // SoftHSM always shows one free, uninitialised token with an empty label; it is
            // not a choice an operator can make.
            if !info.token_initialized() {
                continue;
            }
            if info.label() == config.token_label {
                matching.push((slot, info));
            } else {
                available.push(info.label().to_owned());
            }
        }
        let (slot, info) = match matching.len() {
            0 => {
                // Slot order is arbitrary (SoftHSM derives slot IDs from random serials).
                available.sort();
                return Err(Pkcs11Error::TokenNotFound {
                    label: config.token_label.clone(),
                    module: config.module.clone(),
                    available,
                });
            }
            1 => matching.remove(0),
            count => {
                return Err(Pkcs11Error::TokenAmbiguous {
                    label: config.token_label.clone(),
                    module: config.module.clone(),
                    count,
                });
            }
        };
        let label = config.token_label.clone();
        // Checked before trying: a login against a locked PIN fails anyway, and on some tokens
        // it is one more strike recorded against the security officer's audit trail.
        if info.user_pin_locked() {
            return Err(Pkcs11Error::PinLocked { token: label });
        }
        if !info.user_pin_initialized() {
            return Err(Pkcs11Error::PinNotInitialised { token: label });
        }

        let token_error = |operation, source| Pkcs11Error::Token {
            token: label.clone(),
            operation,
            source,
        };
        let session = module
            .ctx
            .open_ro_session(slot)
            .map_err(|e| token_error("C_OpenSession", e))?;
        match session.login(UserType::User, Some(&config.pin.auth_pin())) {
            Ok(()) => module.record_login(slot, config.pin.digest()),
            // Already logged in: this process opened the token before (login state belongs to
            // the application, not the session), and the token did not look at the PIN. If
            // this crate made that login, hold the new PIN to the same check; a login made by
            // other code in the process is taken as it is.
            Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                if module
                    .login_digest(slot)
                    .is_some_and(|digest| digest != config.pin.digest())
                {
                    return Err(Pkcs11Error::WrongPin {
                        token: label,
                        final_try: false,
                    });
                }
            }
            Err(Error::Pkcs11(rv, function)) => {
                // Re-read the flags: after a wrong PIN the token may now say "final try".
                let final_try = module
                    .ctx
                    .get_token_info(slot)
                    .is_ok_and(|i| i.user_pin_final_try());
                return Err(login_error(
                    &label,
                    rv,
                    final_try,
                    info.min_pin_length(),
                    info.max_pin_length(),
                )
                .unwrap_or_else(|| token_error("C_Login", Error::Pkcs11(rv, function))));
            }
            Err(e) => return Err(token_error("C_Login", e)),
        }

        Ok(Pkcs11Session {
            token: Arc::new(Token {
                pool: SessionPool::new(session, config.max_sessions),
                label,
                slot,
                pin: config.pin.clone(),
                module_path: config.module.clone(),
                module,
                pin_refused: AtomicBool::new(false),
            }),
        })
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token.label
    }

    /// The labels of the private keys on the token, sorted (for `mayfly keys list` and for
    /// "key not found" messages).
    pub fn private_key_labels(&self) -> Result<Vec<String>, Pkcs11Error> {
        let lease = self.token.lease()?;
        self.token.private_key_labels(&lease)
    }

    /// Sessions currently open in the pool.
    pub fn open_sessions(&self) -> usize {
        self.token.pool.open_sessions()
    }

    /// Test hook: logs the application out of the token, as an HSM restart or a session
    /// timeout would, so tests can check that signing logs in again by itself.
    #[doc(hidden)]
    pub fn simulate_logout(&self) -> Result<(), Pkcs11Error> {
        let lease = self.token.lease()?;
        lease.logout().map_err(|e| self.token.error("C_Logout", e))
    }
}

impl std::fmt::Debug for Pkcs11Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Session")
            .field("module", &self.token.module_path)
            .field("token", &self.token.label)
            .finish_non_exhaustive()
    }
}

/// The error for a refused `C_Login`, when the return value names a PIN problem.
pub(crate) fn login_error(
    token: &str,
    rv: RvError,
    final_try: bool,
    min: usize,
    max: usize,
) -> Option<Pkcs11Error> {
    let token = token.to_owned();
    Some(match rv {
        // CKR_PIN_INVALID: the PIN has characters the token never accepts; still a wrong PIN.
        RvError::PinIncorrect | RvError::PinInvalid => Pkcs11Error::WrongPin { token, final_try },
        RvError::PinLocked => Pkcs11Error::PinLocked { token },
        RvError::PinLenRange => Pkcs11Error::PinLength { token, min, max },
        RvError::PinExpired => Pkcs11Error::PinExpired { token },
        RvError::UserPinNotInitialized => Pkcs11Error::PinNotInitialised { token },
        _ => return None,
    })
}

/// Errors after which a session is useless but a fresh one may work: the HSM restarted or
/// timed the session out, or the application was logged out.
pub(crate) fn session_lost(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::UserNotLoggedIn
            | RvError::DeviceRemoved
            | RvError::TokenNotPresent
    )
}

impl Token {
    pub(crate) fn error(&self, operation: &'static str, source: Error) -> Pkcs11Error {
        Pkcs11Error::Token {
            token: self.label.clone(),
            operation,
            source,
        }
    }

    /// A session from the pool, logged in.
    pub(crate) fn lease(&self) -> Result<Lease<'_>, Pkcs11Error> {
        self.pool.acquire(|| self.open_session(false))
    }

    /// A new session, logged in as the user (login state is per application, so this logs
    /// in only when every earlier session has gone).
    pub(crate) fn open_session(&self, read_write: bool) -> Result<Session, Pkcs11Error> {
        let ctx = &self.module.ctx;
        let session = if read_write {
            ctx.open_rw_session(self.slot)
        } else {
            ctx.open_ro_session(self.slot)
        }
        .map_err(|e| self.error("C_OpenSession", e))?;
        self.ensure_login(&session)?;
        Ok(session)
    }

    /// Logs in if `session` is not in a user state, as after an HSM restart or a logout.
    /// Never with a PIN the token has refused before (see `pin_refused`).
    pub(crate) fn ensure_login(&self, session: &Session) -> Result<(), Pkcs11Error> {
        let state = session
            .get_session_info()
            .map_err(|e| self.error("C_GetSessionInfo", e))?
            .session_state();
        if !matches!(state, SessionState::RoPublic | SessionState::RwPublic) {
            return Ok(());
        }
        if self.pin_refused.load(Ordering::Relaxed) {
            return Err(Pkcs11Error::WrongPin {
                token: self.label.clone(),
                final_try: false,
            });
        }
        match session.login(UserType::User, Some(&self.pin.auth_pin())) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(Error::Pkcs11(rv, function)) => {
                Err(match login_error(&self.label, rv, false, 0, 0) {
                    Some(e) => {
                        self.pin_refused.store(true, Ordering::Relaxed);
                        e
                    }
                    None => self.error("C_Login", Error::Pkcs11(rv, function)),
                })
            }
            Err(e) => Err(self.error("C_Login", e)),
        }
    }

    pub(crate) fn private_key_labels(&self, session: &Session) -> Result<Vec<String>, Pkcs11Error> {
        let handles = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .map_err(|e| self.error("C_FindObjects", e))?;
        let mut labels = Vec::with_capacity(handles.len());
        for handle in handles {
            let attributes = session
                .get_attributes(handle, &[AttributeType::Label])
                .map_err(|e| self.error("C_GetAttributeValue", e))?;
            for attribute in attributes {
                if let Attribute::Label(label) = attribute {
                    labels.push(String::from_utf8_lossy(&label).into_owned());
                }
            }
        }
        labels.sort();
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PIN outcomes SoftHSM2 cannot produce (it never locks or expires a PIN) are
    /// mapped here; the integration tests cover the ones it can.
    #[test]
    fn login_errors_name_the_problem() {
        let message = |rv, final_try| {
            login_error("prod", rv, final_try, 4, 255)
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            message(RvError::PinIncorrect, false),
            "wrong PIN for token \"prod\""
        );
        assert_eq!(
            message(RvError::PinIncorrect, true),
            "wrong PIN for token \"prod\"; one more wrong PIN locks it"
        );
        assert_eq!(
            message(RvError::PinInvalid, false),
            "wrong PIN for token \"prod\""
        );
        assert_eq!(
            message(RvError::PinLocked, false),
            "the user PIN of token \"prod\" is locked after too many wrong PINs; the token's security officer must unlock it"
        );
        assert_eq!(
            message(RvError::PinLenRange, false),
            "the PIN given for token \"prod\" has a length the token rejects (it takes 4 to 255 characters)"
        );
        assert_eq!(
            message(RvError::PinExpired, false),
            "the user PIN of token \"prod\" has expired; change it on the token first"
        );
        assert_eq!(
            message(RvError::UserPinNotInitialized, false),
            "token \"prod\" has no user PIN yet; set one (softhsm2-util --init-token --pin, or pkcs11-tool --init-pin)"
        );
        assert!(login_error("prod", RvError::DeviceError, false, 4, 255).is_none());
    }
}
