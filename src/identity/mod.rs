//! Issuer configuration and CI-provider templates, in Fulcio's formats.
//!
//! `config` and `template` are pure (parsing, validation, matching, rendering); `oidc` verifies
//! tokens against the issuers' JWKS; `principal` turns verified claims into the identity a
//! certificate names; `dev_issuer` is the built-in test issuer. Certificates are not built
//! here: the CA consumes [`principal::Principal`].

pub(crate) mod config;
pub(crate) mod dev_issuer;
pub mod oidc;
pub(crate) mod principal;
pub(crate) mod san;
pub(crate) mod template;

pub use config::{
    CiProvider, IssuerConfig, IssuerConfigError, IssuerEntry, IssuerType, ResolvedIssuer,
};
pub use principal::RenderedCi;
pub use template::{Template, TemplateData, TemplateError, TemplateParseError};
