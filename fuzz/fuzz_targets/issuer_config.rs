//! The Fulcio issuer configuration (`mayfly::identity::IssuerConfig::from_json_or_yaml`),
//! from JSON and from YAML text.
//!
//! Beyond "no panic": a configuration means the same whatever its syntax: the document it was
//! read from, written back as JSON and as YAML, loads to an equal configuration; and issuer
//! lookups on it do not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly::identity::IssuerConfig;
use serde_json::Value;

const ISSUERS: [&str; 4] = [
    "https://token.actions.githubusercontent.com",
    "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
    "https://gitlab.com",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match IssuerConfig::from_json_or_yaml(text) {
        Ok(config) => config,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for iss in ISSUERS {
        if let Some(resolved) = config.issuer_for(iss) {
            assert_eq!(resolved.issuer_url, iss);
        }
    }
    // The document as from_json_or_yaml read it: JSON first, else YAML.
    let value: Value = serde_json::from_str(text)
        .or_else(|_| serde_norway::from_str(text))
        .expect("an accepted config is JSON or YAML");
    let json = serde_json::to_string(&value).expect("JSON text");
    let again = IssuerConfig::from_json_or_yaml(&json).expect("the config as JSON loads");
    assert_eq!(again, config, "as JSON");
    if let Ok(yaml) = serde_norway::to_string(&value) {
        let again = IssuerConfig::from_json_or_yaml(&yaml).expect("the config as YAML loads");
        assert_eq!(again, config, "as YAML");
    }
});
