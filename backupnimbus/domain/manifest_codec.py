"""The manifest's JSON form. It is the one document the store keeps beside each archive.

Decoding is tolerant of what a newer writer may add (unknown fields are ignored) and strict about
what this reader relies on: a field of the wrong type makes the whole manifest unreadable, which
the callers treat as "cannot vouch for this backup, and must not delete it" rather than a crash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import cattrs

from backupnimbus.conversion import make_converter
from backupnimbus.domain.models import COMPLETE, PARTIAL, Manifest

_STATUSES = (COMPLETE, PARTIAL)


class UnreadableManifestError(ValueError):
    """The bytes are not a manifest this version can read; the message says why."""


def _converter() -> cattrs.Converter:
    # The shared converter (unknown fields ignored), strict about JSON's own types.
    converter = make_converter(strict=True)
    converter.register_structure_hook(datetime, _datetime)
    converter.register_structure_hook_func(lambda t: t == Mapping[str, int], _namespaces)
    return converter


def _datetime(value: Any, _: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"time without a timezone: {value!r}")
    return parsed


def _namespaces(value: Any, _: Any) -> Mapping[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(ns, str) and type(count) is int and count >= 0 for ns, count in value.items()
    ):
        raise TypeError("namespaces must map each namespace to a document count")
    return dict(value)


_CONVERTER = _converter()


def encode_manifest(manifest: Manifest) -> bytes:
    return json.dumps(manifest_document(manifest), indent=2, sort_keys=True).encode() + b"\n"


def manifest_document(manifest: Manifest) -> dict[str, Any]:
    """Every field of the manifest, so a field added to the model is written without code here;
    only the absent ones listed below are left out rather than null."""
    document: dict[str, Any] = _CONVERTER.unstructure(manifest)
    document["duration_s"] = manifest.duration_s
    if manifest.namespaces is None:
        del document["namespaces"]
    # Left out rather than null: a dump without --oplog writes the manifest it always wrote.
    for absent in ("oplog", "consistent_at"):
        if document[absent] is None:
            del document[absent]
    return document


def decode_manifest(data: bytes) -> Manifest:
    """Raises UnreadableManifestError, with the reason, for anything that is not a manifest."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableManifestError(f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise UnreadableManifestError("not a JSON object")
    if document.get("status", COMPLETE) not in _STATUSES:
        raise UnreadableManifestError(f"unknown status {document.get('status')!r}")
    # Written by versions before the format carried them; they were complete by construction.
    document.setdefault("recipients", [])
    document.pop("duration_s", None)
    try:
        manifest = _CONVERTER.structure(document, Manifest)
    except Exception as exc:  # cattrs groups every field's failure; one line is enough here
        raise UnreadableManifestError(_reason(exc)) from None
    if manifest.format_version != 1:
        raise UnreadableManifestError(f"format_version {manifest.format_version} is not 1")
    return manifest


def _reason(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return f"{type(exc).__name__}: {exc}"
