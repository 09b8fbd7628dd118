"""The composition root's rules: what the caller of `bootstrap` passes beats what a plugin
replaces, which beats the configured adapter; and nothing is built before a command asks."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backupnimbus.adapters.local_store import LocalDirectoryStore
from backupnimbus.adapters.memory import (
    FakeClock,
    FakeDumpRunner,
    InMemoryObjectStore,
    RecordingMailer,
)
from backupnimbus.adapters.progress import ProgressStore
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.prune_backups import PruneBackups
from backupnimbus.domain.run_backup import RunBackup
from backupnimbus.domain.send_message import SendMessage
from backupnimbus.domain.verify_backup import VerifyBackup
from backupnimbus.entrypoints import container as composition
from backupnimbus.entrypoints.config import Config, NotificationConfig
from backupnimbus.entrypoints.container import bootstrap
from backupnimbus.entrypoints.plugins import PluginRegistry
from backupnimbus.errors import ConfigInvalidError
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.dump_runner import DumpRunner
from backupnimbus.ports.mailer import Mailer
from backupnimbus.ports.object_store import ObjectStore

MAILING = NotificationConfig(enabled=True, sender="b@example.com", recipients=("ops@example.com",))


def _with_plugin(
    monkeypatch: pytest.MonkeyPatch, register: Callable[[PluginRegistry], Any]
) -> None:
    """Installs one plugin whose register is `register`, as the entry points would."""

    def load_plugins(registry: PluginRegistry) -> tuple[()]:
        register(registry)
        return ()

    monkeypatch.setattr(composition, "load_plugins", load_plugins)


def _local(tmp_path: Path, **settings: Any) -> Config:
    return Config(mongo_uri="mongodb://u:pw@db:27017/", local_backup_dir=str(tmp_path), **settings)


def test_the_configured_store_and_mailer_serve_when_nothing_replaces_them(tmp_path: Path) -> None:
    app = bootstrap(_local(tmp_path))

    backup = app.resolve(RunBackup)

    assert isinstance(backup.store, LocalDirectoryStore)
    assert type(app.resolve(Mailer)).__name__ == "LogMailer"


def test_a_plugin_replacement_beats_the_configured_adapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, mailer, dumps = InMemoryObjectStore(), RecordingMailer(), FakeDumpRunner()

    def register(registry: PluginRegistry) -> None:
        registry.replace(ObjectStore, lambda config: store)
        registry.replace(Mailer, lambda config: mailer)
        registry.replace(DumpRunner, lambda config: dumps)

    _with_plugin(monkeypatch, register)
    app = bootstrap(_local(tmp_path))

    backup = app.resolve(RunBackup)

    assert (backup.store, backup.dumps, app.resolve(SendMessage).mailer) == (store, dumps, mailer)


def test_what_bootstrap_is_given_beats_a_plugin_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def register(registry: PluginRegistry) -> None:
        for port in (ObjectStore, Mailer, DumpRunner):
            registry.replace(port, lambda config: pytest.fail("the given port must win"))
        # A plugin may also register on the container itself, after the core.
        registry.container.register(Clock, instance=FakeClock())

    _with_plugin(monkeypatch, register)
    store, mailer, dumps, clock = (
        InMemoryObjectStore(), RecordingMailer(), FakeDumpRunner(), FakeClock()
    )  # fmt: skip
    app = bootstrap(_local(tmp_path), store=store, mailer=mailer, dump_runner=dumps, clock=clock)

    backup = app.resolve(RunBackup)

    assert (backup.store, backup.dumps, backup.clock) == (store, dumps, clock)
    assert app.resolve(SendMessage).mailer is mailer


def test_a_plugin_registration_on_the_container_beats_the_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    _with_plugin(monkeypatch, lambda registry: registry.container.register(Clock, instance=clock))

    assert bootstrap(_local(tmp_path)).resolve(RunBackup).clock is clock


def test_a_replaced_store_is_built_once_shown_with_progress_and_shared_by_every_use_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[InMemoryObjectStore] = []

    def make_store(config: Config) -> InMemoryObjectStore:
        built.append(InMemoryObjectStore())
        return built[-1]

    _with_plugin(monkeypatch, lambda registry: registry.replace(ObjectStore, make_store))
    app = bootstrap(_local(tmp_path), progress=io.StringIO())

    stores = {id(app.resolve(use_case).store)  # type: ignore[attr-defined]
              for use_case in (RunBackup, ListBackups, VerifyBackup, PruneBackups)}  # fmt: skip

    assert len(built) == 1
    assert len(stores) == 1
    shown = app.resolve(RunBackup).store
    assert isinstance(shown, ProgressStore)
    shown.put_bytes(key="k", data=b"x")
    assert built[0].exists(key="k")


def test_a_replaced_store_is_locked_like_the_configured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = Config(mongo_uri="mongodb://db/", bucket="b", object_lock_mode="GOVERNANCE",
                    object_lock_days=1, object_lock_max_days=2)  # fmt: skip
    assert bootstrap(locked).resolve(RunBackup).locking is not None
    # A plugin's store that cannot lock objects fails a locked backup, as a local one would.
    _with_plugin(monkeypatch, lambda registry: registry.replace(
        ObjectStore, lambda config: LocalDirectoryStore(root=tmp_path)
    ))  # fmt: skip
    app = bootstrap(locked)

    with pytest.raises(ConfigInvalidError) as caught:
        app.resolve(RunBackup)

    assert "S3_OBJECT_LOCK_MODE needs a store that can lock objects" in caught.value.problems[0]


def test_a_command_that_needs_no_store_builds_none_and_cannot_fail_on_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An S3 store with no bucket fails when built; a plugin store that fails is no better.
    config = Config(storage_backend="s3", notifications=MAILING)
    mailer = RecordingMailer()
    _with_plugin(
        monkeypatch,
        lambda registry: registry.replace(ObjectStore, lambda c: pytest.fail("store built")),
    )

    bootstrap(config, mailer=mailer).resolve(SendMessage).send(subject="Hello", message="text")

    assert [email.subject for email in mailer.sent] == ["Hello"]


def test_an_unreplaced_s3_store_without_a_bucket_fails_only_when_a_command_needs_it() -> None:
    app = bootstrap(Config(storage_backend="s3", notifications=MAILING), mailer=RecordingMailer())
    app.resolve(SendMessage)

    with pytest.raises(ConfigInvalidError) as caught:
        app.resolve(ListBackups)

    assert caught.value.problems == ["STORAGE_BACKEND=s3 needs AWS_S3_BUCKET_NAME"]
