from __future__ import annotations

from typing import Protocol


class ScratchTarget(Protocol):
    """The deployment a restore drill restores into, as the drill reads it back."""

    @property
    def hosts(self) -> tuple[str, ...]:
        """host[:port] of each seed (or the SRV name), without credentials."""
        ...

    def drop_databases(self, *, prefix: str) -> tuple[str, ...]:
        """Drops every database whose name starts with `prefix`. Returns: their names."""
        ...

    def count(self, namespace: str) -> int | None:
        """Documents in `namespace` ("db.collection"); None when the collection is absent."""
        ...

    def index_definitions(self, namespace: str) -> tuple[str, ...]:
        """Each index of `namespace` as canonical extended JSON, in the server's order."""
        ...

    def find_by_id(self, namespace: str, id_element: bytes) -> bytes | None:
        """The exact BSON bytes of the document whose `_id` is the value of `id_element` (a
        raw BSON element named `_id`); None when there is none."""
        ...
