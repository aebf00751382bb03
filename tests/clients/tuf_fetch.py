"""python-tuf's ngclient (as sigstore-python uses it) fetching one target from a TUF mirror.

Usage: tuf_fetch.py MIRROR_URL BOOTSTRAP_ROOT CACHE_DIR TARGET OUT
Bootstraps from BOOTSTRAP_ROOT unless CACHE_DIR already holds trusted metadata, refreshes,
downloads TARGET into OUT. Exits non-zero (with the client's error) when anything fails to
verify.
"""

import pathlib
import sys

from tuf.ngclient import Updater

mirror, bootstrap, cache, target, out = sys.argv[1:6]
cache = pathlib.Path(cache)
metadata_dir = cache / "metadata"
metadata_dir.mkdir(parents=True, exist_ok=True)
trusted = metadata_dir / "root.json"
updater = Updater(
    metadata_dir=str(metadata_dir),
    metadata_base_url=mirror,
    target_base_url=mirror.rstrip("/") + "/targets/",
    target_dir=str(cache / "targets"),
    bootstrap=None if trusted.exists() else pathlib.Path(bootstrap).read_bytes(),
)
updater.refresh()
info = updater.get_targetinfo(target)
if info is None:
    sys.exit(f"no target {target}")
updater.download_target(info, filepath=out)
print(f"root version {updater._trusted_set.root.version}")
