"""ScratchTarget on pymongo: reads back what a drill restored, and drops it."""

from __future__ import annotations

import json
from typing import Any

from backupnimbus.adapters.mongorestore import target_hosts
from backupnimbus.domain.bson_elements import single_field_document
from backupnimbus.errors import RestoreFailedError
from backupnimbus.redaction import Redactor

_TIMEOUT_MS = 20_000


class MongoScratchTarget:
    def __init__(self, *, uri: str, redactor: Redactor) -> None:
        self._uri = uri
        self._redactor = redactor
        self._client: Any = None
        self.hosts = target_hosts(uri)

    def drop_databases(self, *, prefix: str) -> tuple[str, ...]:
        client = self._connect()
        names = tuple(n for n in self._call(client.list_database_names) if n.startswith(prefix))
        for name in names:
            self._call(client.drop_database, name)
        return names

    def count(self, namespace: str) -> int | None:
        database, collection = self._collection(namespace)
        if collection.name not in self._call(database.list_collection_names):
            return None
        return int(self._call(collection.count_documents, {}))

    def index_definitions(self, namespace: str) -> tuple[str, ...]:
        from bson import json_util

        _, collection = self._collection(namespace)
        options = json_util.CANONICAL_JSON_OPTIONS
        specs = self._call(lambda: list(collection.list_indexes()))
        return tuple(
            json.dumps(json.loads(json_util.dumps(s, json_options=options))) for s in specs
        )

    def find_by_id(self, namespace: str, id_element: bytes) -> bytes | None:
        from bson.codec_options import CodecOptions
        from bson.raw_bson import RawBSONDocument

        _, collection = self._collection(namespace)
        raw = collection.with_options(codec_options=CodecOptions(document_class=RawBSONDocument))
        found = self._call(raw.find_one, RawBSONDocument(single_field_document(id_element)))
        return None if found is None else bytes(found.raw)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _collection(self, namespace: str) -> tuple[Any, Any]:
        db, _, name = namespace.partition(".")
        database = self._connect()[db]
        return database, database[name]

    def _connect(self) -> Any:
        if self._client is None:
            from pymongo import MongoClient

            self._client = MongoClient(
                self._uri, serverSelectionTimeoutMS=_TIMEOUT_MS, connectTimeoutMS=_TIMEOUT_MS,
                appname="backupnimbus-drill",
            )  # fmt: skip
        return self._client

    def _call(self, function: Any, *args: Any) -> Any:
        from pymongo.errors import PyMongoError

        try:
            return function(*args)
        except PyMongoError as exc:
            # The driver's text may quote the URI; only the redacted form leaves.
            message = self._redactor.redact(str(exc))[:500]
            raise RestoreFailedError(
                f"The drill target failed: {type(exc).__name__}: {message}",
                details={"target_hosts": list(self.hosts)},
            ) from None
