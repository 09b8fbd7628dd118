"""Small, valid mongodump archives for the in-memory fakes: a fake dump must pass the same
archive walk as a real one, or a test would prove nothing about what gets stored."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping

from fastcrc import crc64

from backupnimbus.domain.archive import MAGIC

TERMINATOR = b"\xff\xff\xff\xff"


def archive_head(namespaces: Iterable[str]) -> bytes:
    """The magic, header and prelude of an archive of `namespaces`."""
    out = bytearray(MAGIC)
    header = {"concurrent_collections": 1, "version": "0.1", "server_version": "7.0.0"}
    out += flat_bson({**header, "tool_version": "fake"})
    for namespace in namespaces:
        db, _, collection = namespace.partition(".")
        metadata = {"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}], "options": {}}
        out += flat_bson(
            {
                "db": db,
                "collection": collection,
                "metadata": json.dumps(metadata),
                "size": 0,
                "type": "collection",
            }
        )
    return bytes(out + TERMINATOR)


def segment_head(namespace: str) -> bytes:
    """The header of a run of `namespace`'s documents, which end with TERMINATOR."""
    db, _, collection = namespace.partition(".")
    return flat_bson({"db": db, "collection": collection, "EOF": False, "CRC": (0, "q")})


def end_block(namespace: str, crc: int) -> bytes:
    """`namespace`'s end-of-collection block, with the CRC-64 of all its documents."""
    db, _, collection = namespace.partition(".")
    signed = crc - (1 << 64) if crc >= 1 << 63 else crc
    block = flat_bson({"db": db, "collection": collection, "EOF": True, "CRC": (signed, "q")})
    return block + TERMINATOR


def fake_archive(counts: Mapping[str, int], *, padding: int = 0) -> bytes:
    """An archive holding `counts[ns]` documents in each "db.collection" namespace.

    Args:
        padding: bytes of filler in each document, to make a larger archive.
    """
    out = bytearray(archive_head(counts))
    for namespace, count in counts.items():
        documents = b"".join(flat_bson({"_id": n, "pad": "x" * padding}) for n in range(count))
        if documents:
            out += segment_head(namespace) + documents + TERMINATOR
        out += end_block(namespace, crc64.xz(documents))
    return bytes(out)


def flat_bson(document: Mapping[str, object]) -> bytes:
    """Encodes the flat documents an archive's framing uses: str, bool, int32, (int, "q")."""
    body = bytearray()
    for name, value in document.items():
        key = name.encode() + b"\x00"
        if isinstance(value, bool):
            body += b"\x08" + key + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            body += b"\x10" + key + struct.pack("<i", value)
        elif isinstance(value, tuple):
            body += b"\x12" + key + struct.pack("<q", value[0])
        else:
            text = str(value).encode() + b"\x00"
            body += b"\x02" + key + struct.pack("<i", len(text)) + text
    return struct.pack("<i", len(body) + 5) + bytes(body) + b"\x00"
