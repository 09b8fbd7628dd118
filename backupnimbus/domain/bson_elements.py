"""BSON at the level of bytes: the document walk, the flat control-document parser, and
finding one top-level field, all without decoding what the caller does not need.

The archive reader (archive.py holds its grammar) never decodes documents: it skips them by
their int32 lengths and parses only its small control documents. A drill's sample needs each
sampled document's `_id`, and the oplog's window each entry's `ts`, as the exact bytes the
document holds.
"""

from __future__ import annotations

import struct
from typing import Any

_I32 = struct.Struct("<i")
MAX_BSON_SIZE = 16 * 1024 * 1024 + 16 * 1024
"""mongo-tools' limit: the server's 16 MiB plus room for the command around a document."""
_FIXED = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8,
          0x13: 16, 0x7F: 0, 0xFF: 0}  # fmt: skip
_LENGTH_PREFIXED = {0x02: 4, 0x0D: 4, 0x0E: 4, 0x03: 0, 0x04: 0, 0x0F: 0}
"""Type -> bytes the int32 length leaves out (strings count their bytes after the length;
documents, arrays and code-with-scope count themselves)."""


class BsonShapeError(ValueError):
    """The bytes are not a well-formed BSON document."""


def find_element(document: bytes | memoryview, name: str) -> bytes | None:
    """Returns: the whole element (type byte, name, value) of the top-level field `name`, or
    None when the document has no such field.

    Raises: BsonShapeError when the document is malformed before the field is found."""
    data = bytes(document)
    wanted = name.encode()
    pos, end = 4, len(data) - 1
    try:
        while pos < end:
            start = pos
            kind = data[pos]
            name_end = data.index(b"\x00", pos + 1)
            field = data[pos + 1 : name_end]
            pos = _value_end(data, kind, name_end + 1)
            if pos > end:
                raise BsonShapeError(f"field {field!r} overruns its document")
            if field == wanted:
                return data[start:pos]
    except (IndexError, struct.error, ValueError) as exc:
        raise BsonShapeError(str(exc) or "truncated field") from None
    return None


def element_value(element: bytes) -> bytes:
    """The value bytes of an element from `find_element` (after its type and name)."""
    return element[element.index(b"\x00", 1) + 1 :]


def single_field_document(element: bytes) -> bytes:
    """A BSON document holding only `element`, e.g. a query `{_id: <the same value>}`."""
    return _I32.pack(len(element) + 5) + element + b"\x00"


def skip_documents(buf: bytearray, pos: int, end: int) -> tuple[int, int]:
    """Skips the complete, plausible documents in `buf[pos:end]`.

    Returns: where it stopped and how many documents it passed. It stops at anything else (a
    terminator, a partial or an implausible document) for the caller to look at; this loop is
    the reader's hot path, so it does nothing more.
    """
    unpack = _I32.unpack_from
    count = 0
    limit = end - 4
    while pos <= limit:
        length = unpack(buf, pos)[0]
        after = pos + length
        if length < 5 or after > end or length > MAX_BSON_SIZE or buf[after - 1]:
            break
        pos = after
        count += 1
    return pos, count


def parse_flat_document(data: bytes) -> dict[str, Any]:
    """Decodes the flat control documents of an archive: strings, booleans, int32, int64 and
    doubles; other known types are skipped, unknown ones rejected.

    Raises: ValueError (or IndexError/struct.error) on anything malformed.
    """
    fields: dict[str, Any] = {}
    pos, end = 4, len(data) - 1
    while pos < end:
        kind = data[pos]
        name_end = data.index(b"\x00", pos + 1)
        name = data[pos + 1 : name_end].decode()
        pos = name_end + 1
        value: Any = None
        if kind == 0x02:
            size = _I32.unpack_from(data, pos)[0]
            if size < 1 or pos + 4 + size > end or data[pos + 3 + size] != 0:
                raise ValueError(f"bad string length in field {name!r}")
            value = data[pos + 4 : pos + 3 + size].decode()
            pos += 4 + size
        elif kind == 0x08:
            if data[pos] > 1:
                raise ValueError(f"bad boolean in field {name!r}")
            value = data[pos] == 1
            pos += 1
        elif kind == 0x10:
            value = _I32.unpack_from(data, pos)[0]
            pos += 4
        elif kind == 0x12:
            value = struct.unpack_from("<q", data, pos)[0]
            pos += 8
        elif kind == 0x01:
            value = struct.unpack_from("<d", data, pos)[0]
            pos += 8
        elif kind in _FIXED:  # a type the control documents carry but nobody reads
            pos += _FIXED[kind]
        elif kind in (0x03, 0x04):
            size = _I32.unpack_from(data, pos)[0]
            if size < 5:
                raise ValueError(f"bad document length in field {name!r}")
            pos += size
        elif kind == 0x05:
            size = _I32.unpack_from(data, pos)[0]
            if size < 0:
                raise ValueError(f"bad binary length in field {name!r}")
            pos += 5 + size
        else:
            raise ValueError(f"unsupported BSON type 0x{kind:02x} in field {name!r}")
        if pos > end:
            raise ValueError(f"field {name!r} overruns its document")
        fields[name] = value
    if pos != end:
        raise ValueError("fields overrun the document")
    return fields


def _value_end(data: bytes, kind: int, pos: int) -> int:
    if kind in _FIXED:
        return pos + _FIXED[kind]
    if kind in _LENGTH_PREFIXED:
        size: int = _I32.unpack_from(data, pos)[0]
        if size < 0:
            raise BsonShapeError("negative length")
        return pos + size + _LENGTH_PREFIXED[kind]
    if kind == 0x05:  # binary: length, subtype, bytes
        binary: int = _I32.unpack_from(data, pos)[0]
        if binary < 0:
            raise BsonShapeError("negative binary length")
        return pos + 5 + binary
    if kind == 0x0B:  # regex: pattern and options, two C strings
        return data.index(b"\x00", data.index(b"\x00", pos) + 1) + 1
    if kind == 0x0C:  # DBPointer: a string and an ObjectId
        pointer: int = _I32.unpack_from(data, pos)[0]
        return pos + 4 + pointer + 12
    raise BsonShapeError(f"unknown BSON type 0x{kind:02x}")
