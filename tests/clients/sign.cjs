// Signs with the sigstore-js library (what npm runs) against a Mayfly, writing the bundle.
// usage: node sign.cjs sign|attest <base-url> <identity-token> <input-file> <bundle-out>
//   sign:   hashedrekord 0.0.1 over the file's bytes
//   attest: DSSE (dsse 0.0.1) over the file, an in-toto statement
'use strict';
const fs = require('node:fs');
const sigstore = require('sigstore');

async function main() {
  const [mode, baseURL, identityToken, input, out] = process.argv.slice(2);
  const options = { fulcioURL: baseURL, rekorURL: baseURL, identityToken };
  const payload = fs.readFileSync(input);
  let bundle;
  if (mode === 'sign') {
    bundle = await sigstore.sign(payload, options);
  } else if (mode === 'attest') {
    bundle = await sigstore.attest(payload, 'application/vnd.in-toto+json', options);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  fs.writeFileSync(out, JSON.stringify(bundle));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
