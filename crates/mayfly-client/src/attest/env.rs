//! The environment `mayfly attest` reads (CI variables, token sources), behind a trait so tests
//! can hand in a fake CI without mutating the process environment, which is shared by every
//! test thread.

use std::collections::HashMap;

/// A lookup of environment variables.
pub trait Env: Sync {
    /// The variable's value, exactly as set (empty strings included).
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment. Variables that are not valid UTF-8 count as unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }
}

/// The variable if set and non-empty: how CI detection (ci-info) and token lookups treat it.
pub(crate) fn nonempty(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty())
}
