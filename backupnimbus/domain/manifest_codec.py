"""The manifest's JSON form. It is the one document the store keeps beside each archive."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from backupnimbus.domain.models import Manifest, ServerSideEncryption, SourceInfo


def encode_manifest(manifest: Manifest) -> bytes:
    return json.dumps(manifest_document(manifest), indent=2, sort_keys=True).encode() + b"\n"


def manifest_document(manifest: Manifest) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format_version": manifest.format_version,
        "name": manifest.name,
        "key": manifest.key,
        "size": manifest.size,
        "sha256": manifest.sha256,
        "compressed": manifest.compressed,
        "encrypted": manifest.encrypted,
        "started_at": _iso(manifest.started_at),
        "finished_at": _iso(manifest.finished_at),
        "duration_s": manifest.duration_s,
        "mongodump_version": manifest.mongodump_version,
        "tool_version": manifest.tool_version,
        "source": {"hosts": list(manifest.source.hosts), "database": manifest.source.database},
        "recipients": list(manifest.recipients),
        "server_side_encryption": _sse_document(manifest.server_side_encryption),
    }
    if manifest.namespaces is not None:
        document["namespaces"] = dict(manifest.namespaces)
    return document


def decode_manifest(data: bytes) -> Manifest:
    """Raises ValueError (or KeyError/TypeError) on a document that is not a manifest."""
    document = json.loads(data)
    source = document["source"]
    return Manifest(
        name=document["name"],
        key=document["key"],
        size=int(document["size"]),
        sha256=str(document["sha256"]),
        compressed=bool(document["compressed"]),
        encrypted=bool(document["encrypted"]),
        started_at=datetime.fromisoformat(document["started_at"]),
        finished_at=datetime.fromisoformat(document["finished_at"]),
        mongodump_version=document["mongodump_version"],
        tool_version=document["tool_version"],
        source=SourceInfo(hosts=tuple(source["hosts"]), database=source.get("database")),
        namespaces=document.get("namespaces"),
        format_version=int(document["format_version"]),
        # Absent from the manifests of backups made before encryption existed.
        recipients=tuple(str(r) for r in document.get("recipients") or ()),
        server_side_encryption=_sse(document.get("server_side_encryption")),
    )


def _sse_document(sse: ServerSideEncryption | None) -> dict[str, Any] | None:
    if sse is None:
        return None
    return {"algorithm": sse.algorithm, "kms_key_id": sse.kms_key_id}


def _sse(document: dict[str, Any] | None) -> ServerSideEncryption | None:
    if document is None:
        return None
    return ServerSideEncryption(
        algorithm=str(document["algorithm"]), kms_key_id=document.get("kms_key_id")
    )


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
