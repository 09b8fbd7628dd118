from __future__ import annotations

from collections.abc import Mapping

from backupnimbus.conversion import decode_base64


class Base64EnvSecrets:
    """Reads base64-encoded values from an environment mapping.

    Base64 is a transport encoding kept for compatibility with existing deployments; it hides
    nothing from anyone who can read the environment.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def reveal(self, *, name: str) -> str | None:
        raw = self._environ.get(name)
        if raw is None:
            return None
        return decode_base64(raw, name=name)
