"""A collection that holds every BSON type, with the edge values restores tend to break."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

from bson import (
    Binary,
    Code,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
)
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.database import Database

RAW = CodecOptions(document_class=RawBSONDocument)


def every_type_documents() -> list[dict[str, Any]]:
    return [
        {"_id": 1, "decimal": Decimal128("-1234567890.123456789E-10"),
         "decimal_nan": Decimal128("NaN")},
        {"_id": 2, "bin0": Binary(b"\x00\x01\xff", 0), "bin4": Binary(uuid.UUID(int=7).bytes, 4),
         "bin128": Binary(b"user-defined", 128)},
        {"_id": 3, "ts": Timestamp(1_700_000_000, 42), "regex": Regex("^a.*b$", "imsux")},
        {"_id": 4, "min": MinKey(), "max": MaxKey(), "code": Code("function () { return 1; }")},
        {"_id": 5, "int64": Int64(-(2**63)), "int32": -(2**31), "int32_max": 2**31 - 1},
        {"_id": 6, "before_1970": dt.datetime(1969, 7, 20, 20, 17, 40, 123000),
         "epoch": dt.datetime(1970, 1, 1)},
        {"_id": 7, "oid": ObjectId("5f2b6c8e9d1e4a3b2c1d0e0f"),
         "nested": [[1, [2, [3, []]]], {"a": [{"b": []}]}]},
        {"_id": 8, "empty_doc": {}, "empty_array": [], "nul": "before\x00after"},
        {"_id": 9, "unicode": "Grüße, 世界, emoji 🐘, rtl עברית", "neg_zero": -0.0,
         "nan": math.nan, "inf": math.inf},
        {"_id": ObjectId(), "bool": True, "null": None, "double": 1.0e308},
    ]  # fmt: skip


def seed_every_type(db: Database[Any]) -> None:
    db.every_type.insert_many(every_type_documents())
    db.every_type.create_index([("int32", ASCENDING)], name="int32_unique", unique=True,
                               partialFilterExpression={"int32": {"$exists": True}})  # fmt: skip
    db.every_type.create_index(
        [("unicode", ASCENDING)],
        name="unicode_partial",
        partialFilterExpression={"unicode": {"$exists": True}},
    )
    db.create_collection("capped_log", capped=True, size=65536, max=100)
    db.capped_log.insert_many({"n": n, "line": f"event {n}"} for n in range(50))
    db.people.insert_many({"_id": n, "email": f"p{n}@example.com"} for n in range(300))
    db.people.create_index("email", unique=True, name="email_unique")


def raw_documents(db: Database[Any], collection: str) -> list[bytes]:
    """Every document's exact bytes, in _id order."""
    coll = db.get_collection(collection, codec_options=RAW)
    return sorted(doc.raw for doc in coll.find())


def index_specs(db: Database[Any], collection: str) -> dict[str, dict[str, Any]]:
    """Index name -> options, without the fields a restore may legitimately rewrite."""
    specs = db[collection].index_information()
    return {
        name: {k: v for k, v in spec.items() if k not in {"ns", "v"}}
        for name, spec in specs.items()
    }
