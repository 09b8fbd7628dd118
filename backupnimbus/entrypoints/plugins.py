"""Third-party adapters, found through the `backupnimbus.plugins` entry-point group.

An entry point names a module (or any object) with a `register(registry)` function and,
optionally, `initialize(config)` and `close()`; or it names the register function itself:

    # in the plugin's pyproject.toml
    [project.entry-points."backupnimbus.plugins"]
    mystore = "mystore.plugin"

    # mystore/plugin.py
    def register(registry):
        registry.add_storage_backend("mystore", lambda config: MyStore(...))  # STORAGE_BACKEND
        registry.add_dump_backend("mydb", lambda config: MyDumpRunner(...),   # DUMP_BACKEND
                                  archive_format="mydb-dump",
                                  restorer=lambda config: MyRestorer(...))
        registry.replace(Mailer, lambda config: ChatMailer(...))             # any port

    def initialize(config): ...   # after the container is built, before the command runs
    def close(): ...              # when the command ends; after each Lambda invocation

A dump backend is a database source: its DumpRunner streams the dump (BackupNimbus compresses,
encrypts, hashes and stores it), its optional ArchiveRestorer writes a backup back, and it reads
its own settings (environment variables of its own); with DUMP_BACKEND set, no MONGO_URI is
needed. Its `archive_format` is recorded in each manifest: only MONGODUMP_ARCHIVE is walked and
CRC-checked, any other format is checked by size and sha256.

Plugins are loaded after the core registered its ports, so a replacement always wins over
the configured adapter; only what the caller of `bootstrap` passes explicitly beats it.
The core never changes to add one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

import attrs

from backupnimbus.domain.archive_formats import MONGODUMP as MONGODUMP
from backupnimbus.errors import ConfigInvalidError

GROUP = "backupnimbus.plugins"
BackendFactory = Callable[[Any], Any]
"""Takes the Config, returns the port's implementation."""

log = logging.getLogger(__name__)
T = TypeVar("T")


@attrs.frozen
class DumpBackend:
    """A database source: how to dump it, in which format, and how to restore it."""

    name: str
    dump: BackendFactory
    """Takes the Config, returns a DumpRunner."""
    archive_format: str
    """What the dump's bytes are, recorded in every manifest (e.g. "sqlite3-database")."""
    restorer: BackendFactory | None = None
    """Takes the Config, returns an ArchiveRestorer; None: backups are not restored by it."""


@attrs.define
class PluginRegistry:
    """What plugins add: named backends, and replacements of ports, by the port's type."""

    container: Any = None
    """The punq container being built, for services `replace` does not name; registered
    after the core's, so a registration here wins too (an ObjectStore replaced through
    `replace` keeps the progress bar and Object Lock, one registered here does not)."""
    storage_backends: dict[str, BackendFactory] = attrs.Factory(dict)
    mailer_backends: dict[str, BackendFactory] = attrs.Factory(dict)
    dump_backends: dict[str, DumpBackend] = attrs.Factory(dict)
    replacements: dict[Any, BackendFactory] = attrs.Factory(dict)

    def add_storage_backend(self, name: str, factory: BackendFactory) -> None:
        self.storage_backends[name] = factory

    def add_mailer_backend(self, name: str, factory: BackendFactory) -> None:
        self.mailer_backends[name] = factory

    def add_dump_backend(
        self,
        name: str,
        factory: BackendFactory,
        *,
        archive_format: str,
        restorer: BackendFactory | None = None,
    ) -> None:
        """A database source for DUMP_BACKEND=`name`: `factory(config)` makes its DumpRunner,
        `restorer(config)` its ArchiveRestorer. `archive_format` names what the dump streams;
        MONGODUMP_ARCHIVE only for a true mongodump archive, which is then walked."""
        if name == MONGODUMP:
            raise ValueError(f"{MONGODUMP!r} is the built-in dump backend's name")
        if not archive_format:
            raise ValueError("a dump backend declares its archive_format")
        self.dump_backends[name] = DumpBackend(
            name=name, dump=factory, archive_format=archive_format, restorer=restorer
        )

    def replace(self, port: Any, factory: BackendFactory) -> None:
        """`port` (ObjectStore, Mailer, DumpRunner, any service the container holds) is made by
        `factory(config)` instead of the configured adapter, whatever the configuration says."""
        self.replacements[port] = factory


@attrs.frozen
class Plugin:
    """One installed plugin, and what it registered."""

    name: str
    value: str
    distribution: str | None
    version: str | None
    storage_backends: tuple[str, ...]
    mailer_backends: tuple[str, ...]
    replaces: tuple[str, ...]
    dump_backends: tuple[DumpBackend, ...] = ()
    initialize: Callable[[Any], Any] | None = attrs.field(default=None, repr=False)
    close: Callable[[], Any] | None = attrs.field(default=None, repr=False)


def load_plugins(registry: PluginRegistry) -> tuple[Plugin, ...]:
    """Runs every installed plugin's register; a broken one is a configuration error that
    names it."""
    return tuple(_load(entry, registry) for entry in _entry_points())


def _entry_points() -> Iterator[EntryPoint]:
    yield from sorted(entry_points(group=GROUP), key=lambda entry: entry.name)


def _load(entry: EntryPoint, registry: PluginRegistry) -> Plugin:
    before = (set(registry.storage_backends), set(registry.mailer_backends),
              set(registry.replacements), set(registry.dump_backends))  # fmt: skip
    try:
        loaded = entry.load()
        register = getattr(loaded, "register", loaded)
        if not callable(register):
            raise TypeError("the entry point is neither callable nor has a register function")
        register(registry)
    except Exception as exc:  # any failure inside third-party code is reported, not raised
        raise _failed(entry, exc) from exc
    dist = entry.dist
    return Plugin(
        name=entry.name,
        value=entry.value,
        distribution=dist.name if dist else None,
        version=dist.version if dist else None,
        storage_backends=tuple(sorted(set(registry.storage_backends) - before[0])),
        mailer_backends=tuple(sorted(set(registry.mailer_backends) - before[1])),
        dump_backends=tuple(
            registry.dump_backends[name] for name in sorted(set(registry.dump_backends) - before[3])
        ),
        replaces=tuple(sorted(_port_name(port) for port in set(registry.replacements) - before[2])),
        initialize=_hook(loaded, register, "initialize"),
        close=_hook(loaded, register, "close"),
    )


def _hook(loaded: Any, register: Any, name: str) -> Any:
    if loaded is register:  # a bare function: no hooks
        return None
    hook = getattr(loaded, name, None)
    return hook if callable(hook) else None


def _port_name(port: Any) -> str:
    return getattr(port, "__name__", str(port))


def _failed(entry: EntryPoint, exc: BaseException) -> ConfigInvalidError:
    dist = entry.dist.name if entry.dist else "unknown distribution"
    return ConfigInvalidError(
        [f"plugin {entry.name!r} ({entry.value}, from {dist}) failed: "
         f"{type(exc).__name__}: {exc}. Fix or uninstall it."]
    )  # fmt: skip


def initialize_plugins(plugins: tuple[Plugin, ...], config: Any) -> None:
    for plugin in plugins:
        if plugin.initialize is None:
            continue
        try:
            plugin.initialize(config)
        except Exception as exc:
            raise ConfigInvalidError(
                [f"plugin {plugin.name!r} ({plugin.value}, from "
                 f"{plugin.distribution or 'unknown distribution'}) failed to initialize: "
                 f"{type(exc).__name__}: {exc}. Fix or uninstall it."]
            ) from exc  # fmt: skip


def close_plugins(plugins: tuple[Plugin, ...]) -> None:
    """Closes in reverse order; a failing close is logged, never raised: the command's outcome
    is already decided."""
    for plugin in reversed(plugins):
        if plugin.close is None:
            continue
        try:
            plugin.close()
        except Exception as exc:
            log.warning(
                "plugin close failed",
                extra={"plugin": plugin.name, "error": f"{type(exc).__name__}: {exc}"},
            )


def select_backend(kind: str, variable: str, wanted: str, backends: Mapping[str, T]) -> T:
    try:
        return backends[wanted]
    except KeyError:
        known = ", ".join(sorted(backends)) or "none"
        raise ConfigInvalidError(
            [f"{variable}={wanted!r} names no installed {kind} backend; known: {known}"]
        ) from None
