"""Restore drills: prove that a backup restores, by restoring it into scratch namespaces,
reading it back, and dropping it again."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import struct
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, BinaryIO, cast

import attrs

from backupnimbus.conversion import iso_time
from backupnimbus.domain.archive import PreludeEntry
from backupnimbus.domain.bson_elements import element_value
from backupnimbus.domain.drill_sample import DocumentSample, SampledDocument, SamplingRestorer
from backupnimbus.domain.list_backups import BackupRecord, ListBackups, latest_complete
from backupnimbus.domain.models import Manifest, NotificationOutcome
from backupnimbus.domain.read_manifest import read_manifest
from backupnimbus.domain.restore_backup import RestoreBackup, RestoreFromKey
from backupnimbus.domain.verify_backup import VerifyBackup, VerifyFromKey
from backupnimbus.errors import (
    BackupNimbusError,
    BackupNotFoundError,
    ConfigInvalidError,
    DeadlineExceededError,
    DrillFailedError,
    NotificationFailedError,
    UsageInvalidError,
)
from backupnimbus.ports.archive_restorer import NamespaceRename, RestoreOptions
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.mailer import Email, Mailer
from backupnimbus.ports.object_store import ObjectStore
from backupnimbus.ports.scratch_target import ScratchTarget
from backupnimbus.redaction import Redactor

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "bn_drill_"
"""Every scratch database starts with it; any such database is a drill's, and dropped."""
DEFAULT_SAMPLE = 100
_SYSTEM_DATABASES = frozenset({"admin", "config", "local"})
_SHOWN_PROBLEMS = 5


@attrs.frozen
class DrillRequest:
    name: str
    """The backup set."""
    key: str | None = None
    """This backup; else the latest complete one, or a random one with `random_within_days`."""
    random_within_days: float | None = None
    """A random complete backup of the set that finished within this many days."""
    sample_size: int = DEFAULT_SAMPLE
    """Documents read back per collection."""
    seed: int | None = None
    """Of the sample (and of the random choice); None: a random seed, reported."""
    deadline: datetime | None = None
    """Stop, drop the scratch namespaces and fail with TIMEOUT when this passes."""


@attrs.frozen
class CollectionCheck:
    namespace: str
    """In the backup."""
    scratch: str
    """Where the drill restored it."""
    documents: int
    indexes: int
    sampled: int
    """Documents read back by _id and compared byte for byte."""


@attrs.frozen
class DrillResult:
    key: str
    name: str
    target_hosts: tuple[str, ...]
    scratch_prefix: str
    collections: tuple[CollectionCheck, ...]
    size: int
    """Stored bytes of the archive."""
    rto_s: float
    """Wall seconds from the drill's start until the backup was restored and checked."""
    verify_s: float
    restore_s: float
    check_s: float
    seed: int
    sample_size: int
    dropped_leftovers: tuple[str, ...]
    """Scratch databases of an earlier drill that did not get to drop them."""
    notification: NotificationOutcome | None = None

    @property
    def mb_per_s(self) -> float:
        """Stored megabytes (10^6) restored and checked per second of the RTO."""
        return round(self.size / 1e6 / self.rto_s, 3) if self.rto_s > 0 else 0.0


@attrs.frozen
class RestoreDrill:
    """Verifies a backup, restores it into `bn_drill_<stamp>_<db>.<coll>`, checks counts,
    index definitions and a sample of documents against the archive, and always drops the
    scratch databases again. Mails the outcome; the outcome never depends on the mail."""

    store: ObjectStore
    backups: ListBackups
    verify: VerifyBackup
    restore: RestoreBackup
    target: ScratchTarget
    clock: Clock
    mailer: Mailer
    redactor: Redactor = attrs.Factory(Redactor)
    mail_on_success: bool = True
    mail_on_failure: bool = True
    source_hosts: tuple[str, ...] = ()
    """The configured MONGO_URI's hosts: a drill never writes there unless `allow_source`."""
    allow_source: bool = False
    after_restore: Callable[[Mapping[str, str]], None] | None = None
    """Called with scratch -> source namespaces between the restore and the checks (tests)."""

    def run(self, *, request: DrillRequest) -> DrillResult:
        """Raises: the error that failed the drill (DRILL_FAILED for a difference found, else
        VERIFY_ERROR, RESTORE_ERROR, TIMEOUT, ...), after its mail."""
        if request.sample_size < 0:
            raise UsageInvalidError(["the sample size must be 0 or more"])
        seed = request.seed if request.seed is not None else random.SystemRandom().getrandbits(32)
        try:
            result = self._drill(request, seed)
        except BaseException as exc:
            error = exc if isinstance(exc, BackupNimbusError) else None
            if error is None and isinstance(exc, Exception):
                error = BackupNimbusError(f"Unexpected failure: {type(exc).__name__}")
            if error is not None:
                outcome = self._mail_failure(request.name, error)
                if outcome is not None and isinstance(exc, BackupNimbusError):
                    exc.details.setdefault("notification", attrs.asdict(outcome))
            raise
        return attrs.evolve(result, notification=self._mail_success(result))

    # -- the drill ------------------------------------------------------------------------

    def _drill(self, request: DrillRequest, seed: int) -> DrillResult:
        started = self.clock.now()
        key, manifest = self._choose(request, seed)
        if not manifest.walkable:
            raise DrillFailedError(
                f"Backup {key} is a {manifest.format}, not a mongodump archive: a drill restores "
                "only those; check it with verify and restore",
                details={"key": key, "format": manifest.format},
            )
        self._refuse_source(manifest)
        prefix = f"{SCRATCH_PREFIX}{started.strftime('%Y%m%dT%H%M%SZ')}_"
        # A drill killed outright (SIGKILL, a host lost) could not drop its databases.
        leftovers = self.target.drop_databases(prefix=SCRATCH_PREFIX)
        if leftovers:
            log.warning("dropped an earlier drill's scratch databases",
                        extra={"databases": list(leftovers)})  # fmt: skip
        checks = _Checks(manifest)
        if not checks.databases:
            raise DrillFailedError(
                f"Backup {key} holds no collection a drill can restore",
                details={"key": key, "namespaces": dict(manifest.namespaces or {})},
            )
        log.info("restore drill started", extra={"key": key, "scratch_prefix": prefix})
        try:
            self._in_time(request, key, "verifying")
            timed = self._timed_store(request, key)
            report = attrs.evolve(self.verify, store=timed).run(request=VerifyFromKey(key=key))
            verified = self.clock.now()
            sample = DocumentSample(size=request.sample_size, seed=seed)
            sampler = SamplingRestorer(inner=self.restore.restorer, sample=sample)
            restore = attrs.evolve(self.restore, store=timed, restorer=sampler)
            self._in_time(request, key, "restoring")
            restored = restore.run(request=RestoreFromKey(key=key, options=checks.options(prefix)))
            restored_at = self.clock.now()
            scratch = {ns: ns.removeprefix(prefix) for ns in restored.namespaces}
            if self.after_restore is not None:
                self.after_restore(scratch)
            self._in_time(request, key, "checking")
            walked = report.checked.archive
            assert walked is not None, "a mongodump archive is walked"
            collections = self._check(key, checks, prefix, walked.prelude, sample, sampler.walked)
            finished = self.clock.now()
        finally:
            self._drop(prefix)
        log.info("restore drill passed", extra={"key": key})
        return DrillResult(
            key=key,
            name=manifest.name,
            target_hosts=self.target.hosts,
            scratch_prefix=prefix,
            collections=collections,
            size=manifest.size,
            rto_s=_seconds(finished - started),
            verify_s=_seconds(verified - started),
            restore_s=_seconds(restored_at - verified),
            check_s=_seconds(finished - restored_at),
            seed=seed,
            sample_size=request.sample_size,
            dropped_leftovers=leftovers,
        )

    def _choose(self, request: DrillRequest, seed: int) -> tuple[str, Manifest]:
        if request.key is not None:
            if not self.store.exists(key=request.key):
                raise BackupNotFoundError(
                    f"No backup at {request.key}", details={"key": request.key}
                )
            return request.key, read_manifest(self.store, key=request.key)
        records = self.backups.run(name=request.name)
        if request.random_within_days is None:
            record = latest_complete(records, name=request.name)
        else:
            record = self._random(records, request, seed)
        assert record.manifest is not None
        return record.key, record.manifest

    def _random(
        self, records: list[BackupRecord], request: DrillRequest, seed: int
    ) -> BackupRecord:
        days = request.random_within_days
        assert days is not None
        since = self.clock.now() - timedelta(days=days)
        candidates = [
            r for r in latest_candidates(records) if r.manifest and r.manifest.finished_at >= since
        ]
        if not candidates:
            raise BackupNotFoundError(
                f"No complete backup of set {request.name!r} finished in the last {days:g} days",
                details={"name": request.name, "within_days": days},
            )
        return random.Random(seed).choice(sorted(candidates, key=lambda r: r.key))

    def _refuse_source(self, manifest: Manifest) -> None:
        if self.allow_source:
            return
        source = {h.lower() for h in (*manifest.source.hosts, *self.source_hosts)}
        shared = sorted(h for h in self.target.hosts if h.lower() in source)
        if shared:
            raise ConfigInvalidError(
                [f"the drill target ({', '.join(shared)}) is the backup's own source: a drill "
                 "restores into scratch databases there, but a source is no place for test "
                 "restores; set DRILL_TARGET_URI to another deployment, or DRILL_ALLOW_SOURCE="
                 "true to drill there anyway"]
            )  # fmt: skip

    def _check(
        self,
        key: str,
        checks: _Checks,
        prefix: str,
        prelude: tuple[PreludeEntry, ...],
        sample: DocumentSample,
        walked: list[BaseException | None],
    ) -> tuple[CollectionCheck, ...]:
        problems: list[str] = []
        if not walked or walked[0] is not None:
            why = type(walked[0]).__name__ if walked and walked[0] else "no restore"
            problems.append(f"the sample could not be taken from the restored archive ({why})")
        definitions = {e.namespace: e.index_definitions for e in prelude}
        picks = sample.picks()
        found = []
        for namespace, expected in sorted(checks.counts.items()):
            scratch = prefix + namespace
            count = self.target.count(scratch)
            if count is None:
                problems.append(f"{namespace}: not restored ({expected} documents in the backup)")
                continue
            if count != expected:
                problems.append(
                    f"{namespace}: {count} documents restored, {expected} in the backup"
                )
            indexes = definitions.get(namespace, ())
            problems += _index_problems(namespace, indexes, self.target.index_definitions(scratch))
            sampled = picks.get(namespace, ())
            problems += self._sample_problems(namespace, scratch, sampled)
            found.append(
                CollectionCheck(namespace=namespace, scratch=scratch, documents=count,
                                indexes=len(indexes), sampled=len(sampled))
            )  # fmt: skip
        if problems:
            shown = "; ".join(problems[:_SHOWN_PROBLEMS])
            more = len(problems) - _SHOWN_PROBLEMS
            shown += f" and {more} more" if more > 0 else ""
            raise DrillFailedError(
                f"Restore drill of {key} found {len(problems)} difference(s) between the "
                f"archive and what was restored: {shown}",
                details={"key": key, "problems": problems},
            )  # fmt: skip
        return tuple(found)

    def _sample_problems(
        self, namespace: str, scratch: str, sampled: tuple[SampledDocument, ...]
    ) -> list[str]:
        problems = []
        for document in sampled:
            raw = self.target.find_by_id(scratch, document.id_element)
            shown = describe_id(document.id_element)
            if raw is None:
                problems.append(f"{namespace}: the document with _id {shown} was not restored")
            elif hashlib.sha256(raw).hexdigest() != document.sha256:
                problems.append(
                    f"{namespace}: the document with _id {shown} differs from the archive's"
                )
        return problems

    def _drop(self, prefix: str) -> None:
        try:
            dropped = self.target.drop_databases(prefix=prefix)
        except BackupNimbusError:
            log.error("the drill could not drop its scratch databases; the next drill will",
                      extra={"prefix": prefix})  # fmt: skip
            raise
        log.info("scratch databases dropped", extra={"databases": list(dropped)})

    # -- time -----------------------------------------------------------------------------

    def _in_time(self, request: DrillRequest, key: str, phase: str) -> None:
        if request.deadline is not None and self.clock.now() >= request.deadline:
            raise _out_of_time(key, request.deadline, phase)

    def _timed_store(self, request: DrillRequest, key: str) -> ObjectStore:
        if request.deadline is None:
            return self.store
        deadline = request.deadline

        def check() -> None:
            if self.clock.now() >= deadline:
                raise _out_of_time(key, deadline, "reading the archive")

        return cast(ObjectStore, _DeadlineStore(self.store, check))

    # -- mail -----------------------------------------------------------------------------

    def _mail_success(self, result: DrillResult) -> NotificationOutcome | None:
        if not self.mail_on_success:
            return None
        rows = [
            ("Backup", result.key),
            ("Target", ", ".join(result.target_hosts)),
            ("RTO", f"{result.rto_s:.1f} s ({result.mb_per_s:.2f} MB/s)"),
            ("Collections", str(len(result.collections))),
            ("Documents", str(sum(c.documents for c in result.collections))),
            ("Sampled", f"{sum(c.sampled for c in result.collections)} (seed {result.seed})"),
        ]
        return self._send(f"Restore drill passed: {result.name}", rows)

    def _mail_failure(self, name: str, error: BackupNimbusError) -> NotificationOutcome | None:
        if not self.mail_on_failure:
            return None
        rows = [("Backup set", name), ("Code", error.code), ("Error", error.message)]
        return self._send(f"Restore drill failed: {error.code}", rows)

    def _send(self, subject: str, rows: list[tuple[str, str]]) -> NotificationOutcome:
        text = "\n".join(f"{label}: {value}" for label, value in rows)
        email = Email(
            subject=self.redactor.redact(f"[BackupNimbus] {subject}"),
            text=self.redactor.redact(text),
        )
        try:
            self.mailer.send(email=email)
        except NotificationFailedError as exc:
            log.warning("drill mail not sent", extra={"error": exc.message})
            return NotificationOutcome(sent=False, error=self.redactor.redact(exc.message))
        return NotificationOutcome(sent=True)


class _Checks:
    """What a drill restores of a manifest's namespaces, and what it expects to find."""

    def __init__(self, manifest: Manifest) -> None:
        self.counts = {
            ns: count for ns, count in (manifest.namespaces or {}).items() if _drillable(ns)
        }
        self.databases = sorted({ns.partition(".")[0] for ns in self.counts})

    def options(self, prefix: str) -> RestoreOptions:
        return RestoreOptions(
            ns_include=tuple(f"{_escape(db)}.*" for db in self.databases),
            rename=NamespaceRename(ns_from="$db$.$coll$", ns_to=f"{_escape(prefix)}$db$.$coll$"),
        )


def _drillable(namespace: str) -> bool:
    db, _, collection = namespace.partition(".")
    # The oplog (".oplog") is replayed, not restored; system databases and collections are the
    # server's own, and mongorestore restores them specially or not at all.
    return bool(db) and db not in _SYSTEM_DATABASES and not collection.startswith("system.")


def latest_candidates(records: list[BackupRecord]) -> list[BackupRecord]:
    """The complete backups among `records`."""
    return [r for r in records if r.manifest is not None and r.manifest.complete]


def _escape(literal: str) -> str:
    return literal.replace("\\", "\\\\").replace("*", "\\*")


def _index_problems(
    namespace: str, expected: tuple[str, ...], actual: tuple[str, ...]
) -> list[str]:
    want, have = _indexes(expected), _indexes(actual)
    problems = []
    for name in sorted(want.keys() | have.keys()):
        if name not in have:
            problems.append(f"{namespace}: index {name!r} was not restored")
        elif name not in want:
            problems.append(f"{namespace}: index {name!r} is not in the backup")
        elif want[name] != have[name]:
            problems.append(
                f"{namespace}: index {name!r} is {have[name]} in the target, {want[name]} in "
                "the backup"
            )
    return problems


def _indexes(definitions: tuple[str, ...]) -> dict[str, str]:
    """Index name -> a comparable form: its key in order (the order is the index), its other
    options in any order, without the version and namespace a restore may rewrite."""
    shapes = {}
    for definition in definitions:
        spec: dict[str, Any] = json.loads(definition)
        spec.pop("v", None)
        spec.pop("ns", None)
        key = spec.pop("key", {})
        pairs = list(key.items()) if isinstance(key, dict) else key
        shapes[str(spec.get("name"))] = json.dumps({"key": pairs, **spec}, sort_keys=True)
    return shapes


_ID_SHOWN = {
    0x10: lambda v: str(struct.unpack("<i", v)[0]),
    0x12: lambda v: str(struct.unpack("<q", v)[0]),
    0x07: lambda v: f"ObjectId({v.hex()})",
    0x02: lambda v: json.dumps(v[4:-1].decode("utf-8", "replace")),
}


def describe_id(element: bytes) -> str:
    """A readable form of an `_id` element, for messages."""
    value = element_value(element)
    show = _ID_SHOWN.get(element[0])
    try:
        return show(value) if show else f"<type 0x{element[0]:02x}: {value[:32].hex()}>"
    except (struct.error, ValueError):
        return value[:32].hex()


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 3)


def _out_of_time(key: str, deadline: datetime, phase: str) -> DeadlineExceededError:
    at = iso_time(deadline)
    return DeadlineExceededError(
        f"Out of time: the restore drill of {key} was stopped at its deadline ({at}) while "
        f"{phase}; its scratch databases were dropped",
        details={"key": key, "deadline": at, "phase": phase},
    )


class _DeadlineStore:
    """The store, with every read of an archive checking the deadline first."""

    def __init__(self, inner: ObjectStore, check: Callable[[], None]) -> None:
        self._inner = inner
        self._check = check

    def open_read(self, *, key: str) -> AbstractContextManager[BinaryIO]:
        return self._open(key)

    @contextmanager
    def _open(self, key: str) -> Iterator[BinaryIO]:
        with self._inner.open_read(key=key) as stream:
            yield cast(BinaryIO, _DeadlineReader(stream, self._check))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _DeadlineReader:
    def __init__(self, inner: BinaryIO, check: Callable[[], None]) -> None:
        self._inner = inner
        self._check = check

    def read(self, size: int = -1, /) -> bytes:
        self._check()
        return self._inner.read(size)
