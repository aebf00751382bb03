// Makes the stock npm CLI's `npm publish --provenance` use a private Mayfly instead of the
// public Sigstore instance.
//
// Why a preload: npm hands sigstore-js its flattened config, which drops unknown keys, so
// fulcioURL/rekorURL cannot be set through .npmrc or the environment; and sigstore's package
// exports are getter-only, so patching `attest` does nothing. The bundle builder, however, is
// looked up from `sigstore/dist/config.js` at call time, so wrapping it there is enough.
//
// Usage (in the CI job, next to the usual GitHub Actions OIDC variables):
//   MAYFLY_URL=https://sigstore.corp.example \
//   NODE_OPTIONS="--require /path/to/mayfly-preload.cjs" \
//   npm publish --provenance --access public
//
// npm still prints a search.sigstore.dev link; it is cosmetic. Provenance made this way is for
// registries and verifiers that trust your Mayfly (its /trust/trusted_root.json): the public
// npm registry accepts only public-good Sigstore.
'use strict';
const Module = require('node:module');
const path = require('node:path');

const mayfly = process.env.MAYFLY_URL;
if (!mayfly) {
  throw new Error('mayfly-preload: set MAYFLY_URL to the Mayfly base URL');
}
const configModule = path.join('sigstore', 'dist', 'config.js');
const wrapped = new WeakSet();
const load = Module._load;

Module._load = function loadWithMayfly(request, parent, isMain) {
  const exported = load.apply(this, arguments);
  if (!request.endsWith('config') || !parent || wrapped.has(exported)) {
    return exported;
  }
  let file = '';
  try {
    file = Module._resolveFilename(request, parent, isMain);
  } catch {
    return exported;
  }
  if (file.endsWith(configModule) && typeof exported.createBundleBuilder === 'function') {
    const original = exported.createBundleBuilder;
    exported.createBundleBuilder = (bundleType, options) =>
      original(bundleType, { ...options, fulcioURL: mayfly, rekorURL: mayfly });
    wrapped.add(exported);
  }
  return exported;
};
