"""Protocol-buffer messages read field by field, stdlib only: the safety checks read what a
SavedModel holds (saved_model.pb, keras_metadata.pb) before any library parses it, in the
worker and on the host alike (no TensorFlow, no protobuf package).

Values of length-delimited fields are memoryviews into the one buffer (no copies: a
saved_model.pb may hold hundreds of MB of constants).  A message field that occurs more than
once is merged by protobuf; callers treat every occurrence as part of it.
"""

from __future__ import annotations

from collections.abc import Iterator


def varint(buf, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a message: an int for varints, a memoryview for
    length-delimited and fixed-size fields."""
    buf = buf if isinstance(buf, memoryview) else memoryview(buf)
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            value, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if i + size > len(buf):
                raise ValueError("truncated field")
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def messages(buf, number: int) -> Iterator[memoryview]:
    """Every length-delimited value of field `number` (sub-messages, strings, bytes)."""
    for n, wire, value in fields(buf):
        if n == number and wire == 2:
            yield value


def text(value) -> str:
    return bytes(value).decode("utf-8", "replace")


def strings(buf, number: int) -> list[str]:
    return [text(v) for v in messages(buf, number)]


def last_string(buf, number: int) -> str | None:
    """A singular string field: protobuf keeps the last occurrence."""
    found = None
    for v in messages(buf, number):
        found = text(v)
    return found


def map_entries(buf, number: int) -> Iterator[tuple[memoryview, memoryview]]:
    """(key, value) of a map<string, message> field (entries: key = 1, value = 2)."""
    for entry in messages(buf, number):
        key = value = memoryview(b"")
        for n, wire, v in fields(entry):
            if wire == 2 and n == 1:
                key = v
            elif wire == 2 and n == 2:
                value = v
        yield key, value
