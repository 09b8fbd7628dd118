"""Archive formats and the dump backends that write them: a backup is restored only by the
backend of its own format, so one of another format is refused before anything is read, with
the setting that fixes it."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from backupnimbus.errors import ConfigInvalidError, UsageInvalidError
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE

MONGODUMP = "mongodump"
"""The built-in dump backend's name (DUMP_BACKEND unset means it)."""


def _mongodump_only() -> Mapping[str, str]:
    return {MONGODUMP_ARCHIVE: MONGODUMP}


@attrs.frozen
class ArchiveFormats:
    active: str = MONGODUMP_ARCHIVE
    """The configured dump backend's format: the one its restorer reads."""
    backends: Mapping[str, str] = attrs.field(factory=_mongodump_only)
    """Format -> the dump backend (its DUMP_BACKEND name) that writes and restores it, for every
    backend installed."""

    @property
    def active_backend(self) -> str:
        return self.backends.get(self.active, self.active)

    def setting_for(self, archive_format: str) -> str:
        """Returns: what to set so that `archive_format` is the active one."""
        backend = self.backends.get(archive_format)
        if backend is None:
            return (f"no installed dump backend restores {archive_format}: install the plugin "
                    "that wrote it and set DUMP_BACKEND to its name")  # fmt: skip
        if backend == MONGODUMP:
            return f"set DUMP_BACKEND={MONGODUMP} (or leave it unset)"
        return f"set DUMP_BACKEND={backend}"

    def refuse_other(self, archive_format: str, *, key: str) -> None:
        """Raises: ConfigInvalidError when the backup at `key`, of `archive_format`, is not of
        the format the configured restorer reads."""
        if archive_format == self.active:
            return
        raise ConfigInvalidError(
            [f"{key} is a {archive_format} backup, but the configured dump backend "
             f"({self.active_backend}) restores {self.active} archives: "
             f"{self.setting_for(archive_format)} to restore it"]
        )  # fmt: skip

    def local_file_refused(self, path: str, *, command: str, why: str) -> UsageInvalidError:
        """The error for a local file given to `command` (verify, restore) while the configured
        backend writes another format: a local file is only ever checked as a mongodump
        archive, by its own structure and CRCs; another format only a manifest vouches for."""
        return UsageInvalidError(
            [f"--file {path}: {why}. The configured dump backend (DUMP_BACKEND="
             f"{self.active_backend}) writes {self.active} backups, which have no structure to "
             "walk: only their manifest's size and sha256 vouch for them, and a local file has "
             f"no manifest. Use the stored backup instead: {command} KEY or --latest"]
        )  # fmt: skip
