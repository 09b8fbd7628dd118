"""Finding one top-level field of a raw BSON document without decoding the rest.

The archive reader never decodes documents; a drill's sample needs each sampled document's
`_id`, and the oplog's window each entry's `ts`, as the exact bytes the document holds.
"""

from __future__ import annotations

import struct

_I32 = struct.Struct("<i")
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
