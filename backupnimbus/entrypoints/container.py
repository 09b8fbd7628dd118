"""The composition root: the only module that names concrete adapters or reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

import attrs
import punq

from backupnimbus import __version__
from backupnimbus.adapters.clock import SystemClock
from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.domain.archive_formats import ArchiveFormats
from backupnimbus.domain.backup_job import BackupJob
from backupnimbus.domain.check_setup import CheckSetup
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.models import ServerSideEncryption
from backupnimbus.domain.no_encryption import NoEncryption
from backupnimbus.domain.notify_outcome import NotifyOutcome
from backupnimbus.domain.object_lock import Locking, LockPolicy
from backupnimbus.domain.prune_backups import PruneBackups
from backupnimbus.domain.restore_backup import RestoreBackup
from backupnimbus.domain.restore_drill import RestoreDrill
from backupnimbus.domain.run_backup import BackupSettings, RunBackup
from backupnimbus.domain.send_message import SendMessage
from backupnimbus.domain.verify_backup import VerifyBackup
from backupnimbus.entrypoints.config import Config, load_config
from backupnimbus.entrypoints.plugins import (
    MONGODUMP,
    BackendFactory,
    DumpBackend,
    Plugin,
    PluginRegistry,
    close_plugins,
    initialize_plugins,
    load_plugins,
    select_backend,
)
from backupnimbus.ports.archive_restorer import ArchiveRestorer
from backupnimbus.ports.cipher import ArchiveCipher
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.compressor import StreamCompressor
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE, DumpRunner
from backupnimbus.ports.health_check import HealthCheck
from backupnimbus.ports.local_files import LocalFiles
from backupnimbus.ports.mailer import Mailer
from backupnimbus.ports.object_lock import ObjectLocks
from backupnimbus.ports.object_store import ObjectStore
from backupnimbus.ports.scratch_target import ScratchTarget
from backupnimbus.ports.secret_source import SecretSource
from backupnimbus.redaction import Redactor


def read_environment(*, dotenv_path: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """The process environment merged over an optional .env file; the environment wins."""
    merged: dict[str, str] = {}
    if Path(dotenv_path).is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ)
    # `make` builds the tools into a cache directory; use them unless told otherwise.
    tools = merged.get("MONGO_TOOLS_BIN")
    if tools and "MONGODUMP_PATH" not in merged:
        merged["MONGODUMP_PATH"] = str(Path(tools) / "mongodump")
    return merged


def config_from_environment(
    environ: Mapping[str, str] | None = None,
    *,
    require_mongo: bool = True,
    require_store: bool = True,
) -> Config:
    environ = read_environment() if environ is None else environ
    return load_config(
        environ,
        secrets=secret_source(environ),
        require_mongo=require_mongo,
        require_store=require_store,
    )


def secret_source(environ: Mapping[str, str], *, retry: RetryPolicy | None = None) -> SecretSource:
    """base64 values, and `ssm:` / `secretsmanager:` references read through AWS clients that
    are made only when a value holds such a reference."""
    from backupnimbus.adapters.secret_references import PrefixedSecrets

    retry = retry or RetryPolicy()

    def ssm() -> SecretSource:
        from backupnimbus.adapters.ssm_secrets import SsmParameterSecrets

        client = _aws_client("ssm", _reference_access(environ))
        return SsmParameterSecrets(environ=environ, client=client, retry=retry)

    def secretsmanager() -> SecretSource:
        from backupnimbus.adapters.secretsmanager_secrets import SecretsManagerSecrets

        client = _aws_client("secretsmanager", _reference_access(environ))
        return SecretsManagerSecrets(environ=environ, client=client, retry=retry)

    return PrefixedSecrets(
        environ=environ,
        plain=Base64EnvSecrets(environ),
        by_prefix={"ssm:": ssm, "secretsmanager:": secretsmanager},
    )


_ACCESS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME")  # fmt: skip


def _reference_access(environ: Mapping[str, str]) -> Config:
    """The AWS credentials, region and endpoints of `environ`, read exactly as load_config
    reads them (plain in Lambda, base64 elsewhere), for reading the other variables' references.
    Raises ConfigInvalidError when they are unusable."""
    access = {name: value for name, value in environ.items()
              if name in _ACCESS_VARIABLES or name.startswith("AWS_ENDPOINT_URL")}  # fmt: skip
    return load_config(access, secrets=Base64EnvSecrets(access), require_mongo=False)


@attrs.define
class App:
    """A configuration wired to its use cases: the container, the one redactor that masks
    logs, documents and mails alike, and the installed plugins, to close when done."""

    config: Config
    container: punq.Container
    redactor: Redactor
    plugins: tuple[Plugin, ...] = ()
    _open: bool = attrs.field(default=False, init=False)

    def resolve(self, service: type[T]) -> T:
        resolved: T = self.container.resolve(service)
        return resolved

    def open(self) -> None:
        """Runs the plugins' `initialize(config)` hooks, once until the next close."""
        if not self._open:
            initialize_plugins(self.plugins, self.config)
            self._open = True

    def close(self) -> None:
        """Runs the plugins' `close()` hooks; the app may be opened again (a warm Lambda)."""
        if self._open:
            self._open = False
            close_plugins(self.plugins)


def bootstrap(
    config: Config,
    *,
    redactor: Redactor | None = None,
    progress: TextIO | None = None,
    clock: Clock | None = None,
    dump_runner: DumpRunner | None = None,
    store: ObjectStore | None = None,
    mailer: Mailer | None = None,
    archive_restorer: ArchiveRestorer | None = None,
    retry: RetryPolicy | None = None,
) -> App:
    """The composition root: wires the use cases for `config`, loads the plugins last (so that
    they can replace any port), then applies the ports given here, which win over both.

    Args:
        redactor: the one redactor of this run (default: one for `config`'s secrets).
        progress: a terminal to show transfer progress on; None keeps quiet.
    """
    redactor = redactor or Redactor(config.secret_values())
    retry = retry or RetryPolicy()
    container = punq.Container()
    container.register(Config, instance=config)
    container.register(Redactor, instance=redactor)
    container.register(RetryPolicy, instance=retry)
    container.register(Clock, instance=SystemClock())
    registry = PluginRegistry(container=container)
    builtin_stores = {"s3": lambda c: _s3_store(c, retry), "local": _local_store}
    builtin_mailers = {"ses": lambda c: _ses_mailer(c, redactor, retry), "log": _log_mailer}
    # The adapters: punq calls each factory with the keyword arguments given here, when the
    # service is first resolved (so after the plugins are loaded, and never for a command
    # that does not need it: one that needs no store builds none, or fails on none).
    once = punq.Scope.singleton
    # fmt: off
    container.register(DumpRunner, factory=_dump_runner, scope=once,
                       config=config, registry=registry, redactor=redactor, retry=retry)
    container.register(_STORE, factory=_store, scope=once,
                       config=config, registry=registry, builtin=builtin_stores)
    container.register(Mailer, factory=_mailer, scope=once,
                       config=config, registry=registry, builtin=builtin_mailers)
    container.register(ArchiveCipher, factory=_cipher, scope=once, config=config)
    container.register(StreamCompressor, factory=_compressor, scope=once)
    container.register(ArchiveRestorer, factory=_restorer, scope=once,
                       config=config, registry=registry, redactor=redactor)
    container.register(LocalFiles, factory=_local_files)
    container.register(ArchiveFormats, factory=_archive_formats, scope=once,
                       config=config, registry=registry)
    container.register(ScratchTarget, factory=_scratch_target, scope=once,
                       config=config, redactor=redactor)
    container.register(BackupSettings, factory=_backup_settings, config=config, registry=registry)
    # Closures, for the services made from another service: punq fills a class's __init__
    # from the container, but gives a function factory only the arguments registered with it,
    # so these ask the container themselves, as lazily.
    # The progress bar wraps reads and writes only; locks go to the store itself.
    container.register(ObjectStore, scope=once,
                       factory=lambda: _with_progress(container.resolve(_STORE), progress))
    container.register(OptionalLocking, scope=once,
                       factory=lambda: _locking(config, container.resolve(_STORE)))
    container.register(OptionalLocks, scope=once,
                       factory=lambda: _locks_of(container.resolve(OptionalLocking)))
    # fmt: on

    # The use cases: punq fills each one's ports by their annotations.
    mail = config.notifications
    container.register(RunBackup)
    container.register(ListBackups, prefix=config.backup_prefix)
    container.register(PruneBackups)
    # Off means off: no outcome claims a mail was sent when it only reached the log.
    on_success = mail.enabled and mail.on_success
    on_failure = mail.enabled and mail.on_failure
    container.register(
        NotifyOutcome, on_success=on_success, on_failure=on_failure, store=_store_name(config)
    )
    container.register(BackupJob, retention=config.retention)
    container.register(SendMessage)
    container.register(VerifyBackup)
    container.register(RestoreBackup)
    # A closure: the drill restores through a RestoreBackup of its own (its restorer writes to
    # DRILL_TARGET_URI, a restore's elsewhere), which one registration per type cannot hold.
    # punq still fills every other port of both by annotation.
    container.register(RestoreDrill, factory=lambda: container.instantiate(
        RestoreDrill,
        restore=container.instantiate(
            RestoreBackup, restorer=_drill_restorer(config, redactor, given=archive_restorer)
        ),
        mail_on_success=on_success,
        mail_on_failure=on_failure,
        source_hosts=config.source_info().hosts,
        allow_source=config.drill_allow_source,
    ))  # fmt: skip

    plugins = load_plugins(registry)
    # Named now, with the plugins' names known: a backend that does not exist fails every
    # command, not only those that reach the store or the mailer.
    _select_store(config, registry, builtin_stores)
    _select_mailer(config, registry, builtin_mailers)
    _select_dump(config, registry)
    # Registered after the core's, so they win (punq resolves a key's last registration).
    for port, factory in registry.replacements.items():
        # A store replaced by a plugin is still wrapped (progress) and locked like a built-in.
        key = _STORE if port is ObjectStore else port
        # A closure: a plugin's factory takes the config positionally, and must not have its
        # own parameters filled by punq (as a class given as the factory would).
        container.register(key, factory=lambda factory=factory: factory(config), scope=once)

    # Last of all, so they win over both.
    given: dict[Any, object | None] = {
        Clock: clock, DumpRunner: dump_runner, _STORE: store, Mailer: mailer,
        ArchiveRestorer: archive_restorer,
    }  # fmt: skip
    for key, port in given.items():
        if port is not None:
            container.register(key, instance=port)
    app = App(config=config, container=container, redactor=redactor, plugins=plugins)
    app.open()
    return app


T = TypeVar("T")

OptionalLocking = Locking | None
OptionalLocks = ObjectLocks | None
"""Keys of the Object Lock services, as the use cases annotate them: None when not locked."""

_STORE = "unwrapped_store"
"""The store as configured (or replaced), before the progress bar wraps it."""


def locking_of(container: punq.Container) -> Locking | None:
    """The Object Lock policy and the store's locks, or None when backups are not locked."""
    locking: Locking | None = container.resolve(OptionalLocking)
    return locking


def _locking(config: Config, store: ObjectStore) -> Locking | None:
    from backupnimbus.errors import ConfigInvalidError

    if config.object_lock_mode is None:
        return None
    if not isinstance(store, ObjectLocks):
        backend = config.storage_backend or ("s3" if config.bucket else "local")
        raise ConfigInvalidError(
            [f"S3_OBJECT_LOCK_MODE needs a store that can lock objects (S3 with Object Lock); "
             f"the {backend} store cannot: use STORAGE_BACKEND=s3 or set S3_OBJECT_LOCK_MODE=off"]
        )  # fmt: skip
    policy = LockPolicy(
        mode=config.object_lock_mode,
        days=config.object_lock_days,
        max_days=config.object_lock_max_days,
    )
    return Locking(policy=policy, locks=store)


def _locks_of(locking: Locking | None) -> ObjectLocks | None:
    return locking.locks if locking is not None else None


def _store_name(config: Config) -> str:
    from backupnimbus.entrypoints.documents import store_document

    store = store_document(config)
    return f"{store['backend']} {store['location']}"


def _select_store(
    config: Config, registry: PluginRegistry, builtin: dict[str, BackendFactory]
) -> BackendFactory:
    wanted = config.storage_backend or ("s3" if config.bucket else "local")
    stores = {**builtin, **registry.storage_backends}
    return select_backend("storage", "STORAGE_BACKEND", wanted, stores)


def _select_mailer(
    config: Config, registry: PluginRegistry, builtin: dict[str, BackendFactory]
) -> BackendFactory:
    wanted = config.mailer_backend or ("ses" if config.notifications.enabled else "log")
    mailers = {**builtin, **registry.mailer_backends}
    return select_backend("mailer", "MAILER_BACKEND", wanted, mailers)


def _store(
    config: Config, registry: PluginRegistry, builtin: dict[str, BackendFactory]
) -> ObjectStore:
    """The store STORAGE_BACKEND names (a built-in or a plugin's), before any wrapping."""
    store: ObjectStore = _select_store(config, registry, builtin)(config)
    return store


def _mailer(config: Config, registry: PluginRegistry, builtin: dict[str, BackendFactory]) -> Mailer:
    mailer: Mailer = _select_mailer(config, registry, builtin)(config)
    return mailer


def _select_dump(config: Config, registry: PluginRegistry) -> DumpBackend | None:
    """The plugin's dump backend DUMP_BACKEND names; None for the built-in mongodump."""
    wanted = config.dump_backend or MONGODUMP
    if wanted == MONGODUMP:
        return None
    known: dict[str, DumpBackend | None] = {MONGODUMP: None, **registry.dump_backends}
    return select_backend("dump", "DUMP_BACKEND", wanted, known)


def _dump_runner(
    config: Config, registry: PluginRegistry, redactor: Redactor, retry: RetryPolicy
) -> DumpRunner:
    backend = _select_dump(config, registry)
    if backend is None:
        return _mongodump(config, redactor, retry)
    runner: DumpRunner = backend.dump(config)
    return runner


def _backup_settings(config: Config, registry: PluginRegistry) -> BackupSettings:
    return BackupSettings(
        prefix=config.backup_prefix,
        source=config.source_info(),
        tool_version=__version__,
        server_side_encryption=_server_side_encryption(config),
        allow_empty=config.allow_empty_backup,
        archive_format=_archive_format(config, registry),
    )


def _archive_format(config: Config, registry: PluginRegistry) -> str:
    backend = _select_dump(config, registry)
    return MONGODUMP_ARCHIVE if backend is None else backend.archive_format


def _archive_formats(config: Config, registry: PluginRegistry) -> ArchiveFormats:
    """The configured backend's format, and which installed backend restores each format."""
    written_by = {b.archive_format: b.name for b in registry.dump_backends.values()}
    return ArchiveFormats(
        active=_archive_format(config, registry),
        backends={**written_by, MONGODUMP_ARCHIVE: MONGODUMP},
    )


def _restorer(config: Config, registry: PluginRegistry, redactor: Redactor) -> ArchiveRestorer:
    from backupnimbus.errors import UsageInvalidError

    backend = _select_dump(config, registry)
    if backend is None:
        return _mongorestore(config, redactor)
    if backend.restorer is None:
        raise UsageInvalidError(
            [f"DUMP_BACKEND={backend.name} has no restorer: its plugin restores nothing"]
        )
    restorer: ArchiveRestorer = backend.restorer(config)
    return restorer


def _drill_restorer(
    config: Config, redactor: Redactor, *, given: ArchiveRestorer | None
) -> ArchiveRestorer:
    """Drills restore mongodump archives into scratch MongoDB databases, nothing else: the
    restorer `given` to bootstrap, or mongorestore into the drill's target.

    Raises UsageInvalidError for a plugin's source, or without a drill target."""
    from backupnimbus.errors import UsageInvalidError

    if (config.dump_backend or MONGODUMP) != MONGODUMP:
        raise UsageInvalidError(
            [f"restore drills need mongodump archives; DUMP_BACKEND={config.dump_backend} "
             "backups are checked with verify and restore instead"]
        )  # fmt: skip
    return given or _mongorestore(config, redactor, uri=_drill_uri(config))


def _mongodump(config: Config, redactor: Redactor, retry: RetryPolicy) -> DumpRunner:
    from backupnimbus.adapters.mongodump import MongodumpRunner

    assert config.mongo_uri is not None, "load_config requires MONGO_URI for backups"
    return MongodumpRunner(
        executable=config.mongodump_path,
        uri=config.mongo_uri,
        ns_include=config.ns_include,
        ns_exclude=config.ns_exclude,
        redactor=redactor,
        retry=retry,
        connect_timeout_s=config.mongo_connect_timeout_s,
        oplog=config.mongodump_oplog,
    )


def _mongorestore(config: Config, redactor: Redactor, *, uri: str | None = None) -> ArchiveRestorer:
    from backupnimbus.adapters.mongorestore import MongorestoreRestorer
    from backupnimbus.errors import UsageInvalidError

    uri = uri or config.restore_target_uri
    if uri is None:
        raise UsageInvalidError(["a restore needs --target-uri or RESTORE_TARGET_URI"])
    return MongorestoreRestorer(
        executable=config.mongorestore_path, uri=uri, redactor=redactor,
        dump_executable=config.mongodump_path,
    )  # fmt: skip


def _scratch_target(config: Config, redactor: Redactor) -> ScratchTarget:
    from backupnimbus.adapters.mongo_scratch import MongoScratchTarget

    return MongoScratchTarget(uri=_drill_uri(config), redactor=redactor)


def _drill_uri(config: Config) -> str:
    from backupnimbus.errors import UsageInvalidError

    uri = config.drill_target_uri or config.restore_target_uri
    if uri is None:
        raise UsageInvalidError(
            ["a restore drill needs a target: set DRILL_TARGET_URI (or RESTORE_TARGET_URI) to "
             "the base64-encoded mongodb:// URI of a deployment it may write scratch databases to"]
        )  # fmt: skip
    return uri


def _with_progress(store: ObjectStore, out: TextIO | None) -> ObjectStore:
    if out is None:
        return store
    from backupnimbus.adapters.progress import ProgressStore

    return ProgressStore(inner=store, out=out)


def _local_files() -> LocalFiles:
    from backupnimbus.adapters.local_files import FileSystemFiles

    return FileSystemFiles()


def _local_store(config: Config) -> ObjectStore:
    from backupnimbus.adapters.local_store import LocalDirectoryStore

    return LocalDirectoryStore(root=Path(config.local_backup_dir))


def _s3_store(config: Config, retry: RetryPolicy) -> ObjectStore:
    from backupnimbus.adapters.s3 import S3ObjectStore
    from backupnimbus.errors import ConfigInvalidError

    if config.bucket is None:
        raise ConfigInvalidError(["STORAGE_BACKEND=s3 needs AWS_S3_BUCKET_NAME"])
    return S3ObjectStore(
        client=_aws_client("s3", config), bucket=config.bucket, retry=retry,
        sse=config.s3_sse, sse_kms_key_id=config.s3_kms_key_id,
    )  # fmt: skip


def _cipher(config: Config) -> ArchiveCipher:
    if not config.age_recipients and not config.age_identities:
        return NoEncryption()
    from backupnimbus.adapters.age_cipher import AgeCipher

    return AgeCipher(recipients=config.age_recipients, identities=config.age_identities)


def _server_side_encryption(config: Config) -> ServerSideEncryption | None:
    # Only the S3 store is asked for it, so only its backups record it.
    backend = config.storage_backend or ("s3" if config.bucket else "local")
    if config.s3_sse is None or backend != "s3":
        return None
    return ServerSideEncryption(algorithm=config.s3_sse, kms_key_id=config.s3_kms_key_id)


def _aws_client(service: str, config: Config) -> Any:
    # Imported here: boto3 costs ~0.3 s to import, which a local run or a cold start may not need.
    import boto3
    from botocore.config import Config as BotoConfig

    session = boto3.session.Session(
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key=config.aws_secret_access_key,
        aws_session_token=config.aws_session_token,
        region_name=config.aws_region or "us-east-1",
    )
    # Retries are ours (tenacity, logged per attempt), so botocore makes a single attempt.
    tuning = BotoConfig(
        retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60,
        max_pool_connections=16,
    )  # fmt: skip
    endpoint = config.endpoint_for(service)
    return session.client(service, config=tuning, endpoint_url=endpoint)  # type: ignore[call-overload]


def _log_mailer(config: Config) -> Mailer:
    from backupnimbus.adapters.log_mailer import LogMailer

    return LogMailer()


def _ses_mailer(config: Config, redactor: Redactor, retry: RetryPolicy) -> Mailer:
    from backupnimbus.adapters.ses import SesMailer
    from backupnimbus.errors import ConfigInvalidError

    notifications = config.notifications
    if notifications.sender is None:
        raise ConfigInvalidError(["MAILER_BACKEND=ses needs NOTIFICATION_SENDER_EMAIL"])
    return SesMailer(
        client=_aws_client("ses", config),
        sender=notifications.sender,
        recipients=notifications.recipients,
        retry=retry,
        redactor=redactor,
    )


def build_setup_check(container: punq.Container, *, timeout_s: float) -> CheckSetup:
    """The read-only checks `backupnimbus check` runs for this configuration."""
    from backupnimbus.adapters import health_checks as hc

    config: Config = container.resolve(Config)
    checks: list[HealthCheck] = []
    backend = config.storage_backend or ("s3" if config.bucket else "local")
    if backend == "s3" and config.bucket:
        checks.append(
            hc.S3BucketCheck(
                client=_aws_client("s3", config), bucket=config.bucket, prefix=config.backup_prefix
            )
        )
    elif backend == "local":
        checks.append(hc.LocalDirectoryCheck(root=Path(config.local_backup_dir)))
    else:
        store = container.resolve(ObjectStore)
        checks.append(hc.StoreListingCheck(store=store, prefix=config.backup_prefix,
                                           description=f"{backend} store"))  # fmt: skip
    if config.object_lock_mode is not None:
        checks.append(hc.ObjectLockCheck(locking=lambda: container.resolve(OptionalLocking)))
    if config.notifications.enabled and config.notifications.sender:
        ses = _aws_client("ses", config)
        checks.append(hc.SesSenderCheck(client=ses, sender=config.notifications.sender))
    if (config.dump_backend or MONGODUMP) != MONGODUMP:
        # A plugin's source: its runner is built (reading its settings) and names its tool.
        checks.append(hc.DumpBackendCheck(backend=str(config.dump_backend),
                                          dumps=lambda: container.resolve(DumpRunner)))  # fmt: skip
    else:
        checks.append(hc.MongodumpVersionCheck(dumps=container.resolve(DumpRunner)))
    if config.mongo_uri and (config.dump_backend or MONGODUMP) == MONGODUMP:
        checks.append(
            hc.MongoConnectionCheck(
                executable=config.mongodump_path,
                uri=config.mongo_uri,
                redactor=container.resolve(Redactor),
                timeout_s=timeout_s,
                hosts=",".join(config.source_info().hosts),
            )
        )
    return CheckSetup(checks=tuple(checks))


def _compressor() -> StreamCompressor:
    # Imported when first resolved: isal and zstandard are not for a cold start that only
    # verifies or prunes.
    from backupnimbus.adapters.compression import FastCompressor
    from backupnimbus.adapters.cpus import usable_cpus

    return FastCompressor(threads=usable_cpus())
