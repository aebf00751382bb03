//! Issuer configuration and CI-provider templates, in Fulcio's formats.
//!
//! Pure code: parsing, validation, matching and rendering. Token verification and certificate
//! building live elsewhere and consume [`config::IssuerConfig`] and [`template::Template`].

pub mod config;
pub mod template;

pub use config::{
    CiProvider, ExtensionField, IssuerConfig, IssuerConfigError, IssuerEntry, IssuerType,
    RenderedCi, ResolvedIssuer,
};
pub use template::{Template, TemplateData, TemplateError, TemplateParseError};
