from __future__ import annotations

import contextlib
import logging
from typing import Any, TypeAlias, assert_never, overload

import attrs

from backupnimbus.domain.archive import (
    AGE_MAGIC,
    MAGIC,
    ArchiveSummary,
    age_encrypted,
    read_archive,
)
from backupnimbus.domain.archive_formats import ArchiveFormats
from backupnimbus.domain.list_backups import ListBackups, latest_complete
from backupnimbus.domain.models import Manifest
from backupnimbus.domain.no_encryption import NoEncryption
from backupnimbus.domain.plain_archive import PeekingReader, plain_archive, sniff_compression
from backupnimbus.domain.read_manifest import backup_set_of, read_manifest
from backupnimbus.domain.streams import DigestingReader, drain
from backupnimbus.errors import BackupNotFoundError, UsageInvalidError, VerificationFailedError
from backupnimbus.ports.cipher import ArchiveCipher
from backupnimbus.ports.compressor import NONE, StreamCompressor
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE
from backupnimbus.ports.local_files import LocalFiles
from backupnimbus.ports.object_store import ObjectStore, Readable

log = logging.getLogger(__name__)


@attrs.frozen
class CheckedArchive:
    """What one pass over an archive's stored bytes found."""

    size: int
    """Stored bytes, as they are (gzipped when the archive is)."""
    sha256: str
    """Hex digest of the stored bytes."""
    archive: ArchiveSummary | None
    """The archive's structure, counts and CRCs, all of them found intact; None for a format
    that is not a mongodump archive, which is checked by its size and sha256 only."""
    encrypted: bool = False
    """The stored bytes were age-encrypted, and decrypted intact."""
    compression: str = NONE
    """How the archive was compressed (GZIP, ZSTD or NONE), and decompressed intact."""
    format: str = MONGODUMP_ARCHIVE
    """What the archive is, as its manifest records (a local file: a mongodump archive)."""


@attrs.frozen
class VerificationReport:
    key: str
    manifest: Manifest
    """The manifest the stored bytes were compared with."""
    checked: CheckedArchive


NOT_MONGODUMP = "not a mongodump archive"
"""The `reason` of a local file's failure that is no mongodump archive at all (as opposed to a
damaged one)."""


def not_mongodump(label: str, *, first_bytes: str, outcome: str = "") -> VerificationFailedError:
    """The failure of a local file that starts as no form of a mongodump archive does.

    Args:
        first_bytes: its first bytes, in hex.
        outcome: what that meant, e.g. ", so nothing was restored".
    """
    return VerificationFailedError(
        f"{label} is not a mongodump archive{outcome}: it starts with {first_bytes}, neither an "
        "archive's magic number (6d e2 99 81) nor gzip's, zstd's or age's. A local file is read "
        "only as a mongodump archive; backups of other formats are checked in the store, "
        "against their manifest (verify KEY)",
        details={"file": label, "reason": NOT_MONGODUMP, "first_bytes": first_bytes},
    )


def check_stream(
    *,
    stream: Readable,
    compressor: StreamCompressor,
    cipher: ArchiveCipher | None = None,
    label: str = "the archive",
) -> CheckedArchive:
    """Reads `stream` once, hashing the stored bytes while the archive reader walks them, and
    decrypting them first with `cipher` when they are age-encrypted.

    Raises:
        VerificationFailedError: the archive is not intact (see `read_archive`), or cannot be
            decrypted; with `reason` NOT_MONGODUMP when it starts as no form of a mongodump
            archive does (plain, gzip, zstd or age-encrypted).
        ConfigInvalidError: it is encrypted and `cipher` has no identity.
    """
    digesting = DigestingReader(stream)
    head = _read_up_to(digesting, len(AGE_MAGIC))
    encrypted = age_encrypted(head)
    # Shorter than any magic number: the walk calls it truncated, which it may well be.
    if not encrypted and len(head) >= len(MAGIC) and sniff_compression(head) is None:
        raise not_mongodump(label, first_bytes=head[:8].hex())
    found, error = _walk(
        _Replaying(head, digesting),
        cipher=(cipher or NoEncryption()) if encrypted else None,
        label=label,
        compressor=compressor,
        algorithm=None,
    )
    if found is None:
        assert error is not None
        raise error
    summary, compression = found
    return CheckedArchive(
        size=digesting.size,
        sha256=digesting.hexdigest(),
        archive=summary,
        encrypted=encrypted,
        compression=compression,
    )


@attrs.frozen
class VerifyFromKey:
    """The backup whose archive is at `key` in the store."""

    key: str
    name: str | None = None
    """A check, not a choice: the backup must be one of this set, by its key and its manifest."""


@attrs.frozen
class VerifyLatest:
    """The newest complete backup of a set."""

    name: str | None = None
    """The backup set; None: the newest of every set (`--all-sets`)."""


@attrs.frozen
class VerifyFromFile:
    """An archive in a local file, outside the store, which has no manifest: its format and
    CRCs are checked, after decryption when it is age-encrypted."""

    path: str


VerifyRequest: TypeAlias = VerifyFromKey | VerifyLatest | VerifyFromFile
"""Which archive to check."""


@attrs.frozen
class VerifiedFile:
    file: str
    checked: CheckedArchive


class NoLocalFiles:
    """LocalFiles for a use case that reads only from the store (a drill's)."""

    def open_read(self, path: str) -> contextlib.AbstractContextManager[Readable]:
        raise UsageInvalidError([f"{path}: backups are read from the store only here"])


@attrs.frozen
class VerifyBackup:
    """Checks a stored backup against its manifest and the archive format, in one download; or
    a local file against the archive format."""

    store: ObjectStore
    backups: ListBackups
    compressor: StreamCompressor
    """Decompresses the archive for its walk; the sha256 is of the stored bytes."""
    cipher: ArchiveCipher = attrs.field(factory=NoEncryption)
    """Decrypts encrypted backups; their sha256 is checked on the stored, encrypted bytes."""
    files: LocalFiles = attrs.field(factory=NoLocalFiles)
    """Opens the archive of a `VerifyFromFile`."""
    formats: ArchiveFormats = attrs.field(factory=ArchiveFormats)
    """The configured dump backend's format, to word what a local file of another is told."""

    @overload
    def run(self, *, request: VerifyFromFile) -> VerifiedFile: ...
    @overload
    def run(self, *, request: VerifyFromKey | VerifyLatest) -> VerificationReport: ...
    @overload
    def run(self, *, request: VerifyRequest) -> VerificationReport | VerifiedFile: ...

    def run(self, *, request: VerifyRequest) -> VerificationReport | VerifiedFile:
        """Checks a partial backup as thoroughly as a complete one: the report's manifest says
        which it is.

        Raises: BackupNotFoundError for no archive at the key, or no complete backup of the
        set; ManifestUnusableError (a VerificationFailedError) when its manifest is missing,
        unreadable or describes another archive; VerificationFailedError when the stored bytes,
        the namespaces or their counts differ from the manifest, the archive (or the file)
        cannot be decrypted, or it is bad, or a key is not of the set named; ConfigInvalidError
        when it is encrypted and no identity is configured; UsageInvalidError when the file
        cannot be opened, or is no mongodump archive while the configured dump backend writes
        another format (which only a manifest can vouch for)."""
        match request:
            case VerifyFromFile(path=path):
                return self._verify_file(path)
            case VerifyLatest(name=name):
                key = latest_complete(self.backups.run(name=name), name=name).key
                return self._verify_stored(key, name=name)
            case VerifyFromKey(key=key, name=name):
                return self._verify_stored(key, name=name)
            case _:
                assert_never(request)

    def _verify_file(self, path: str) -> VerifiedFile:
        with self.files.open_read(path) as stream:
            try:
                checked = check_stream(
                    stream=stream, compressor=self.compressor, cipher=self.cipher, label=path
                )
            except VerificationFailedError as failure:
                other = self.formats.active != MONGODUMP_ARCHIVE
                if not other or failure.details.get("reason") != NOT_MONGODUMP:
                    raise
                raise self.formats.local_file_refused(
                    path, command="verify",
                    why="not a mongodump archive, the one format a local file is checked as",
                ) from None  # fmt: skip
        return VerifiedFile(file=path, checked=checked)

    def _verify_stored(self, key: str, *, name: str | None) -> VerificationReport:
        """With `name`, the backup must also be one of that set, by its key and its manifest:
        a key of another set is not what was asked for."""
        if not self.store.exists(key=key):
            raise BackupNotFoundError(f"No backup at {key}", details={"key": key})
        owner = backup_set_of(key)
        if name is not None and owner != name:
            raise VerificationFailedError(
                f"Backup {key} is one of set {owner!r}, not of set {name!r}: verify it without "
                "--name, or give a key of that set",
                details={"key": key, "name": name, "set_of_key": owner},
            )
        manifest = read_manifest(self.store, key=key, name=name)
        if not manifest.walkable:
            return self._check_digest(key, manifest)
        with self.store.open_read(key=key) as stream:
            digesting = DigestingReader(stream)
            found, archive_error = _walk(
                digesting,
                cipher=self.cipher if manifest.encrypted else None,
                label=key,
                compressor=self.compressor,
                algorithm=manifest.declared_compression,
            )
            # Read on, so the report can also say whether the stored bytes changed.
            drain(digesting)
        checked_size, checked_sha = digesting.size, digesting.hexdigest()
        problems = _manifest_problems(manifest, checked_size, checked_sha)
        if problems or found is None:
            raise _failure(key, manifest, checked_size, checked_sha, problems, archive_error)
        summary, compression = found
        checked = CheckedArchive(
            size=checked_size,
            sha256=checked_sha,
            archive=summary,
            encrypted=manifest.encrypted,
            compression=compression,
        )
        namespace_problems = _namespace_problems(manifest, summary)
        if namespace_problems:
            raise VerificationFailedError(
                f"Backup {key} holds other namespaces or document counts than its manifest "
                "lists: " + "; ".join(p["problem"] for p in namespace_problems),
                details={"key": key, "namespaces": namespace_problems},
            )
        log.info("backup verified", extra={"key": key, "bytes": checked_size})
        return VerificationReport(key=key, manifest=manifest, checked=checked)

    def _check_digest(self, key: str, manifest: Manifest) -> VerificationReport:
        """A format BackupNimbus cannot walk: the stored bytes are compared with the manifest,
        which vouched for them when the backup was written, and are decrypted and decompressed
        to their end, as a restore would (a sha256 of ciphertext no identity opens, or of a
        compressed stream cut short, proves only that the bytes did not change)."""
        algorithm = manifest.declared_compression or NONE
        with self.store.open_read(key=key) as stream:
            digesting = DigestingReader(stream)
            unpack_error = _unpack(
                digesting,
                cipher=self.cipher if manifest.encrypted else None,
                label=key,
                compressor=self.compressor,
                algorithm=algorithm,
            )
            drain(digesting)
        size, sha256 = digesting.size, digesting.hexdigest()
        problems = _manifest_problems(manifest, size, sha256)
        if problems or unpack_error is not None:
            raise _failure(key, manifest, size, sha256, problems, unpack_error)
        log.info("backup verified", extra={"key": key, "bytes": size, "format": manifest.format})
        checked = CheckedArchive(
            size=size,
            sha256=sha256,
            archive=None,
            encrypted=manifest.encrypted,
            compression=algorithm,
            format=manifest.format,
        )
        return VerificationReport(key=key, manifest=manifest, checked=checked)


def _walk(
    stored: Readable,
    *,
    cipher: ArchiveCipher | None,
    label: str,
    compressor: StreamCompressor,
    algorithm: str | None,
) -> tuple[tuple[ArchiveSummary, str] | None, VerificationFailedError | None]:
    """Walks the archive in `stored`, decrypting it with `cipher` when one is given, and
    decompressing it by `algorithm` (None: by its magic number).

    Returns: the summary and the compression found, or the damage found. When it returns,
    `stored` is no longer read by anyone else, so the caller may read on. A missing or wrong
    identity raises at once, since reading on could tell no more.
    """
    with contextlib.ExitStack() as stack:
        plaintext = stored
        if cipher is not None:
            plaintext = stack.enter_context(cipher.decrypting(stored, label=label))
        try:
            peeking = PeekingReader(plaintext)
            found = algorithm or sniff_compression(peeking.peek(4)) or NONE
            archive = stack.enter_context(
                plain_archive(peeking, compressor=compressor, label=label, algorithm=found)
            )
            summary = read_archive(archive)
            # Past the archive's end: age authenticates its last chunk only at the very end,
            # and a compressed stream may hold more after the archive.
            drain(archive)
            drain(plaintext)
        except VerificationFailedError as error:
            if cipher is not None:
                # Decrypting on to the end checks the rest of the ciphertext, and ends the
                # decryption before the caller reads the stored bytes.
                with contextlib.suppress(VerificationFailedError):
                    drain(plaintext)
            return None, error
        return (summary, found), None
    raise AssertionError("unreachable")


def _unpack(
    stored: Readable,
    *,
    cipher: ArchiveCipher | None,
    label: str,
    compressor: StreamCompressor,
    algorithm: str,
) -> VerificationFailedError | None:
    """Decrypts (with `cipher`, when given) and decompresses `stored` to its end, for a format
    that is not walked. Returns: the damage found, or None. A missing or wrong identity raises
    at once, as in `_walk`."""
    with contextlib.ExitStack() as stack:
        plaintext = stored
        if cipher is not None:
            plaintext = stack.enter_context(cipher.decrypting(stored, label=label))
        try:
            plain = stack.enter_context(
                compressor.decompressing(plaintext, algorithm=algorithm, label=label)
            )
            drain(plain)
            drain(plaintext)
        except VerificationFailedError as error:
            if cipher is not None:
                with contextlib.suppress(VerificationFailedError):
                    drain(plaintext)
            return error
    return None


def _read_up_to(stream: Readable, size: int) -> bytes:
    head = b""
    while len(head) < size and (more := stream.read(size - len(head))):
        head += more
    return head


class _Replaying:
    """`head`, already read from `rest`, then the rest."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int, /) -> bytes:
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._rest.read(size)


def _manifest_problems(manifest: Manifest, size: int, sha256: str) -> list[str]:
    problems = []
    if size != manifest.size:
        problems.append(f"size is {size} bytes, the manifest says {manifest.size}")
    if sha256 != manifest.sha256:
        problems.append(f"sha256 mismatch: stored bytes hash to {sha256}, not {manifest.sha256}")
    return problems


def _namespace_problems(manifest: Manifest, summary: ArchiveSummary) -> list[dict[str, Any]]:
    """Compares the manifest's namespaces with the archive's, both ways.

    Returns: one entry per namespace that differs: listed but absent, present but unlisted, or
    with another document count. Manifests written before namespaces were recorded list none,
    so only the archive walk vouches for those.
    """
    if manifest.namespaces is None:
        return []
    listed, found = dict(manifest.namespaces), summary.counts
    # Older mongodumps report a time-series collection under its own name, while the archive
    # holds its buckets (whose count is of buckets, not measurements): the pair is one namespace.
    for entry in summary.prelude:
        if entry.collection_type != "timeseries" or entry.namespace not in listed:
            continue
        db, _, name = entry.namespace.partition(".")
        buckets = f"{db}.system.buckets.{name}"
        if buckets in found and buckets not in listed:
            del listed[entry.namespace]
            found = {ns: count for ns, count in found.items() if ns != buckets}
    problems: list[dict[str, Any]] = []
    for namespace in sorted(listed.keys() | found.keys()):
        expected, actual = listed.get(namespace), found.get(namespace)
        if actual is None:
            problem = f"{namespace}: in the manifest ({expected} documents), not in the archive"
        elif expected is None:
            problem = f"{namespace}: in the archive ({actual} documents), not in the manifest"
        elif actual != expected:
            problem = f"{namespace}: {actual} documents in the archive, {expected} in the manifest"
        else:
            continue
        problems.append(
            {"namespace": namespace, "manifest": expected, "archive": actual, "problem": problem}
        )
    return problems


def _failure(
    key: str,
    manifest: Manifest,
    size: int,
    sha256: str,
    problems: list[str],
    archive_error: VerificationFailedError | None,
) -> VerificationFailedError:
    details: dict[str, Any] = {
        "key": key,
        "expected": {"size": manifest.size, "sha256": manifest.sha256},
        "actual": {"size": size, "sha256": sha256},
        "problems": list(problems),
    }
    if archive_error is not None:
        details["archive"] = archive_error.details
        problems = [*problems, archive_error.message]
    return VerificationFailedError(
        f"Backup {key} failed verification: " + "; ".join(problems), details=details
    )
