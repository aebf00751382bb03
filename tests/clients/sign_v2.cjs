// Signs with sigstore-js's `bundleBuilderFromSigningConfig` (the only sigstore-js path to a
// Rekor v2 log) against a Mayfly, writing the bundle.
// usage: node sign_v2.cjs messageSignature|dsseEnvelope <signing-config.json> <identity-token>
//        <input-file> <bundle-out>
// The signing config is used as given: the caller picks which Rekor it lists (sigstore-js
// takes the newest `validFor.start`, the first on a tie) and drops `tsaConfig` while the
// instance has no TSA (sigstore-js throws when it names no TSA URL).
'use strict';
const fs = require('node:fs');
const { bundleBuilderFromSigningConfig } = require('@sigstore/sign');
const { SigningConfig } = require('@sigstore/protobuf-specs');
const { bundleToJSON } = require('@sigstore/bundle');

async function main() {
  const [bundleType, configFile, token, input, out] = process.argv.slice(2);
  const signingConfig = SigningConfig.fromJSON(JSON.parse(fs.readFileSync(configFile, 'utf8')));
  const builder = bundleBuilderFromSigningConfig({
    signingConfig,
    identityProvider: { getToken: async () => token },
    bundleType,
  });
  const data = fs.readFileSync(input);
  const artifact = bundleType === 'dsseEnvelope'
    ? { data, type: 'application/vnd.in-toto+json' }
    : { data };
  const bundle = await builder.create(artifact);
  fs.writeFileSync(out, JSON.stringify(bundleToJSON(bundle)));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
