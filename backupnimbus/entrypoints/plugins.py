"""Third-party adapters, found through the `backupnimbus.plugins` entry-point group.

A plugin is a callable that takes a `PluginRegistry`. It adds named backends, which
STORAGE_BACKEND / MAILER_BACKEND select, and may register anything else on the container:

    # in the plugin's pyproject.toml
    [project.entry-points."backupnimbus.plugins"]
    mystore = "mystore.plugin:register"

    # mystore/plugin.py
    def register(registry):
        registry.add_storage_backend("mystore", lambda config: MyStore(...))

The core never changes to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import attrs

from backupnimbus.errors import ConfigInvalidError

GROUP = "backupnimbus.plugins"
BackendFactory = Callable[[Any], Any]
"""Takes the Config, returns the port's implementation."""


@attrs.define
class PluginRegistry:
    container: Any
    """The punq container being built; a plugin may register or replace anything on it."""
    storage_backends: dict[str, BackendFactory] = attrs.Factory(dict)
    mailer_backends: dict[str, BackendFactory] = attrs.Factory(dict)

    def add_storage_backend(self, name: str, factory: BackendFactory) -> None:
        self.storage_backends[name] = factory

    def add_mailer_backend(self, name: str, factory: BackendFactory) -> None:
        self.mailer_backends[name] = factory


def load_plugins(registry: PluginRegistry) -> PluginRegistry:
    """Runs every installed plugin; a broken one is a configuration error that names it."""
    for entry in entry_points(group=GROUP):
        try:
            plugin = entry.load()
            plugin(registry)
        except Exception as exc:  # any failure inside third-party code is reported, not raised
            raise ConfigInvalidError(
                [
                    f"plugin {entry.name!r} ({entry.value}, from "
                    f"{entry.dist.name if entry.dist else 'unknown distribution'}) failed: "
                    f"{type(exc).__name__}: {exc}. Fix or uninstall it."
                ]
            ) from exc
    return registry


def select_backend(
    kind: str, variable: str, wanted: str, backends: dict[str, BackendFactory]
) -> BackendFactory:
    try:
        return backends[wanted]
    except KeyError:
        known = ", ".join(sorted(backends)) or "none"
        raise ConfigInvalidError(
            [f"{variable}={wanted!r} names no installed {kind} backend; known: {known}"]
        ) from None
