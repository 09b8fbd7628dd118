"""What a CLI command does first: load the configuration, set up logging, build; and last:
close what it built."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

import attrs

from backupnimbus.redaction import Redactor

if TYPE_CHECKING:
    import punq

    from backupnimbus.entrypoints.config import Config
    from backupnimbus.entrypoints.container import App


@attrs.define
class Session:
    """One command's run: the app it built, whose redactor also masks what the CLI prints."""

    progress: TextIO | None = None
    """A terminal to show transfer progress on; None keeps quiet."""
    app: App | None = None

    @classmethod
    def for_terminal(cls) -> Session:
        # Progress bars only for a person watching a terminal; logs and pipes stay clean.
        return cls(progress=sys.stderr if sys.stderr.isatty() else None)

    def start(
        self,
        *,
        require_mongo: bool = True,
        require_store: bool = True,
        restore_target_uri: str | None = None,
    ) -> tuple[Config, punq.Container]:
        """Loads the configuration (with `restore_target_uri` in place of RESTORE_TARGET_URI
        when given), logs through its redactor, and builds the app."""
        from backupnimbus.entrypoints.container import bootstrap, config_from_environment
        from backupnimbus.entrypoints.logging import configure_logging

        config = config_from_environment(require_mongo=require_mongo, require_store=require_store)
        if restore_target_uri is not None:
            config = attrs.evolve(config, restore_target_uri=restore_target_uri)
        redactor = Redactor(config.secret_values())
        configure_logging(level=config.log_level, redactor=redactor, log_format=config.log_format)
        self.app = bootstrap(config, redactor=redactor, progress=self.progress)
        return config, self.app.container

    @property
    def redactor(self) -> Redactor:
        """The configured secrets once the configuration is loaded, URI passwords always."""
        return self.app.redactor if self.app is not None else Redactor()

    def close(self) -> None:
        if self.app is not None:
            self.app.close()
