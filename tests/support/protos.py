"""saved_model.pb files written field by field (protobuf wire format, stdlib only): the
hostile SavedModels of the artifact-code tests, built without TF."""

from __future__ import annotations

import json
from pathlib import Path


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def fld(number: int, payload) -> bytes:
    payload = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def node(name: str, op: str, inputs=(), calls: str | None = None) -> bytes:
    """NodeDef (name 1, op 2, input 3, attr 5); `calls` names a function in attr `f`."""
    out = fld(1, name) + fld(2, op) + b"".join(fld(3, i) for i in inputs)
    if calls:
        out += fld(5, fld(1, "f") + fld(2, fld(10, fld(1, calls))))
    return out


def function(name: str, *nodes: bytes) -> bytes:
    return fld(1, fld(1, name)) + b"".join(fld(3, n) for n in nodes)


def meta_graph(nodes=(), functions=(), saver=None, outputs=(), user_metadata=()) -> bytes:
    graph = b"".join(fld(1, n) for n in nodes)
    if functions:
        graph += fld(2, b"".join(fld(1, f) for f in functions))
    out = fld(1, fld(4, "serve")) + fld(2, graph)
    if saver:
        out += fld(3, fld(1, "saver_filename:0") + fld(2, saver[0]) + fld(3, saver[1]))
    if outputs:
        sig = b"".join(fld(2, fld(1, f"out{i}") + fld(2, fld(1, t)))
                       for i, t in enumerate(outputs))
        out += fld(5, fld(1, "serving_default") + fld(2, sig))
    if user_metadata:
        objects = b"".join(fld(1, fld(4, fld(1, "_tf_keras_layer") + fld(3, json.dumps(m))))
                           for m in user_metadata)
        out += fld(7, objects)
    return out


def saved_model(folder: Path, *graphs: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_bytes(bytes([8, 1]) + b"".join(fld(2, g) for g in graphs))
    return folder
