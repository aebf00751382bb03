#!/usr/bin/env python3
"""Writes fuzz/fixtures/ and the seed corpora fuzz/corpus/<target>/ (committed; re-run only to
regenerate them). Seeds come from the repository's own vectors (tests/vectors/, ca-config/)
and from keys and CSRs made here with the `cryptography` package. Each seed starts with the
mode byte its target reads (see the target's docs), except for targets without one."""

import base64
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VEC = os.path.join(ROOT, "tests", "vectors", "sigstore-public")


def vec(name):
    with open(os.path.join(VEC, name), "rb") as f:
        return f.read()


def write(target, name, data, mode=None):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    if mode is not None:
        data = bytes([mode]) + data
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def b64(b):
    return base64.b64encode(b).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def go_pem(label, der):
    text = b64(der)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


# ---- fixtures: fixed keys (deterministic where the algorithm allows) --------------------------
FIX = os.path.join(HERE, "fixtures")
os.makedirs(FIX, exist_ok=True)
keys = {
    "p256": ec.derive_private_key(0x1111, ec.SECP256R1()),
    "p384": ec.derive_private_key(0x2222, ec.SECP384R1()),
    "ed25519": ed25519.Ed25519PrivateKey.from_private_bytes(b"\x33" * 32),
}
# RSA keys cannot be derived from a seed here: a new one each run (its public key and the
# possession seed below are written together, so they stay consistent).
keys["rsa2048"] = rsa.generate_private_key(65537, 2048)


def spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(name, key, message):
    if name == "ed25519":
        return key.sign(message)
    if name == "rsa2048":
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    h = hashes.SHA384() if name == "p384" else hashes.SHA256()
    return key.sign(message, ec.ECDSA(h))


for name, key in keys.items():
    with open(os.path.join(FIX, name + ".pub.pem"), "w") as f:
        f.write(go_pem("PUBLIC KEY", spki(key)))

# ---- subject_key --------------------------------------------------------------------------------
for i, (name, key) in enumerate(keys.items()):
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    )
    if name == "ed25519":
        csr = builder.sign(key, None)
    else:
        csr = builder.sign(key, hashes.SHA384() if name == "p384" else hashes.SHA256())
    der = csr.public_bytes(serialization.Encoding.DER)
    write("subject_key", "csr-%s.pem" % name, go_pem("CERTIFICATE REQUEST", der), 0)
    if name == "p256":
        write("subject_key", "csr-%s.der" % name, der, 0)
    write("subject_key", "key-%s.pem" % name, go_pem("PUBLIC KEY", spki(key)), 1)
    if name in ("p256", "ed25519"):
        write("subject_key", "key-%s.der" % name, spki(key), 1)
    challenge = b"user@example.com"
    sig = sign(name, key, challenge)
    write("subject_key", "pop-%s" % name, bytes([i, len(challenge)]) + challenge + sig, 2)
pkcs1 = keys["rsa2048"].public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.PKCS1
)
write("subject_key", "key-rsa-pkcs1.pem", go_pem("RSA PUBLIC KEY", pkcs1), 1)

# ---- the real bundles ----------------------------------------------------------------------------
wheel = json.loads(vec("github-signed.whl.sigstore"))
npm = json.loads(vec("npm-sigstore-1.3.0-provenance.sigstore.json"))
wheel_leaf = base64.b64decode(wheel["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"])
npm_leaf = base64.b64decode(npm["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"])

# ---- pem_der ----------------------------------------------------------------------------------
write("pem_der", "cert.pem", go_pem("CERTIFICATE", npm_leaf))
write("pem_der", "cert.der", wheel_leaf)
write("pem_der", "key.pem", go_pem("PUBLIC KEY", spki(keys["p256"])))
write("pem_der", "sloppy.pem", "junk before\r\n" + go_pem("PUBLIC KEY", spki(keys["ed25519"])).replace("\n", "\r\n"))

# ---- ct_tbs -------------------------------------------------------------------------------------
write("ct_tbs", "final-wheel", wheel_leaf, 1)
write("ct_tbs", "final-npm", npm_leaf, 1)
cert = x509.load_der_x509_certificate(wheel_leaf)
ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"))
ext_value = ext.value.public_bytes()  # the OCTET STRING inside extnValue
write("ct_tbs", "sct-extension", ext_value, 3)
assert ext_value[0] == 0x04
# Strip the OCTET STRING header: the TLS list.
n = ext_value[1]
tls = ext_value[2:] if n < 0x80 else ext_value[2 + (n & 0x7F) :]
write("ct_tbs", "sct-list", tls, 2)
import datetime

now = datetime.datetime(2026, 1, 1)
precert = (
    x509.CertificateBuilder()
    .subject_name(x509.Name([]))
    .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz ca")]))
    .public_key(keys["p256"].public_key())
    .serial_number(7)
    .not_valid_before(now)
    .not_valid_after(now + datetime.timedelta(minutes=10))
    .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("user@example.com")]), True)
    .add_extension(x509.PrecertPoison(), True)
    .sign(keys["p256"], hashes.SHA256())
)
write("ct_tbs", "precert", precert.public_bytes(serialization.Encoding.DER), 0)

# ---- rekor_entry ---------------------------------------------------------------------------------
body = base64.b64decode(wheel["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
write("rekor_entry", "hashedrekord", body, 1)
env = npm["dsseEnvelope"]
sig = env["signatures"][0]["sig"]
pem = go_pem("CERTIFICATE", npm_leaf)
envelope_text = json.dumps({"payloadType": env["payloadType"], "payload": env["payload"], "signatures": [{"keyid": "", "sig": sig}]}, separators=(",", ":"))
dsse = {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {"envelope": envelope_text, "verifiers": [b64(pem.encode())]}}}
write("rekor_entry", "dsse", json.dumps(dsse, separators=(",", ":")), 1)
intoto = {
    "apiVersion": "0.0.2",
    "kind": "intoto",
    "spec": {
        "content": {
            "envelope": {
                "payloadType": env["payloadType"],
                "payload": b64(env["payload"].encode()),
                "signatures": [{"sig": b64(sig.encode()), "publicKey": b64(pem.encode())}],
            },
            "hash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_text.encode()).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(base64.b64decode(env["payload"])).hexdigest()},
        }
    },
}
write("rekor_entry", "intoto", json.dumps(intoto, separators=(",", ":")), 1)
uuid = hashlib.sha256(b"\x00" + body).hexdigest()
write("rekor_entry", "uuid", uuid, 0)
write("rekor_entry", "entry-id", "24296fb24b8ad77a" + uuid.upper(), 0)

# ---- dsse_envelope ------------------------------------------------------------------------------
write("dsse_envelope", "npm", envelope_text)
small = {"payloadType": "application/vnd.in-toto+json", "payload": b64url(b'{"_type":"x"}'), "signatures": [{"keyid": "k", "sig": b64url(b"\xff\xfe sig")}, {"sig": "c2ln"}]}
write("dsse_envelope", "small-urlsafe", json.dumps(small))

# ---- sigstore_bundle ----------------------------------------------------------------------------
write("sigstore_bundle", "parse-wheel", vec("github-signed.whl.sigstore"), 0)
write("sigstore_bundle", "parse-email-v03", vec("email-signed.txt.sigstore"), 0)
write("sigstore_bundle", "root-public-good", vec("trusted_root.public-good.json"), 1)
write("sigstore_bundle", "root-staging", vec("trusted_root.staging.json"), 1)
write("sigstore_bundle", "verify-wheel", vec("github-signed.whl.sigstore"), 2)
write("sigstore_bundle", "verify-npm", vec("npm-sigstore-1.3.0-provenance.sigstore.json"), 2)

# ---- signed_note --------------------------------------------------------------------------------
email = json.loads(vec("email-signed.txt.sigstore"))
pg = wheel["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
stg = email["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
write("signed_note", "public-good-checkpoint", pg)
write("signed_note", "staging-checkpoint", stg)
write("signed_note", "checkpoint-text-with-extension", pg.split("\n\n")[0] + "\nTimestamp: 1689177396617352539\n")

# ---- tile_path ----------------------------------------------------------------------------------
for i, p in enumerate(["tile/0/000", "tile/1/x001/x234/067.p/8", "tile/entries/x123/456", "tile/entries/005.p/255", "tile/63/x018/x446/x744/x073/x709/x551/615"]):
    write("tile_path", "path-%d" % i, p, 0)
write("tile_path", "coord-hash", bytes([3]) + (1234067).to_bytes(8, "big") + bytes([17]), 1)
write("tile_path", "coord-entries", bytes([200]) + (2**64 - 1).to_bytes(8, "big") + bytes([0]), 1)

# ---- issuer_config ------------------------------------------------------------------------------
with open(os.path.join(ROOT, "ca-config", "issuers.yaml"), "rb") as f:
    write("issuer_config", "shipped.yaml", f.read())
src = open(os.path.join(ROOT, "src", "identity", "config.rs")).read()
start = src.index('const JSON: &str = r#"') + len('const JSON: &str = r#"')
write("issuer_config", "test.json", src[start : src.index('"#;', start)])
start = src.index('const YAML: &str = r#"') + len('const YAML: &str = r#"')
write("issuer_config", "test.yaml", src[start : src.index('"#;', start)])
write("issuer_config", "go-keys.json", '{"oidcissuers": {"https://a.example": {"clientid": "x", "TYPE": "email"}}}')

# ---- jws_token ----------------------------------------------------------------------------------
now = 1750000000
claims = {"iss": "https://token.actions.githubusercontent.com", "aud": "sigstore", "sub": "repo:o/r:ref:refs/heads/main", "exp": now + 600, "nbf": now - 10, "iat": now - 10, "email": "user@example.com", "email_verified": True}
header = {"alg": "RS256", "kid": "k1", "typ": "JWT"}
def token(h, c, s=b"signature"):
    return "%s.%s.%s" % (b64url(json.dumps(h).encode()), b64url(json.dumps(c).encode()), b64url(s))
write("jws_token", "raw-rs256", token(header, claims), 0)
write("jws_token", "raw-es256-aud-array", token({"alg": "ES256"}, dict(claims, aud=["x", "sigstore"], exp=now + 0.5)), 0)
write("jws_token", "raw-none", token({"alg": "none"}, claims), 0)
write("jws_token", "split-rs256", json.dumps(header) + "\n" + json.dumps(claims) + "\nsig", 1)
write("jws_token", "split-crit", json.dumps({"alg": "EdDSA", "crit": ["b64"]}) + "\n" + json.dumps(claims) + "\nsig", 1)
print("seeds written", file=sys.stderr)
