"""Verifies a DSSE bundle with sigstore-python's API (not its CLI, which insists on a sha256
subject matching a file), against a ClientTrustConfig, requiring the certificate SAN and
OIDC issuer. Prints the verified payload type and statement as JSON.

usage: python verify_dsse.py <client_trust_config.json> <bundle.json> <san> <issuer>
"""

import json
import sys

from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy


def main() -> None:
    config_path, bundle_path, san, issuer = sys.argv[1:5]
    with open(config_path, encoding="utf-8") as f:
        config = ClientTrustConfig.from_json(f.read())
    with open(bundle_path, encoding="utf-8") as f:
        bundle = Bundle.from_json(f.read())
    verifier = Verifier(trusted_root=config.trusted_root)
    payload_type, payload = verifier.verify_dsse(
        bundle, policy.Identity(identity=san, issuer=issuer)
    )
    print(json.dumps({"payloadType": payload_type, "statement": json.loads(payload)}))


if __name__ == "__main__":
    main()
