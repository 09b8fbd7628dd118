"""The composition root: the only module that names concrete adapters or reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import punq

from backupnimbus import __version__
from backupnimbus.adapters.clock import SystemClock
from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.domain.backup_job import BackupJob
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.notify_outcome import NotifyOutcome
from backupnimbus.domain.prune_backups import PruneBackups
from backupnimbus.domain.restore_backup import RestoreBackup
from backupnimbus.domain.run_backup import BackupSettings, RunBackup
from backupnimbus.domain.send_message import SendMessage
from backupnimbus.domain.verify_backup import VerifyBackup
from backupnimbus.entrypoints.config import Config, load_config
from backupnimbus.entrypoints.plugins import PluginRegistry, load_plugins, select_backend
from backupnimbus.ports.archive_restorer import ArchiveRestorer
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.dump_runner import DumpRunner
from backupnimbus.ports.mailer import Mailer
from backupnimbus.ports.object_store import ObjectStore
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
    environ: Mapping[str, str] | None = None, *, require_mongo: bool = True
) -> Config:
    environ = read_environment() if environ is None else environ
    return load_config(environ, secrets=Base64EnvSecrets(environ), require_mongo=require_mongo)


def build_container(config: Config, **overrides: Any) -> punq.Container:
    """Wires the use cases for `config`; `overrides` replace ports by name (see PORT_OVERRIDES)."""
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
    _register_port(container, ObjectStore, overrides.get("object_store"),
                   lambda: storage(config))  # fmt: skip
    _register_port(container, Mailer, overrides.get("mailer"),
                   lambda: _mailer(config, redactor, retry))  # fmt: skip
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
            prefix=config.backup_prefix, source=config.source_info(), tool_version=__version__
        ),
    )
    container.register(RunBackup)
    container.register(
        ListBackups,
        factory=lambda: ListBackups(
            store=container.resolve(ObjectStore), prefix=config.backup_prefix
        ),
    )
    container.register(VerifyBackup)
    _register_port(container, ArchiveRestorer, overrides.get("archive_restorer"),
                   lambda: _mongorestore(config, redactor))  # fmt: skip
    container.register(
        RestoreBackup,
        factory=lambda: RestoreBackup(
            store=container.resolve(ObjectStore),
            backups=container.resolve(ListBackups),
            restorer=container.resolve(ArchiveRestorer),
        ),
    )
    container.register(
        PruneBackups,
        factory=lambda: PruneBackups(
            list_backups=container.resolve(ListBackups),
            store=container.resolve(ObjectStore),
            clock=container.resolve(Clock),
        ),
    )
    return container


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
    )


def _mongorestore(config: Config, redactor: Redactor) -> ArchiveRestorer:
    from backupnimbus.adapters.mongorestore import MongorestoreRestorer
    from backupnimbus.errors import UsageInvalidError

    if config.restore_target_uri is None:
        raise UsageInvalidError(["a restore needs --target-uri or RESTORE_TARGET_URI"])
    return MongorestoreRestorer(
        executable=config.mongorestore_path, uri=config.restore_target_uri, redactor=redactor
    )


def _local_store(config: Config) -> ObjectStore:
    from backupnimbus.adapters.local_store import LocalDirectoryStore

    return LocalDirectoryStore(root=Path(config.local_backup_dir))


def _s3_store(config: Config, retry: RetryPolicy) -> ObjectStore:
    from backupnimbus.adapters.s3 import S3ObjectStore
    from backupnimbus.errors import ConfigInvalidError

    if config.bucket is None:
        raise ConfigInvalidError(["STORAGE_BACKEND=s3 needs AWS_S3_BUCKET_NAME"])
    return S3ObjectStore(client=_aws_client("s3", config), bucket=config.bucket, retry=retry)


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


def _mailer(config: Config, redactor: Redactor, retry: RetryPolicy) -> Mailer:
    notifications = config.notifications
    if not notifications.enabled:
        from backupnimbus.adapters.log_mailer import LogMailer

        return LogMailer()
    from backupnimbus.adapters.ses import SesMailer

    assert notifications.sender is not None, "load_config requires a sender when enabled"
    return SesMailer(
        client=_aws_client("ses", config),
        sender=notifications.sender,
        recipients=notifications.recipients,
        retry=retry,
        redactor=redactor,
    )
