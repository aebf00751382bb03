//! Every CA generation an instance has, and which one signs now.
//!
//! A rotation (`mayfly ca rotate`) schedules a new generation; from its `activeFrom` on, new
//! certificates chain to it. Older generations stay: the trusted root keeps listing them, so
//! every certificate ever issued still verifies, and an instance started before a scheduled
//! switch-over changes CA at that instant without a restart.

use crate::ca::issuance::CertificateAuthority;
use crate::ca::signer::CaSigner;
use std::sync::Arc;
use time::OffsetDateTime;

/// One generation: its number, when it starts signing (`None` for the first, which signs
/// from its creation), and the CA.
pub struct Generation {
    pub number: u32,
    pub active_from: Option<OffsetDateTime>,
    pub ca: Arc<CertificateAuthority>,
}

/// The generations, oldest first. Never empty; `active_from` strictly increases.
pub struct Authorities {
    generations: Vec<Generation>,
}

impl Authorities {
    /// `first` is generation 1; `rotations` follow in schedule order (the schedule was
    /// checked when it was read, so their times increase).
    pub fn new(
        first: CertificateAuthority,
        rotations: Vec<(u32, OffsetDateTime, CertificateAuthority)>,
    ) -> Self {
        let mut generations = vec![Generation {
            number: 1,
            active_from: None,
            ca: Arc::new(first),
        }];
        generations.extend(rotations.into_iter().map(|(number, at, ca)| Generation {
            number,
            active_from: Some(at),
            ca: Arc::new(ca),
        }));
        Authorities { generations }
    }

    /// The CA that signs certificates issued at `now`: the newest generation already active.
    pub fn at(&self, now: OffsetDateTime) -> &Arc<CertificateAuthority> {
        let active = self
            .generations
            .iter()
            .rev()
            .find(|g| g.active_from.is_none_or(|at| at <= now));
        // Generation 1 has no start, so `find` always succeeds; the fallback keeps this total.
        &active.unwrap_or(&self.generations[0]).ca
    }

    /// The CA signing now.
    pub fn current(&self) -> &Arc<CertificateAuthority> {
        self.at(OffsetDateTime::now_utc())
    }

    pub fn generations(&self) -> &[Generation] {
        &self.generations
    }

    /// The same generations with every signer wrapped (the test kit's failing signer).
    pub fn map_signer(self, wrap: impl Fn(Arc<dyn CaSigner>) -> Arc<dyn CaSigner>) -> Self {
        let generations = self
            .generations
            .into_iter()
            .map(|g| Generation {
                ca: Arc::new(Arc::unwrap_or_clone(g.ca).map_signer(&wrap)),
                ..g
            })
            .collect();
        Authorities { generations }
    }

    /// The signer backend's name, for startup logs.
    pub fn backend(&self) -> &'static str {
        self.generations[0].ca.backend()
    }
}
