// Signs with sigstore-js's `bundleBuilderFromSigningConfig` (the only sigstore-js path to a
// Rekor v2 log) against a Mayfly, writing the bundle.
// usage: node sign_v2.cjs messageSignature|dsseEnvelope <signing-config.json> <identity-token>
//        <input-file> <bundle-out>
// The signing config is used as given, normally Mayfly's /trust/signing_config.json: sigstore-js
// takes the Rekor with the newest `validFor.start` (the first listed on a tie, which is why
// Mayfly lists v2 first) and, since the config has a `tsaConfig`, its TSA.
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
