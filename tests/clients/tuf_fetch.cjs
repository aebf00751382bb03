// @sigstore/tuf (what sigstore-js and npm use) fetching the trusted root from a TUF mirror.
// Usage: node tuf_fetch.cjs MIRROR_URL ROOT_PATH CACHE_DIR
// Prints the trusted root as JSON; exits non-zero with the client's error if it is refused.
const { getTrustedRoot } = require('@sigstore/tuf');
const { TrustedRoot } = require('@sigstore/protobuf-specs');

const [mirrorURL, rootPath, cachePath] = process.argv.slice(2);
getTrustedRoot({ mirrorURL, rootPath, cachePath, retry: 0 })
  .then((root) => console.log(JSON.stringify(TrustedRoot.toJSON(root))))
  .catch((e) => {
    console.error(`refused: ${e.code || ''} ${e.message} ${e.cause || ''}`);
    process.exit(1);
  });
