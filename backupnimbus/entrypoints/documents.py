"""The JSON documents the CLI prints and the Lambda handler returns, all of them here: the
backup (and job) result, the list, verify, prune, drill and restore results, and the parts they
share (store, lock, oplog, notification).

Each document is a small attrs class, unstructured by the shared converter
(backupnimbus.conversion: times as ISO 8601 with Z): its fields are the document's keys, in
order. A field with a default is left out while it holds it (a backup's `lock` when it has
none, a dry run's `deleted`); _HIDDEN is the default of a field that is shown, even as null,
only in some documents (a listed backup's `lock` where Object Lock is in use, null meaning
unlocked). A field marked _FLAT has its keys spliced in its place, for a section several
documents share (the checked archive, the oplog). The
domain's models appear as they are wherever the document shows them so, with a hook only to
rename or leave out a field (`collection_type` as `type`); the document's shape is what scripts
read and must not follow a model's renaming. The error document is BackupNimbusError's own.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs
from cattrs.gen import make_dict_unstructure_fn, override

from backupnimbus.conversion import make_converter
from backupnimbus.domain.archive import NamespaceStats, PreludeEntry
from backupnimbus.domain.manifest_codec import manifest_document
from backupnimbus.domain.models import NotificationOutcome
from backupnimbus.domain.oplog import OplogWindow
from backupnimbus.domain.prune_backups import DeletedBackup, ExtendedLock
from backupnimbus.domain.restore_drill import CollectionCheck
from backupnimbus.ports.object_lock import Lock

if TYPE_CHECKING:
    from backupnimbus.domain.backup_job import JobResult
    from backupnimbus.domain.list_backups import BackupRecord
    from backupnimbus.domain.models import BackupResult
    from backupnimbus.domain.prune_backups import PruneResult
    from backupnimbus.domain.restore_backup import RestoreResult
    from backupnimbus.domain.restore_drill import DrillResult
    from backupnimbus.domain.verify_backup import (
        CheckedArchive,
        VerificationReport,
        VerifiedFile,
    )
    from backupnimbus.entrypoints.config import Config
    from backupnimbus.entrypoints.plugins import Plugin

_CONVERTER = make_converter()
_D = TypeVar("_D")
_DOCUMENTS: set[type] = set()


class _Hidden(enum.Enum):
    HIDDEN = "hidden"


_HIDDEN: Final = _Hidden.HIDDEN
_FLAT: Final = {"flat": True}


def _document(cls: type[_D]) -> type[_D]:
    """Registers a document class (an attrs class, its fields the document's keys)."""
    _DOCUMENTS.add(cls)
    return cls


def _unstructure_fn(cls: type) -> Callable[[Any], dict[str, Any]]:
    """Built on first use, once every class the document names is defined. cattrs puts the
    fields it may leave out after the others: the keys are put back in the fields' order."""
    plain: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, _CONVERTER, _cattrs_omit_if_default=True
    )
    fields = [(field.name, field.metadata == _FLAT) for field in attrs.fields(cls)]

    def unstructure(value: Any) -> dict[str, Any]:
        unordered = plain(value)
        document: dict[str, Any] = {}
        for key, flat in fields:
            if key not in unordered:
                continue
            if flat:
                document.update(unordered[key])
            else:
                document[key] = unordered[key]
        return document

    return unstructure


_CONVERTER.register_unstructure_hook_factory(
    lambda type_: attrs.has(type_) and type_ in _DOCUMENTS, _unstructure_fn
)


def _shown_as(cls: type, **overrides: Any) -> None:
    """A domain model a document shows as it is, but for the fields renamed or left out."""
    _CONVERTER.register_unstructure_hook(
        cls, make_dict_unstructure_fn(cls, _CONVERTER, **overrides)
    )


_shown_as(
    PreludeEntry,
    collection_type=override(rename="type"),
    index_definitions=override(omit=True),
)
_shown_as(NamespaceStats, namespace=override(omit=True))  # the key it is listed under
_shown_as(CollectionCheck, namespace=override(omit=True), scratch=override(omit=True))
_shown_as(ExtendedLock, previous=override(rename="from"), lock=override(rename="to"))


def _unstructured(document: object) -> dict[str, Any]:
    unstructured: dict[str, Any] = _CONVERTER.unstructure(document)
    return unstructured


# -- shared parts ------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _Store:
    backend: str
    location: str


def store_document(config: Config) -> dict[str, Any]:
    """Which store a command worked on, and where in it: a result must say where the backups
    are, so that a backup written to an unexpected place is noticed on the first run."""
    return _unstructured(_store(config))


def _store(config: Config) -> _Store:
    backend = config.storage_backend or ("s3" if config.bucket else "local")
    prefix = config.backup_prefix
    if backend == "s3":
        location = f"s3://{config.bucket}/{prefix}"
    elif backend == "local":
        location = os.path.join(os.path.abspath(config.local_backup_dir), prefix)
    else:
        location = prefix  # a plugin's store: the key prefix is what this configuration knows
    return _Store(backend=backend, location=location)


def lock_document(lock: Lock | None) -> dict[str, Any] | None:
    """An Object Lock as results show it (mode, retain_until); None when there is none."""
    return None if lock is None else _unstructured(lock)


def notification_document(outcome: NotificationOutcome) -> dict[str, Any]:
    return _unstructured(outcome)


def lock_line(lock: dict[str, Any] | None) -> str:
    if lock is None:
        return "-"
    return f"{lock['mode'].lower()} until {lock['retain_until']}"


def store_line(document: dict[str, Any]) -> str | None:
    """The human form of a document's store, for the renderers."""
    store = document.get("store")
    return None if store is None else f"{store['backend']} {store['location']}"


@_document
@attrs.frozen(kw_only=True)
class _Oplog:
    """The oplog section's window (entries, first_ts, last_ts) and the time a replay makes the
    data consistent to; nothing for an archive dumped without --oplog."""

    oplog: OplogWindow | None = None
    consistent_at: datetime | _Hidden | None = _HIDDEN


def _oplog(oplog: OplogWindow | None) -> _Oplog:
    if oplog is None:
        return _Oplog()
    return _Oplog(oplog=oplog, consistent_at=oplog.consistent_at)


def oplog_document(oplog: OplogWindow | None) -> dict[str, Any]:
    return _unstructured(_oplog(oplog))


# -- backup ------------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _Backup:
    status: str
    key: str
    manifest_key: str
    size: int
    sha256: str
    duration_s: float
    manifest: dict[str, Any]
    lock: Lock | None = None
    notification: NotificationOutcome | None = None


@_document
@attrs.frozen(kw_only=True)
class _RetentionFailed:
    status: str
    error: str


def backup_result_document(result: BackupResult) -> dict[str, Any]:
    return _unstructured(_backup(result))


def _backup(result: BackupResult, cls: type[_Backup] = _Backup, **more: Any) -> _Backup:
    manifest = result.manifest
    return cls(
        status="success" if manifest.complete else "partial",
        key=manifest.key,
        manifest_key=result.manifest_key,
        size=manifest.size,
        sha256=manifest.sha256,
        duration_s=manifest.duration_s,
        manifest=manifest_document(manifest),
        lock=manifest.object_lock,
        notification=result.notification,
        **more,
    )


@_document
@attrs.frozen(kw_only=True)
class _Job(_Backup):
    retention: _Prune | _RetentionFailed | None = None


def job_result_document(job: JobResult) -> dict[str, Any]:
    retention: _Prune | _RetentionFailed | None = None
    if job.retention_error is not None:
        retention = _RetentionFailed(status="failed", error=job.retention_error)
    elif job.retention is not None:
        retention = _prune(job.retention)
    return _unstructured(_backup(job.backup, _Job, retention=retention))


# -- list --------------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _Record:
    name: str
    timestamp: datetime
    key: str
    size: int
    sha256: str | None
    compressed: bool
    compression: str
    encrypted: bool
    complete: bool
    status: str
    problem: str | None
    warnings: Sequence[str]
    namespaces: Mapping[str, int] | None
    format: str | None
    lock: Lock | _Hidden | None = _HIDDEN
    """Shown where Object Lock is in use (None: unlocked)."""


@_document
@attrs.frozen(kw_only=True)
class _List:
    store: _Store
    set: str | None
    backups: Sequence[_Record]


def list_document(
    records: Sequence[BackupRecord], *, config: Config, name: str | None
) -> dict[str, Any]:
    """The backups of set `name` (None: every set), newest first."""
    locks = config.object_lock_mode is not None
    return _unstructured(
        _List(
            store=_store(config),
            set=name,
            backups=[_record(record, locks=locks) for record in records],
        )
    )


def record_document(record: BackupRecord, *, locks: bool = False) -> dict[str, Any]:
    """`locks`: Object Lock is in use, so each backup's lock is shown (None: unlocked)."""
    return _unstructured(_record(record, locks=locks))


def _record(record: BackupRecord, *, locks: bool) -> _Record:
    manifest = record.manifest
    return _Record(
        name=record.name,
        timestamp=record.timestamp,
        key=record.key,
        size=record.size,
        sha256=manifest.sha256 if manifest else None,
        compressed=record.compressed,
        compression=record.compression,
        encrypted=record.encrypted,
        complete=record.complete,
        status=record.state,
        problem=record.manifest_problem,
        warnings=manifest.warnings if manifest else (),
        namespaces=manifest.namespaces if manifest and manifest.namespaces else None,
        format=manifest.format if manifest else None,
        lock=record.lock if locks else _HIDDEN,
    )


# -- verify ------------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _Archive:
    bytes: int
    format_version: str
    server_version: str
    tool_version: str
    concurrent_collections: int


@_document
@attrs.frozen(kw_only=True)
class _Checked:
    size: int
    sha256: str
    compressed: bool
    compression: str
    encrypted: bool
    format: str
    archive: _Archive | None
    """None for another format than a mongodump archive: its size and sha256 are what was
    checked."""
    prelude: Sequence[PreludeEntry]
    namespaces: Mapping[str, NamespaceStats]
    oplog: _Oplog = attrs.field(metadata=_FLAT)


@_document
@attrs.frozen(kw_only=True)
class _Verified:
    status: str
    key: str
    manifest_sha256: str
    checked: _Checked = attrs.field(metadata=_FLAT)
    warnings: Sequence[str] | None = None
    exit_code: int | None = None


@_document
@attrs.frozen(kw_only=True)
class _VerifiedFile:
    status: str
    file: str
    checked: _Checked = attrs.field(metadata=_FLAT)


def verified_document(report: VerificationReport) -> dict[str, Any]:
    """A partial backup is as intact as a complete one, but not a whole backup: it verifies
    with status "verified-partial", its warnings, and exit code 3 (as its backup run did)."""
    manifest = report.manifest
    partial = not manifest.complete
    return _unstructured(
        _Verified(
            status="verified-partial" if partial else "verified",
            key=report.key,
            manifest_sha256=manifest.sha256,
            checked=_checked(report.checked),
            warnings=manifest.warnings if partial else None,
            exit_code=3 if partial else None,
        )
    )


def verified_file_document(verified: VerifiedFile) -> dict[str, Any]:
    return _unstructured(
        _VerifiedFile(status="verified", file=verified.file, checked=_checked(verified.checked))
    )


def checked_document(checked: CheckedArchive) -> dict[str, Any]:
    return _unstructured(_checked(checked))


def _checked(checked: CheckedArchive) -> _Checked:
    archive = checked.archive
    return _Checked(
        size=checked.size,
        sha256=checked.sha256,
        compressed=checked.compression != "none",
        compression=checked.compression,
        encrypted=checked.encrypted,
        format=checked.format,
        archive=None
        if archive is None
        else _Archive(
            bytes=archive.bytes_read,
            format_version=archive.header.format_version,
            server_version=archive.header.server_version,
            tool_version=archive.header.tool_version,
            concurrent_collections=archive.header.concurrent_collections,
        ),
        prelude=() if archive is None else archive.prelude,
        namespaces={} if archive is None else {s.namespace: s for s in archive.namespaces},
        oplog=_Oplog() if archive is None else _oplog(archive.oplog),
    )


# -- prune -------------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _Kept:
    key: str
    state: str
    complete: bool
    reasons: Sequence[str]
    lock: Lock | _Hidden | None = _HIDDEN
    """Shown where Object Lock is in use (None: unlocked)."""


@_document
@attrs.frozen(kw_only=True)
class _Unreadable:
    key: str
    problem: str


@_document
@attrs.frozen(kw_only=True)
class _PruneCounts:
    kept: int
    deleted: int | None = None
    would_delete: int | None = None
    locked: int | None = None
    extended: int | None = None
    would_extend: int | None = None


@_document
@attrs.frozen(kw_only=True)
class _Prune:
    """A dry run lists `would_delete` (and `would_extend`), never `deleted`, so that a script
    reading the document cannot mistake a plan for a deletion; the lock fields are shown only
    where Object Lock is in use."""

    status: str
    dry_run: bool
    policy: Mapping[str, int]
    kept: Sequence[_Kept]
    deleted: Sequence[DeletedBackup] | None = None
    would_delete: Sequence[DeletedBackup] | None = None
    unreadable: Sequence[_Unreadable]
    counts: _PruneCounts
    locked: Sequence[str] | None = None
    extended: Sequence[ExtendedLock] | None = None
    would_extend: Sequence[ExtendedLock] | None = None


def prune_result_document(result: PruneResult) -> dict[str, Any]:
    """The plan and what became of it."""
    return _unstructured(_prune(result))


def _prune(result: PruneResult) -> _Prune:
    dry_run = result.dry_run
    locks = result.locks_in_use
    extended = result.extended if locks else None
    return _Prune(
        status="success",
        dry_run=dry_run,
        policy=result.policy.counts(),
        kept=[
            _Kept(
                key=kept.key,
                state=kept.state,
                complete=kept.complete,
                reasons=kept.reasons,
                lock=kept.lock if locks else _HIDDEN,
            )
            for kept in result.kept
        ],
        deleted=None if dry_run else result.deleted,
        would_delete=result.deleted if dry_run else None,
        unreadable=[_Unreadable(key=key, problem=problem) for key, problem in result.unreadable],
        counts=_PruneCounts(
            kept=len(result.kept),
            deleted=None if dry_run else len(result.deleted),
            would_delete=len(result.deleted) if dry_run else None,
            locked=len(result.locked) if locks else None,
            extended=None if dry_run or extended is None else len(extended),
            would_extend=len(extended) if dry_run and extended is not None else None,
        ),
        locked=[kept.key for kept in result.locked] if locks else None,
        extended=None if dry_run else extended,
        would_extend=extended if dry_run else None,
    )


# -- drill -------------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _Phases:
    verify: float
    restore: float
    check: float


@_document
@attrs.frozen(kw_only=True)
class _Sample:
    size: int
    seed: int


@_document
@attrs.frozen(kw_only=True)
class _Drill:
    status: str
    key: str
    name: str
    target_hosts: Sequence[str]
    scratch_prefix: str
    rto_s: float
    mb_per_s: float
    size: int
    phases_s: _Phases
    sample: _Sample
    collections: Mapping[str, CollectionCheck]
    documents: int
    dropped_leftovers: Sequence[str]
    scratch_dropped: bool
    notification: NotificationOutcome | None = None


def drill_document(result: DrillResult) -> dict[str, Any]:
    return _unstructured(
        _Drill(
            status="passed",
            key=result.key,
            name=result.name,
            target_hosts=result.target_hosts,
            scratch_prefix=result.scratch_prefix,
            rto_s=result.rto_s,
            mb_per_s=result.mb_per_s,
            size=result.size,
            phases_s=_Phases(
                verify=result.verify_s, restore=result.restore_s, check=result.check_s
            ),
            sample=_Sample(size=result.sample_size, seed=result.seed),
            collections={c.namespace: c for c in result.collections},
            documents=sum(c.documents for c in result.collections),
            dropped_leftovers=result.dropped_leftovers,
            scratch_dropped=True,
            notification=result.notification,
        )
    )


# -- restore -----------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _Restore:
    status: str
    key: str | None
    file: str | None
    target_hosts: Sequence[str]
    namespaces: Mapping[str, int | None]
    documents: int | None
    size: int
    sha256: str
    sha256_verified: bool
    dry_run: bool
    existing: Sequence[str] | None = None
    """Shown for a dry run."""
    backup_status: str
    warnings: Sequence[str]
    oplog_replay: bool
    oplog: _Oplog = attrs.field(metadata=_FLAT)


def restore_document(result: RestoreResult) -> dict[str, Any]:
    counts = list(result.namespaces.values())
    return _unstructured(
        _Restore(
            status="dry_run" if result.dry_run else "success",
            key=result.key,
            file=result.file,
            target_hosts=result.target_hosts,
            namespaces=result.namespaces,
            documents=None if None in counts else sum(c for c in counts if c is not None),
            size=result.size,
            sha256=result.sha256,
            sha256_verified=result.verified,
            dry_run=result.dry_run,
            existing=result.existing if result.dry_run else None,
            # A partial backup restores what it holds; what its dump left out is not in it.
            backup_status="partial" if result.warnings else "complete",
            warnings=result.warnings,
            oplog_replay=result.oplog_replay,
            oplog=_oplog(result.oplog),
        )
    )


# -- plugins -----------------------------------------------------------------------------------


@_document
@attrs.frozen(kw_only=True)
class _DumpBackend:
    name: str
    format: str
    restores: bool


@_document
@attrs.frozen(kw_only=True)
class _Plugin:
    name: str
    entry_point: str
    distribution: str | None
    version: str | None
    storage_backends: Sequence[str]
    mailer_backends: Sequence[str]
    dump_backends: Sequence[_DumpBackend]
    replaces: Sequence[str]
    hooks: Sequence[str]


@_document
@attrs.frozen(kw_only=True)
class _Plugins:
    plugins: Sequence[_Plugin]
    builtin: Mapping[str, Sequence[str]]


def plugins_document(
    installed: Sequence[Plugin], *, builtin: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The installed plugins and what each registered, beside what is built in."""
    return _unstructured(_Plugins(
        plugins=[
            _Plugin(
                name=plugin.name,
                entry_point=plugin.value,
                distribution=plugin.distribution,
                version=plugin.version,
                storage_backends=list(plugin.storage_backends),
                mailer_backends=list(plugin.mailer_backends),
                dump_backends=[
                    _DumpBackend(name=backend.name, format=backend.archive_format,
                                 restores=backend.restorer is not None)
                    for backend in plugin.dump_backends
                ],
                replaces=list(plugin.replaces),
                hooks=[hook for hook in ("initialize", "close")
                       if getattr(plugin, hook) is not None],
            )
            for plugin in installed
        ],
        builtin=builtin,
    ))  # fmt: skip
