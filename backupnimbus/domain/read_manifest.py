"""Reading the manifest beside an archive: the one place that decides whether a manifest can
vouch for its archive, and the one wording for why it cannot.

`list`, `verify`, `restore` and `prune` all read manifests; one reader keeps them from
disagreeing about which backups are good, and keeps a user from reading three explanations of
the same problem.
"""

from __future__ import annotations

from backupnimbus.domain.keys import ARCHIVE_KEY, manifest_key
from backupnimbus.domain.manifest_codec import UnreadableManifestError, decode_manifest
from backupnimbus.domain.models import Manifest
from backupnimbus.errors import BackupNotFoundError, VerificationFailedError
from backupnimbus.ports.object_store import ObjectStore

INCOMPLETE = "incomplete"
"""No manifest: the upload never finished, or is still running."""
UNREADABLE = "unreadable"
"""A manifest exists but does not decode, or describes another archive."""


class ManifestUnusableError(VerificationFailedError):
    """The manifest beside an archive is missing, does not decode, or describes another
    archive: nothing vouches for the archive. `details["reason"]` is INCOMPLETE or UNREADABLE,
    `details["problem"]` says why in words."""


def read_manifest(store: ObjectStore, *, key: str, name: str | None = None) -> Manifest:
    """Returns: the manifest of the archive at `key`, of backup set `name` (by default, the set
    the key's path names; a key outside the usual layout is checked on its key alone).

    Raises: ManifestUnusableError, with one wording for each reason, and BackupNimbusError from
    the store (a storage failure is not a verdict on the backup).
    """
    at = manifest_key(key)
    try:
        with store.open_read(key=at) as stream:
            data = stream.read()
    except BackupNotFoundError:
        raise _unusable(key, INCOMPLETE, "it has no manifest, so its upload never finished "
                        "(or is still running)") from None  # fmt: skip
    try:
        manifest = decode_manifest(data)
    except UnreadableManifestError as exc:
        raise _unusable(key, UNREADABLE, f"its manifest does not decode ({exc})") from None
    problem = manifest_mismatch(manifest, key=key, name=name or backup_set_of(key))
    if problem is not None:
        raise _unusable(key, UNREADABLE, f"its manifest does not match it ({problem})")
    return manifest


def manifest_mismatch(manifest: Manifest, *, key: str, name: str | None) -> str | None:
    """Returns: why `manifest` cannot vouch for the archive at `key` of set `name`, or None.

    A manifest copied or renamed beside another archive would otherwise lend that archive its
    checksums and its place in the retention plan."""
    if manifest.key != key:
        return f"the manifest describes {manifest.key}, not {key}"
    if name is not None and manifest.name != name:
        return f"the manifest names backup set {manifest.name!r}, not {name!r}"
    return None


def backup_set_of(key: str) -> str | None:
    """Returns: the backup set a key's path names (`{name}/YYYY/MM/DD/{name}-...`), or None."""
    match = ARCHIVE_KEY.search(key)
    return match["name"] if match else None


def _unusable(key: str, reason: str, problem: str) -> ManifestUnusableError:
    return ManifestUnusableError(
        f"Backup {key} is {reason}: {problem}; nothing vouches for it, so it is neither "
        "verified nor restored",
        details={"key": key, "manifest_key": manifest_key(key), "reason": reason,
                 "problem": problem},
    )  # fmt: skip
