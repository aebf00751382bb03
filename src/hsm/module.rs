//! Loading a PKCS#11 module once per process.
//!
//! A PKCS#11 library keeps process-wide state: `C_Initialize` may run once until
//! `C_Finalize`, and login state is per application, not per session. Two independent
//! `Pkcs11::new` + `initialize` calls on the same library would see
//! `CKR_CRYPTOKI_ALREADY_INITIALIZED`, and finalizing one would silently close the other's
//! sessions. So every opener of the same module shares one [`Module`] from a process-wide
//! registry, and the module stays loaded and initialised until the process exits: a signing
//! server never unloads its HSM, and `C_Finalize` racing a concurrent opener is a bug class not
//! worth having. (cryptoki 0.12 does not finalize on drop either.)

use crate::hsm::error::Pkcs11Error;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::slot::Slot;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(crate) struct Module {
    pub(crate) ctx: Pkcs11,
    /// SHA-256 of the PIN each slot was logged in with by this crate. Login state belongs to
    /// the process, and a token that is already logged in answers CKR_USER_ALREADY_LOGGED_IN
    /// without checking the PIN; this lets a second `open` with a different PIN fail as the
    /// first would have.
    logins: Mutex<Vec<(Slot, [u8; 32])>>,
}

impl Module {
    pub(crate) fn record_login(&self, slot: Slot, pin_digest: [u8; 32]) {
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        logins.retain(|(s, _)| *s != slot);
        logins.push((slot, pin_digest));
    }

    /// The PIN digest this crate logged `slot` in with, if it did.
    pub(crate) fn login_digest(&self, slot: Slot) -> Option<[u8; 32]> {
        let logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        logins.iter().find(|(s, _)| *s == slot).map(|(_, d)| *d)
    }
}

/// Canonical module path → the loaded, initialised module. Entries are never removed.
static MODULES: Mutex<Vec<(PathBuf, Arc<Module>)>> = Mutex::new(Vec::new());

impl Module {
    pub(crate) fn load(path: &Path) -> Result<Arc<Module>, Pkcs11Error> {
        // dlopen's own message for a missing file is "cannot open shared object file", which
        // hides that the path is simply wrong; check first and say so.
        let canonical = match path.canonicalize() {
            Ok(canonical) => canonical,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Pkcs11Error::ModuleNotFound {
                    path: path.to_owned(),
                });
            }
            Err(e) => {
                return Err(Pkcs11Error::ModuleLoad {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        if !canonical.is_file() {
            return Err(Pkcs11Error::ModuleLoad {
                path: path.to_owned(),
                reason: "not a file".to_owned(),
            });
        }

        // Held across load + initialise so two threads opening the same module cannot both
        // initialise it. Poisoning only means another opener panicked; the list stays valid.
        let mut modules = MODULES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, module)) = modules.iter().find(|(p, _)| *p == canonical) {
            return Ok(Arc::clone(module));
        }

        let ctx = Pkcs11::new(&canonical).map_err(|e| Pkcs11Error::ModuleLoad {
            path: path.to_owned(),
            reason: match e {
                Error::MissingSymbol(symbol) => {
                    format!("not a PKCS#11 module (it has no {symbol})")
                }
                Error::LibraryLoading(e) => e.to_string(),
                other => other.to_string(),
            },
        })?;
        // OS_LOCKING_OK: we call the module from many threads, and it must lock for itself.
        // "Already initialised" means other code in this process (another PKCS#11 user of the
        // same library) got there first; its initialisation serves us as well.
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(Pkcs11Error::ModuleInit {
                    path: path.to_owned(),
                    reason: e.to_string(),
                    hint: init_hint(&canonical),
                });
            }
        }
        let module = Arc::new(Module {
            ctx,
            logins: Mutex::new(Vec::new()),
        });
        modules.push((canonical, Arc::clone(&module)));
        Ok(module)
    }
}

/// SoftHSM2's `C_Initialize` fails with a bare CKR_GENERAL_ERROR when its configuration file
/// or token directory is missing, which is the usual cause in practice.
fn init_hint(module: &Path) -> &'static str {
    if module.to_string_lossy().contains("softhsm") {
        " (SoftHSM2: check that SOFTHSM2_CONF, or /etc/softhsm/softhsm2.conf, exists and that the directories.tokendir it names exists and is readable)"
    } else {
        ""
    }
}
