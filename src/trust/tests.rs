//! Exact shapes of the three documents: field names, zero and empty fields present, and the
//! values the clients match on (log IDs, key names in base URLs, validity starts).

use super::*;
use crate::ca::chain::CaChain;
use crate::ca::signer::{CaSigner, SoftwareKey};
use crate::log::key::LogKey;
use serde_json::{Value, json};
use std::sync::Arc;

struct Fixture {
    chain: CaChain,
    artifacts: LogKey,
    issuance: LogKey,
    rekor_v2: LogKey,
    url: PublicUrl,
}

fn fixture(url: &str) -> Fixture {
    let root: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    let intermediate: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    // 2026-03-04T05:06:07Z, with a sub-second part the certificates drop.
    let now = OffsetDateTime::from_unix_timestamp_nanos(1_772_600_767_250_000_000).unwrap();
    Fixture {
        chain: CaChain::create(&root, &intermediate, "mayfly.example", 1, now).unwrap(),
        artifacts: LogKey::generate().unwrap(),
        issuance: LogKey::generate().unwrap(),
        rekor_v2: LogKey::generate().unwrap(),
        url: PublicUrl::new(url::Url::parse(url).unwrap()).unwrap(),
    }
}

fn generation(chain: &CaChain, active_from: Option<OffsetDateTime>) -> CaGeneration<'_> {
    CaGeneration {
        root_der: chain.root_der(),
        intermediate_der: chain.intermediate_der(),
        active_from,
    }
}

fn build(f: &Fixture, dev: Option<&str>) -> TrustDocuments {
    TrustDocuments::build(&TrustInputs {
        public_url: &f.url,
        certificate_authorities: &[generation(&f.chain, None)],
        artifact_log_spki: f.artifacts.spki_der(),
        issuance_log_spki: f.issuance.spki_der(),
        rekor_v2_log_spki: Some(f.rekor_v2.spki_der()),
        oidc_issuer: dev,
        timestamp_authority: None,
    })
    .unwrap()
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn log_json(base: &str, key: &LogKey) -> Value {
    json!({
        "baseUrl": base,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": STANDARD.encode(key.spki_der()),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": "2026-03-04T05:06:07Z"},
        },
        "logId": {"keyId": STANDARD.encode(key.log_id().0)},
    })
}

#[test]
fn trusted_root_has_the_exact_v0_1_shape() {
    let f = fixture("https://mayfly.example/");
    let docs = build(&f, None);
    let [(name, bytes), ..] = docs.files();
    assert_eq!(name, "trusted_root.json");
    let expected = json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            log_json("https://mayfly.example", &f.artifacts),
            log_json("https://mayfly.example/logs/rekor-v2", &f.rekor_v2),
        ],
        "certificateAuthorities": [{
            "subject": {"organization": "mayfly.example", "commonName": "mayfly-root"},
            "uri": "https://mayfly.example",
            "certChain": {"certificates": [
                {"rawBytes": STANDARD.encode(f.chain.intermediate_der())},
                {"rawBytes": STANDARD.encode(f.chain.root_der())},
            ]},
            "validFor": {"start": "2026-03-04T05:06:07Z", "end": "2036-03-01T05:06:07Z"},
        }],
        "ctlogs": [log_json("https://mayfly.example/logs/issuance", &f.issuance)],
        "timestampAuthorities": [],
    });
    assert_eq!(json_of(&bytes), expected);
    assert!(bytes.ends_with(b"}\n"));
}

#[test]
fn signing_config_without_a_tsa_is_v0_2_with_rekor_v1_and_empty_tsa_list() {
    let f = fixture("http://127.0.0.1:8700");
    let dev = f.url.dev_issuer_url();
    assert_eq!(dev, "http://127.0.0.1:8700/dev-oidc");
    let service = |url: &str| {
        json!({"url": url, "majorApiVersion": 1,
               "validFor": {"start": "2026-03-04T05:06:07Z"}, "operator": "127.0.0.1"})
    };
    let expected = json!({
        "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
        "caUrls": [service("http://127.0.0.1:8700")],
        "oidcUrls": [service(&dev)],
        "rekorTlogUrls": [service("http://127.0.0.1:8700")],
        "tsaUrls": [],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    });
    assert_eq!(json_of(&build(&f, Some(&dev)).files()[1].1), expected);

    // Without the dev issuer the list is present and empty, not missing.
    let without = json_of(&build(&f, None).files()[1].1);
    assert_eq!(without["oidcUrls"], json!([]));
}

/// A TSA chain (leaf, root) as `mayfly init` makes one.
fn tsa_chain() -> Vec<Vec<u8>> {
    let root: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    let leaf: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    let now = OffsetDateTime::from_unix_timestamp(1_772_600_767).unwrap();
    let (root_der, leaf_der) =
        crate::tsa::setup::certificates(&root, &leaf, "mayfly.example", now).unwrap();
    vec![leaf_der, root_der]
}

#[test]
fn signing_config_lists_rekor_v2_first_with_the_tsa_and_the_alias_is_identical() {
    let f = fixture("http://127.0.0.1:8700/");
    let tsa = tsa_chain();
    let generations = [generation(&f.chain, None)];
    let inputs = |rekor_v2, timestamp_authority| TrustInputs {
        public_url: &f.url,
        certificate_authorities: &generations,
        artifact_log_spki: f.artifacts.spki_der(),
        issuance_log_spki: f.issuance.spki_der(),
        rekor_v2_log_spki: rekor_v2,
        oidc_issuer: None,
        timestamp_authority,
    };
    let docs = TrustDocuments::build(&inputs(Some(f.rekor_v2.spki_der()), Some(&tsa))).unwrap();
    let files = docs.files();
    let [_, (default_name, default), _, (alias_name, alias)] = &files;
    assert_eq!(*default_name, "signing_config.json");
    assert_eq!(*alias_name, "signing_config.v2.json");
    assert_eq!(alias, default, "the v2 name is an alias: the same bytes");
    let config = json_of(default);
    let service = |url: &str, version: u64| {
        json!({"url": url, "majorApiVersion": version,
               "validFor": {"start": "2026-03-04T05:06:07Z"}, "operator": "127.0.0.1"})
    };
    // v2 first: sigstore-js takes the first of equal starts, sigstore-python the highest
    // version, so both sign to v2; v1-only clients still find their entry.
    assert_eq!(
        config["rekorTlogUrls"],
        json!([
            service("http://127.0.0.1:8700/logs/rekor-v2", 2),
            service("http://127.0.0.1:8700", 1)
        ])
    );
    assert_eq!(
        config["tsaUrls"][0]["url"],
        "http://127.0.0.1:8700/api/v1/timestamp"
    );
    assert_eq!(config["tsaUrls"][0]["majorApiVersion"], 1);
    assert_eq!(
        config["tsaUrls"][0]["validFor"],
        json!(docs.trusted_root.timestamp_authorities[0].valid_for)
    );
    assert_eq!(config["rekorTlogConfig"], json!({"selector": "ANY"}));
    assert_eq!(config["tsaConfig"], json!({"selector": "ANY"}));
    assert_eq!(
        config["caUrls"],
        json!([service("http://127.0.0.1:8700", 1)])
    );
    // The client trust config carries the same default.
    assert_eq!(
        json_of(&files[2].1)["signingConfig"],
        config,
        "client_trust_config.json wraps the default"
    );

    // Without a TSA (a data dir from before it), no v2: its entries could not be dated.
    let no_tsa = TrustDocuments::build(&inputs(Some(f.rekor_v2.spki_der()), None)).unwrap();
    let no_tsa_config = json_of(&no_tsa.files()[1].1);
    assert_eq!(
        no_tsa_config["rekorTlogUrls"],
        json!([service("http://127.0.0.1:8700", 1)])
    );
    assert_eq!(no_tsa_config["tsaUrls"], json!([]));
    assert_eq!(
        no_tsa.trusted_root.tlogs.len(),
        2,
        "still trusted for reading"
    );

    // A data dir from before the v2 log lists neither it nor a v2 URL.
    let old = TrustDocuments::build(&inputs(None, Some(&tsa))).unwrap();
    assert_eq!(old.trusted_root.tlogs.len(), 1);
    let old_config = json_of(&old.files()[1].1);
    assert_eq!(
        old_config["rekorTlogUrls"],
        json!([service("http://127.0.0.1:8700", 1)])
    );
    assert_eq!(old_config["tsaUrls"].as_array().map(Vec::len), Some(1));
}

#[test]
fn client_trust_config_wraps_both_documents() {
    let f = fixture("http://127.0.0.1:8700/");
    let docs = build(&f, None);
    let [(_, root), (_, signing), (name, both), _] = docs.files();
    assert_eq!(name, "client_trust_config.json");
    assert_eq!(
        json_of(&both),
        json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": json_of(&root),
            "signingConfig": json_of(&signing),
        })
    );
}

/// sigstore-js accepts a checkpoint only if the log's `baseUrl` contains the note key name,
/// which is the log's origin; this must hold for both logs, with and without a path prefix.
#[test]
fn base_urls_contain_the_checkpoint_key_names() {
    for url in [
        "http://127.0.0.1:8700",
        "https://sign.example.com/",
        "https://example.com:8443/sigstore/",
    ] {
        let f = fixture(url);
        let root = build(&f, None).trusted_root;
        let (issuance_origin, artifacts_origin) =
            (f.url.issuance_origin(), f.url.artifacts_origin());
        assert!(root.tlogs[0].base_url.contains(&artifacts_origin), "{url}");
        assert!(
            root.tlogs[1].base_url.contains(&f.url.rekor_v2_origin()),
            "{url}"
        );
        assert!(!root.tlogs[1].base_url.contains("//logs"), "{url}");
        assert!(root.ctlogs[0].base_url.contains(&issuance_origin), "{url}");
        assert!(!root.tlogs[0].base_url.ends_with('/'), "{url}");
    }
}

#[test]
fn garbage_certificates_are_an_error_not_a_panic() {
    let f = fixture("http://127.0.0.1:8700");
    let result = TrustDocuments::build(&TrustInputs {
        public_url: &f.url,
        certificate_authorities: &[CaGeneration {
            root_der: b"\x30\x03\x02\x01",
            intermediate_der: f.chain.intermediate_der(),
            active_from: None,
        }],
        artifact_log_spki: f.artifacts.spki_der(),
        issuance_log_spki: f.issuance.spki_der(),
        rekor_v2_log_spki: Some(f.rekor_v2.spki_der()),
        oidc_issuer: None,
        timestamp_authority: None,
    });
    assert!(matches!(
        result,
        Err(TrustError::Certificate { which: "CA root" })
    ));
}

#[test]
fn rotated_generations_get_windows_that_cover_every_certificate_they_issued() {
    let f = fixture("http://127.0.0.1:8700");
    let root: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    let second_key: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    let switch = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let second = CaChain::create(&root, &second_key, "mayfly.example", 2, switch).unwrap();
    let documents = TrustDocuments::build(&TrustInputs {
        public_url: &f.url,
        certificate_authorities: &[
            generation(&f.chain, None),
            generation(&second, Some(switch)),
        ],
        artifact_log_spki: f.artifacts.spki_der(),
        issuance_log_spki: f.issuance.spki_der(),
        rekor_v2_log_spki: Some(f.rekor_v2.spki_der()),
        oidc_issuer: None,
        timestamp_authority: None,
    })
    .unwrap();
    let root_json = json_of(&render(&documents.trusted_root));
    let cas = root_json["certificateAuthorities"].as_array().unwrap();
    assert_eq!(cas.len(), 2);
    // The first generation signs from its creation until the switch, and its last
    // certificates stay usable for one leaf lifetime (10 minutes) after it.
    assert_eq!(cas[0]["validFor"]["start"], "2026-03-04T05:06:07Z");
    assert_eq!(
        cas[0]["validFor"]["end"],
        rfc3339(switch + time::Duration::minutes(10), "x").unwrap()
    );
    assert_eq!(cas[1]["validFor"]["start"], rfc3339(switch, "x").unwrap());
    assert_eq!(
        cas[1]["validFor"]["end"],
        rfc3339(switch + time::Duration::days(3650), "x").unwrap(),
        "the newest generation is valid until its certificates expire"
    );
    assert_eq!(
        cas[1]["certChain"]["certificates"][0]["rawBytes"],
        STANDARD.encode(second.intermediate_der())
    );
    // Logs keep their start: the first root's creation.
    assert_eq!(
        root_json["tlogs"][0]["publicKey"]["validFor"]["start"],
        "2026-03-04T05:06:07Z"
    );
}

#[test]
fn rfc3339_is_utc_whole_seconds() {
    let at = OffsetDateTime::from_unix_timestamp(0).unwrap();
    assert_eq!(rfc3339(at, "x").unwrap(), "1970-01-01T00:00:00Z");
    let offset = at.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
    assert_eq!(rfc3339(offset, "x").unwrap(), "1970-01-01T00:00:00Z");
}
