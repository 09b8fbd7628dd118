"""What every entrypoint does first: load the configuration, set up logging, build."""

from __future__ import annotations

import sys
from typing import Any

from backupnimbus.entrypoints.config import Config


def bootstrap(*, require_mongo: bool = True, require_store: bool = True) -> tuple[Config, Any]:
    from backupnimbus.entrypoints.container import build_container, config_from_environment
    from backupnimbus.entrypoints.logging import configure_logging
    from backupnimbus.redaction import Redactor

    config = config_from_environment(require_mongo=require_mongo, require_store=require_store)
    configure_logging(
        level=config.log_level,
        redactor=Redactor(config.secret_values()),
        log_format=config.log_format,
    )
    # Progress bars only for a person watching a terminal; logs and pipes stay clean.
    progress = sys.stderr if sys.stderr.isatty() else None
    return config, build_container(config, progress=progress)
