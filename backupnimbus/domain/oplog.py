"""The oplog section of a `mongodump --oplog` archive: how many entries, and the time span.

mongodump copies the source's oplog entries from its start to its end into the archive, and
`mongorestore --oplogReplay` replays them after the collections: the restored data is then as
it was at the last entry, whatever was written while the dump ran.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import attrs

OPLOG_NAMESPACE = ".oplog"
"""The oplog's namespace in an archive: db "", collection "oplog"."""

_U32_PAIR = struct.Struct("<II")


@attrs.frozen(order=True)
class OplogTimestamp:
    """A BSON timestamp, as the oplog orders its entries."""

    t: int
    """Seconds since the epoch."""
    i: int
    """The entry's ordinal within that second."""

    @classmethod
    def from_bson(cls, value: bytes) -> OplogTimestamp:
        """From the 8 value bytes of a BSON timestamp: the increment, then the seconds."""
        increment, seconds = _U32_PAIR.unpack(value)
        return cls(t=seconds, i=increment)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=UTC)


@attrs.frozen
class OplogWindow:
    """The entries an archive's oplog section holds."""

    entries: int
    first_ts: OplogTimestamp | None = None
    """The earliest entry's `ts`; None when the section is empty."""
    last_ts: OplogTimestamp | None = None
    """The latest entry's `ts`: a replay brings the data to this point."""

    @property
    def consistent_at(self) -> datetime | None:
        """The time a restore with the oplog replayed is consistent to (whole seconds)."""
        return self.last_ts.at if self.last_ts is not None else None
