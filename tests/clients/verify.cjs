// Verifies a bundle with @sigstore/verify against a trusted_root.json (no TUF), requiring the
// given certificate SAN and OIDC issuer. Prints the verified kind and SAN as JSON.
// usage: node verify.cjs <trusted_root.json> <bundle.json> <san> <issuer> [artifact-file]
//   artifact-file: the signed bytes, for message-signature (hashedrekord) bundles
'use strict';
const fs = require('node:fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

function main() {
  const [rootPath, bundlePath, san, issuer, artifactPath] = process.argv.slice(2);
  const trustedRoot = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8')));
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const artifact = artifactPath ? fs.readFileSync(artifactPath) : undefined;
  // Default thresholds: one SCT, one tlog entry, one timestamp (the SET's integrated time).
  const verifier = new Verifier(toTrustMaterial(trustedRoot));
  const signer = verifier.verify(toSignedEntity(bundle, artifact), {
    subjectAlternativeName: san,
    extensions: { issuer },
  });
  const entry = bundle.verificationMaterial.tlogEntries[0];
  console.log(JSON.stringify({
    kind: entry.kindVersion.kind,
    version: entry.kindVersion.version,
    san: signer.identity && signer.identity.subjectAlternativeName,
    issuer: signer.identity && signer.identity.extensions && signer.identity.extensions.issuer,
  }));
}

try {
  main();
} catch (e) {
  console.error(e);
  process.exit(1);
}
