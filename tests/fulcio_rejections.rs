//! Every rule of design.md §6 broken once: each request gets a 400 with Fulcio's message and a
//! `google.rpc.Status` body, and neither log grows. Plus the accepted request shapes (CSR with a
//! Bearer token, the legacy v1 API, the dev issuer, an email identity) and the trust bundle.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::process::Command;
use support::{
    Mayfly, TestIdp, b64url, issuers_with_idp, key_request, now, p256_key, p256_sign, pem_ders,
};

const TOKEN: &str = "There was an error processing the identity token";
const KEY_UNPARSEABLE: &str = "The public key supplied in the request could not be parsed";
const KEY_INSECURE: &str = "The public key supplied in the request is insecure";
const CSR_UNPARSEABLE: &str = "The certificate signing request could not be parsed";
const BAD_SIGNATURE: &str = "The signature supplied in the request could not be verified";

fn email_claims(idp: &TestIdp) -> Value {
    let now = now();
    json!({"iss": idp.issuer("corp"), "aud": "sigstore", "sub": "user-42",
           "email": "dev@corp.example", "email_verified": true,
           "iat": now, "nbf": now, "exp": now + 300})
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64url(tag.as_ref()))
}

/// An RSA-1024 public key (PEM) from OpenSSL.
fn rsa_1024_pem(dir: &std::path::Path) -> String {
    let path = dir.join("rsa1024.pem");
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

struct Case {
    name: &'static str,
    body: Value,
    bearer: Option<String>,
    message: &'static str,
}

#[tokio::test]
async fn every_bad_request_is_a_400_with_fulcios_message_and_writes_nothing() {
    let idp = TestIdp::start().await;
    let mayfly = Mayfly::start(Some(&issuers_with_idp(&idp)), false).await;
    let github = idp.github_claims("gha");
    let sub = github["sub"].as_str().unwrap().to_owned();
    let (key, pem) = p256_key();
    let proof = p256_sign(&key, &sub);
    let request = |token: String| key_request(&token, &pem, &proof);
    let now = now();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": idp.kid});
    let rsa_header = |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": idp.kid});
    let three_parts_9k = format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        "A".repeat(9 * 1024),
        "B"
    );
    let email = email_claims(&idp);
    let email_proof = p256_sign(&key, "dev@corp.example");

    let mut cases = vec![
        Case {
            name: "expired",
            body: request(idp.sign(&with(
                github.clone(),
                json!({"iat": now - 900, "nbf": now - 900, "exp": now - 300}),
            ))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "wrong aud",
            body: request(idp.sign(&with(github.clone(), json!({"aud": "not-sigstore"})))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "unconfigured iss",
            body: request(idp.sign(&with(
                github.clone(),
                json!({"iss": "https://idp.attacker.example"}),
            ))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "iss on a configured host but another path",
            body: request(idp.sign(&with(github.clone(), json!({"iss": idp.issuer("other")})))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "alg none",
            body: request(format!(
                "{}.{}.",
                b64url(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes()),
                b64url(github.to_string().as_bytes())
            )),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "HS256 with the RSA public key (PEM) as secret",
            body: request(hs256(
                idp.public_key_pem().as_bytes(),
                &rsa_header("HS256"),
                &github,
            )),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "unknown kid",
            body: request(idp.sign_with_header(
                &json!({"alg": "RS256", "typ": "JWT", "kid": "not-a-key"}),
                &github,
            )),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "future nbf",
            body: request(idp.sign(&with(github.clone(), json!({"nbf": now + 600})))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "future iat",
            body: request(idp.sign(&with(github.clone(), json!({"iat": now + 600})))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "missing exp",
            body: request(idp.sign(&with(github.clone(), json!({"exp": null})))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "tampered signature",
            body: request({
                let token = idp.sign(&github);
                let (rest, sig) = token.rsplit_once('.').unwrap();
                let mut sig = sig.to_owned();
                let last = if sig.ends_with('A') { "B" } else { "A" };
                sig.replace_range(sig.len() - 1.., last);
                format!("{rest}.{sig}")
            }),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "two segments",
            body: request("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0".into()),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "four segments",
            body: request(format!("{}.x", idp.sign(&github))),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "not base64",
            body: request("!!!.???.###".into()),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "oversized",
            body: request(three_parts_9k),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "no token at all",
            body: json!({"publicKeyRequest": {"publicKey": {"content": pem}, "proofOfPossession": proof}}),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "email issuer without email_verified",
            body: key_request(
                &idp.sign(&with(email.clone(), json!({"email_verified": null}))),
                &pem,
                &email_proof,
            ),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "email_verified false",
            body: key_request(
                &idp.sign(&with(email.clone(), json!({"email_verified": false}))),
                &pem,
                &email_proof,
            ),
            bearer: None,
            message: TOKEN,
        },
        Case {
            name: "proof of possession over the wrong claim",
            body: key_request(&idp.sign(&email), &pem, &proof),
            bearer: None,
            message: BAD_SIGNATURE,
        },
        Case {
            name: "proof of possession by another key",
            body: key_request(&idp.sign(&github), &pem, &p256_sign(&p256_key().0, &sub)),
            bearer: None,
            message: BAD_SIGNATURE,
        },
        Case {
            name: "proof of possession not base64",
            body: key_request(&idp.sign(&github), &pem, "%%%"),
            bearer: None,
            message: BAD_SIGNATURE,
        },
        Case {
            name: "RSA-1024 key",
            body: key_request(&idp.sign(&github), &rsa_1024_pem(mayfly.dir.path()), &proof),
            bearer: None,
            message: KEY_INSECURE,
        },
        Case {
            name: "garbage key",
            body: key_request(
                &idp.sign(&github),
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                &proof,
            ),
            bearer: None,
            message: KEY_UNPARSEABLE,
        },
        Case {
            name: "broken CSR",
            body: json!({"certificateSigningRequest": STANDARD.encode(
                "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n")}),
            bearer: Some(idp.sign(&github)),
            message: CSR_UNPARSEABLE,
        },
        Case {
            name: "CSR not base64",
            body: json!({"certificateSigningRequest": "***"}),
            bearer: Some(idp.sign(&github)),
            message: CSR_UNPARSEABLE,
        },
    ];
    // A CSR whose self-signature was tampered with.
    let csr_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let mut csr = params.serialize_request(&csr_key).unwrap().der().to_vec();
    let last = csr.len() - 1;
    csr[last] ^= 1;
    cases.push(Case {
        name: "CSR with a bad self-signature",
        body: json!({"certificateSigningRequest": STANDARD.encode(
            mayfly_spec::pem::encode("CERTIFICATE REQUEST", &csr))}),
        bearer: Some(idp.sign(&github)),
        message: BAD_SIGNATURE,
    });

    let issuance = mayfly.issuance_size().await;
    let artifacts = artifacts_size(&mayfly).await;
    for case in &cases {
        let (status, body) = mayfly.sign_v2(&case.body, case.bearer.as_deref()).await;
        assert_eq!(status, 400, "{}: {body}", case.name);
        assert_eq!(
            body["code"], 3,
            "{}: gRPC InvalidArgument: {body}",
            case.name
        );
        assert_eq!(body["details"], json!([]), "{}", case.name);
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(case.message),
            "{}: expected {:?}, got {message:?}",
            case.name,
            case.message
        );
    }
    assert_eq!(
        mayfly.issuance_size().await,
        issuance,
        "no issuance-log entry"
    );
    assert_eq!(
        artifacts_size(&mayfly).await,
        artifacts,
        "no artifact-log entry"
    );

    // The unknown-kid refreshes are rate-limited: a flood of garbage kids costs at most one
    // extra JWKS fetch beyond the first.
    let fetches = idp.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst);
    for i in 0..20 {
        let token = idp.sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": format!("garbage-{i}")}),
            &github,
        );
        let (status, _) = mayfly.sign_v2(&request(token), None).await;
        assert_eq!(status, 400);
    }
    let after = idp.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        after <= fetches + 1,
        "JWKS fetched {} times for 20 unknown kids",
        after - fetches
    );
    mayfly.stop().await;
}

async fn artifacts_size(mayfly: &Mayfly) -> u64 {
    let text = String::from_utf8(mayfly.get_bytes("/logs/artifacts/checkpoint").await).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn accepted_shapes_csr_bearer_legacy_v1_email_and_dev_issuer() {
    let idp = TestIdp::start().await;
    let mayfly = Mayfly::start(Some(&issuers_with_idp(&idp)), true).await;
    let github = idp.github_claims("gha");

    // sigstore-python: Bearer token and a CSR with an empty subject and CA:false.
    let csr_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let csr_pem = params.serialize_request(&csr_key).unwrap().pem().unwrap();
    let (status, body) = mayfly
        .sign_v2(
            &json!({"certificateSigningRequest": STANDARD.encode(&csr_pem)}),
            Some(&idp.sign(&github)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let leaf_pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap();
    let leaf_der = pem_ders(leaf_pem).remove(0);
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    assert_eq!(
        leaf.public_key().raw,
        rcgen::PublicKeyData::subject_public_key_info(&csr_key).as_slice()
    );

    // snake_case field names are accepted too (protojson).
    let (key, pem) = p256_key();
    let proof = p256_sign(&key, github["sub"].as_str().unwrap());
    let (status, body) = mayfly
        .sign_v2(
            &json!({"credentials": {"oidc_identity_token": idp.sign(&github)},
                    "public_key_request": {"public_key": {"content": pem}, "proof_of_possession": proof}}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Legacy v1: 201 and a PEM chain; the key is base64 of the PEM.
    let response = mayfly
        .client
        .post(format!("{}/api/v1/signingCert", mayfly.url))
        .bearer_auth(idp.sign(&github))
        .json(
            &json!({"publicKey": {"content": STANDARD.encode(&pem), "algorithm": "ecdsa"},
                      "signedEmailAddress": proof}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["content-type"],
        "application/pem-certificate-chain"
    );
    let chain = response.text().await.unwrap();
    assert_eq!(pem_ders(&chain).len(), 3);

    // An email identity: rfc822 SAN, issuer in .1 and .8, sub in .24.
    let email = email_claims(&idp);
    let (status, body) = mayfly
        .sign_v2(
            &key_request(
                &idp.sign(&email),
                &pem,
                &p256_sign(&key, "dev@corp.example"),
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let leaf_pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap();
    let der = pem_ders(leaf_pem).remove(0);
    let (_, leaf) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        san.value.general_names,
        vec![x509_parser::extensions::GeneralName::RFC822Name(
            "dev@corp.example"
        )]
    );
    let ext = |arc: u32| {
        leaf.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == format!("1.3.6.1.4.1.57264.1.{arc}"))
            .map(|e| e.value.to_vec())
    };
    assert_eq!(ext(1), Some(idp.issuer("corp").into_bytes()));
    assert!(ext(8).unwrap().ends_with(idp.issuer("corp").as_bytes()));
    assert!(ext(24).unwrap().ends_with(b"user-42"));
    assert_eq!(ext(9), None, "no CI extensions for an email identity");

    // The dev issuer: a token from /dev-oidc/token works like a GitHub Actions token.
    let response = mayfly
        .client
        .get(format!("{}/dev-oidc/token?audience=sigstore", mayfly.url))
        .send()
        .await
        .unwrap();
    let token = response.json::<Value>().await.unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let proof = p256_sign(&key, claims["sub"].as_str().unwrap());
    let (status, body) = mayfly
        .sign_v2(&key_request(&token, &pem, &proof), None)
        .await;
    assert_eq!(status, 200, "{body}");
    // …and one for another audience is refused.
    let wrong = mayfly
        .dev_token(&json!({"aud": "npm:registry.npmjs.org"}))
        .await;
    let (status, _) = mayfly
        .sign_v2(&key_request(&wrong, &pem, &proof), None)
        .await;
    assert_eq!(status, 400);
    let discovery = mayfly
        .get_json("/dev-oidc/.well-known/openid-configuration")
        .await;
    assert_eq!(discovery["issuer"], format!("{}/dev-oidc", mayfly.url));

    // Trust bundle and rootCert name the same intermediate and root as the issued chain.
    let bundle = mayfly.get_json("/api/v2/trustBundle").await;
    let certs = bundle["chains"][0]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    let issued_chain = body["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .unwrap();
    assert_eq!(&issued_chain[1..], &certs[..]);
    let root_cert = String::from_utf8(mayfly.get_bytes("/api/v1/rootCert").await).unwrap();
    assert_eq!(
        root_cert,
        format!(
            "{}{}",
            certs[0].as_str().unwrap(),
            certs[1].as_str().unwrap()
        )
    );
    mayfly.stop().await;
}

#[tokio::test]
async fn dev_issuer_is_off_by_default() {
    let mayfly = Mayfly::start(None, false).await;
    let response = mayfly
        .client
        .get(format!("{}/dev-oidc/token", mayfly.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    mayfly.stop().await;
}
