"""A SecantusDB of its own for fault tests: test commands on, fixed data, fail points.

`--enable-test-commands` lets any client arm a server-wide `failCommand` fail point, so the
fault tests get a server that no other test shares. Its data is made from a fixed seed, so an
archive of it has the same size in every run.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
from bson import Binary
from pymongo import MongoClient

from tests.support.servers import Secantus, start_secantus

# name -> (documents, bytes of random payload each)
DATASETS: Mapping[str, tuple[int, int]] = {
    "tiny": (300, 100),
    "blobs11": (110, 100_000),
    "blobs50": (500, 100_000),
}
CLOSED_CONNECTION = "closeConnection failpoint fired"
HOLD_LISTING: Mapping[str, Any] = {
    "failCommands": ["listDatabases", "listCollections"],
    "blockConnection": True,
    "blockTimeMS": 60_000,
}
"""A fail point that holds mongodump before its first byte: the listing never answers."""


@attrs.define
class FaultDb:
    server: Secantus
    client: MongoClient[dict[str, Any]]
    made: set[str] = attrs.Factory(set)

    @classmethod
    def start(cls, storage: Path) -> FaultDb:
        # DEBUG makes the server log each closeConnection it injects, which the tests count.
        server = start_secantus(storage, "--enable-test-commands", "--log-level", "DEBUG")
        return cls(server=server, client=MongoClient(server.uri))

    def stop(self) -> None:
        self.client.close()
        # Its data is thrown away: killed, it does not spend seconds checkpointing it, nor wait
        # for a command a fail point still blocks.
        self.server.process.kill()
        self.server.process.wait()

    @property
    def uri(self) -> str:
        return self.server.uri

    def dataset(self, name: str) -> str:
        """Creates the named dataset the first time it is asked for; returns its database."""
        if name not in self.made:
            count, size = DATASETS[name]
            rng = random.Random(f"{name}-20250407")
            collection = self.client[name].blobs
            for start in range(0, count, 50):
                collection.insert_many(
                    {"_id": n, "payload": Binary(rng.randbytes(size))}
                    for n in range(start, min(start + 50, count))
                )
            self.made.add(name)
        return name

    @contextlib.contextmanager
    def fail_point(self, *, mode: Any, data: Mapping[str, Any]) -> Iterator[None]:
        admin = self.client.admin
        admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": dict(data)})
        try:
            yield
        finally:
            admin.command({"configureFailPoint": "failCommand", "mode": "off"})

    def closed_connections(self) -> int:
        """How many connections a closeConnection fail point has dropped so far."""
        return self.server.log_path.read_text(errors="replace").count(CLOSED_CONNECTION)
