"""The composition root: the only module that names concrete adapters or reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import punq

from backupnimbus import __version__
from backupnimbus.adapters.clock import SystemClock
from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.cpus import usable_cpus
from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.adapters.retrying import RetryPolicy
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
from backupnimbus.domain.verify_backup import VerifyBackup, VerifyFile
from backupnimbus.entrypoints.config import Config, load_config
from backupnimbus.entrypoints.plugins import PluginRegistry, load_plugins, select_backend
from backupnimbus.ports.archive_restorer import ArchiveRestorer
from backupnimbus.ports.cipher import ArchiveCipher
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.compressor import StreamCompressor
from backupnimbus.ports.dump_runner import DumpRunner
from backupnimbus.ports.health_check import HealthCheck
from backupnimbus.ports.mailer import Mailer
from backupnimbus.ports.object_lock import ObjectLocks
from backupnimbus.ports.object_store import ObjectStore
from backupnimbus.ports.scratch_target import ScratchTarget
from backupnimbus.ports.secret_source import SecretSource
from backupnimbus.redaction import Redactor

PORT_OVERRIDES = ("clock", "dump_runner", "object_store", "retry", "mailer", "archive_restorer")


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


def build_container(
    config: Config, *, progress: TextIO | None = None, **overrides: Any
) -> punq.Container:
    """Wires the use cases for `config`; `overrides` replace ports by name (see PORT_OVERRIDES).

    `progress`: a terminal to show transfer progress on; None keeps quiet.
    """
    unknown = set(overrides) - set(PORT_OVERRIDES)
    if unknown:
        raise TypeError(f"unknown overrides: {sorted(unknown)}")
    container = punq.Container()
    redactor = Redactor(config.secret_values())
    retry = overrides.get("retry") or RetryPolicy()
    container.register(Config, instance=config)
    container.register(Redactor, instance=redactor)
    container.register(RetryPolicy, instance=retry)
    container.register(Clock, instance=overrides.get("clock") or SystemClock())
    _register_port(container, DumpRunner, overrides.get("dump_runner"),
                   lambda: _mongodump(config, redactor, retry))  # fmt: skip
    plugins = load_plugins(PluginRegistry(container))
    storage = select_backend(
        "storage",
        "STORAGE_BACKEND",
        config.storage_backend or ("s3" if config.bucket else "local"),
        {"s3": lambda c: _s3_store(c, retry), "local": _local_store, **plugins.storage_backends},
    )
    # The store itself, unwrapped: the progress bar wraps reads and writes only, not locks.
    _register_port(container, _STORE, overrides.get("object_store"), lambda: storage(config))
    _register_port(container, ObjectStore, None,
                   lambda: _with_progress(container.resolve(_STORE), progress))  # fmt: skip
    container.register(
        _LOCKING, factory=lambda: _locking(config, container.resolve(_STORE)),
        scope=punq.Scope.singleton,
    )  # fmt: skip
    mailer = select_backend(
        "mailer",
        "MAILER_BACKEND",
        config.mailer_backend or ("ses" if config.notifications.enabled else "log"),
        {"ses": lambda c: _ses_mailer(c, redactor, retry), "log": _log_mailer,
         **plugins.mailer_backends},
    )  # fmt: skip
    _register_port(container, Mailer, overrides.get("mailer"), lambda: mailer(config))
    container.register(ArchiveCipher, factory=lambda: _cipher(config), scope=punq.Scope.singleton)
    container.register(StreamCompressor, instance=FastCompressor(threads=usable_cpus()))
    container.register(
        NotifyOutcome,
        factory=lambda: NotifyOutcome(
            mailer=container.resolve(Mailer),
            redactor=redactor,
            # Off means off: no outcome claims a mail was sent when it only reached the log.
            on_success=config.notifications.enabled and config.notifications.on_success,
            on_failure=config.notifications.enabled and config.notifications.on_failure,
        ),
    )
    container.register(SendMessage)
    container.register(
        BackupJob,
        factory=lambda: BackupJob(
            backup=container.resolve(RunBackup),
            notify=container.resolve(NotifyOutcome),
            prune=container.resolve(PruneBackups),
            retention=config.retention,
        ),
    )
    container.register(
        BackupSettings,
        instance=BackupSettings(
            prefix=config.backup_prefix,
            source=config.source_info(),
            tool_version=__version__,
            server_side_encryption=_server_side_encryption(config),
            allow_empty=config.allow_empty_backup,
        ),
    )
    container.register(
        RunBackup,
        factory=lambda: RunBackup(
            dumps=container.resolve(DumpRunner),
            store=container.resolve(ObjectStore),
            clock=container.resolve(Clock),
            settings=container.resolve(BackupSettings),
            compressor=container.resolve(StreamCompressor),
            cipher=container.resolve(ArchiveCipher),
            locking=container.resolve(_LOCKING),
        ),
    )
    container.register(
        ListBackups,
        factory=lambda: ListBackups(
            store=container.resolve(ObjectStore),
            prefix=config.backup_prefix,
            locks=_locks_of(container.resolve(_LOCKING)),
        ),
    )
    container.register(VerifyBackup)
    container.register(VerifyFile)
    _register_port(container, ArchiveRestorer, overrides.get("archive_restorer"),
                   lambda: _mongorestore(config, redactor))  # fmt: skip
    container.register(
        RestoreBackup,
        factory=lambda: RestoreBackup(
            store=container.resolve(ObjectStore),
            backups=container.resolve(ListBackups),
            restorer=container.resolve(ArchiveRestorer),
            compressor=container.resolve(StreamCompressor),
            cipher=container.resolve(ArchiveCipher),
        ),
    )
    container.register(ScratchTarget, factory=lambda: _scratch_target(config, redactor),
                       scope=punq.Scope.singleton)  # fmt: skip
    container.register(
        RestoreDrill,
        factory=lambda: RestoreDrill(
            store=container.resolve(ObjectStore),
            backups=container.resolve(ListBackups),
            verify=container.resolve(VerifyBackup),
            # Its own restorer: a drill writes to DRILL_TARGET_URI, a restore elsewhere.
            restore=RestoreBackup(
                store=container.resolve(ObjectStore),
                backups=container.resolve(ListBackups),
                restorer=overrides.get("archive_restorer")
                or _mongorestore(config, redactor, uri=_drill_uri(config)),
                compressor=container.resolve(StreamCompressor),
                cipher=container.resolve(ArchiveCipher),
            ),
            target=container.resolve(ScratchTarget),
            clock=container.resolve(Clock),
            mailer=container.resolve(Mailer),
            redactor=redactor,
            mail_on_success=config.notifications.enabled and config.notifications.on_success,
            mail_on_failure=config.notifications.enabled and config.notifications.on_failure,
            source_hosts=config.source_info().hosts,
            allow_source=config.drill_allow_source,
        ),
    )
    container.register(
        PruneBackups,
        factory=lambda: PruneBackups(
            list_backups=container.resolve(ListBackups),
            store=container.resolve(ObjectStore),
            clock=container.resolve(Clock),
            locking=container.resolve(_LOCKING),
        ),
    )
    return container


_STORE = "unwrapped_store"
_LOCKING = "locking"
"""Keys of services with no type of their own (punq accepts strings)."""


def locking_of(container: punq.Container) -> Locking | None:
    """The Object Lock policy and the store's locks, or None when backups are not locked."""
    locking: Locking | None = container.resolve(_LOCKING)
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


def _register_port(container: punq.Container, port: Any, override: Any, factory: Any) -> None:
    if override is not None:
        container.register(port, instance=override)
    else:
        container.register(port, factory=factory, scope=punq.Scope.singleton)


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
        checks.append(hc.ObjectLockCheck(locking=lambda: container.resolve(_LOCKING)))
    if config.notifications.enabled and config.notifications.sender:
        ses = _aws_client("ses", config)
        checks.append(hc.SesSenderCheck(client=ses, sender=config.notifications.sender))
    checks.append(hc.MongodumpVersionCheck(dumps=container.resolve(DumpRunner)))
    if config.mongo_uri:
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
