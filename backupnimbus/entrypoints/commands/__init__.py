"""One module per CLI command. Each exposes `register(commands)`, which adds its subparser and
sets `command` (args -> JSON-able document) and `render` (document -> human text) defaults."""

from __future__ import annotations
