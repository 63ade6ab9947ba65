"""A stand-in worker for testing the host's process handling: stdlib only, no TensorFlow.

It speaks the worker's file protocol (harness/worker/main.py): for each request of the batch,
in order, `<id>.start`, then `<id>.json` (+ `<id>.npz`).  What it does per cell comes from the
JSON file named by HARNESS_STUB_SCRIPT: {"<model>/<format>[/<loader>]": action, ...}, the
longest key that matches wins, the default is "ok".  Actions:

    ok            save: an artifact + reference; load: the reference's values back (a pass)
    mismatch      load: predictions off by 1.0
    load-error / save-error / unsupported   that outcome, with a message
    abort         os.abort() on this cell (as TF does on a fatal error)
    hang          sleep until killed
    garbage       write a result file that is not JSON
    not-object    write a result that is JSON but not an object
    exit-early    exit 0 without writing this cell's result
    enospc        die as a worker does when the disk is full

It never tests TF: it tests what the host does with what a worker does.
"""

import hashlib
import io
import json
import os
import signal
import struct
import sys
import time
import zipfile
from pathlib import Path


def _npy(values):
    """A 1-d float32 .npy file (format 1.0), enough for the host's numpy to read."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + str(len(values)) + ",), }"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")
            + struct.pack("<" + str(len(values)) + "f", *values))


def _npz(path, arrays):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, values in arrays.items():
            z.writestr(name + ".npy", _npy(values))
    Path(path).write_bytes(buf.getvalue())


def _write_json(path, data):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _action(req):
    script = os.environ.get("HARNESS_STUB_SCRIPT")
    table = json.loads(Path(script).read_text()) if script else {}
    keys = [f"{req['model']}/{req['format']}/{req.get('loader', '')}",
            f"{req['model']}/{req['format']}", req["model"]]
    phase = req.get("phase") or os.environ.get("HARNESS_STUB_PHASE", "")
    phase_keys = [f"{phase}:{k}" for k in keys]
    for key in phase_keys + keys:
        if key in table:
            return table[key]
    return "ok"


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save(req, out):
    ref = Path(req["reference_dir"])
    ref.mkdir(parents=True, exist_ok=True)
    if not (ref / "reference.json").exists():
        _npz(ref / "reference.npz", {"inputs": [1.0, 2.0], "y0": [0.5, 0.25], "p0": [3.0]})
        _write_json(ref / "reference.json", {"model": req["model"], "scope": req["model"],
                                             "n_outputs": 1, "param_names": ["dense/kernel"],
                                             "versions": {"tf": "stub"}})
    art = Path(req["artifact_dir"])
    art.mkdir(parents=True, exist_ok=True)
    (art / "model.stub").write_text(f"{req['model']} {req['format']}\n")
    manifest = {"format": req["format"], "model": req["model"], "producer": {"tf": "stub"},
                "files": {"model.stub": {"sha256": _sha(art / "model.stub"),
                                         "bytes": (art / "model.stub").stat().st_size,
                                         "kind": "text"}}}
    _write_json(art / "manifest.json", manifest)
    return {"status": "ok", "on_disk_format": "stub", "manifest": manifest}


def load(req, out):
    shift = 1.0 if _action(req) == "mismatch" else 0.0
    _npz(out / f"{req['id']}.npz", {"y0": [0.5 + shift, 0.25], "p0": [3.0]})
    return {"status": "ok", "n_outputs": 1, "param_names": ["dense/kernel"], "notes": {}}


def _requests(batch, out):
    """The batch's requests, then the host's feed files until its end marker (as the real
    worker: harness/worker/main.py)."""
    yield from batch["requests"]
    prefix = batch.get("feed")
    k = 0
    while prefix:
        part = out / f"{prefix}{k}.json"
        if part.exists():
            k += 1
            yield from json.loads(part.read_text())
            continue
        if (out / f"{prefix}end").exists() and not part.exists():
            return
        time.sleep(0.02)


def main(argv):
    batch = json.loads(Path(argv[1]).read_text())
    out = Path(batch["out_dir"])
    os.environ["HARNESS_STUB_PHASE"] = batch["phase"]
    delay = float(os.environ.get("HARNESS_STUB_DELAY", "0"))
    trace = os.environ.get("HARNESS_STUB_TRACE")
    if trace:  # when this worker process lived, for tests of how many run at once
        with open(Path(trace) / f"{os.getpid()}-{time.time():.6f}", "w") as f:
            f.write(f"{batch['phase']} {time.time()}\n")
    if os.environ.get("HARNESS_STUB_START_ENOSPC") == batch["phase"]:  # dies before any cell
        sys.stderr.write("OSError: [Errno 28] No space left on device\n")
        return 1
    if os.environ.get("HARNESS_STUB_IMPORT_FAIL") == batch["phase"]:
        _write_json(out / "versions.json", {"import_error": {"error_type": "ImportError",
                                                              "error": "stub: no TF here"}})
        return 3
    _write_json(out / "versions.json", {"tf": "stub", "python": sys.version.split()[0]})
    for req in _requests(batch, out):
        (out / f"{req['id']}.start").write_text(str(time.time()))
        time.sleep(delay)
        action = _action(req)
        if action == "abort":
            os.abort()
        if action == "kill":  # what the OOM killer or `kill -9` does
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "hang":
            time.sleep(3600)
        if action == "exit-early":
            return 0
        if action == "enospc":
            sys.stderr.write("OSError: [Errno 28] No space left on device\n")
            sys.stderr.flush()
            return 1
        if action == "garbage":
            (out / f"{req['id']}.json").write_text("{not json")
            continue
        if action == "not-object":
            (out / f"{req['id']}.json").write_text("[1, 2]")
            continue
        if action in ("load-error", "save-error", "unsupported"):
            result = {"status": action, "error_type": "StubError",
                      "error": f"stub says {action}"}
        else:
            phase = req.get("phase") or batch["phase"]
            result = (save if phase == "save" else load)(req, out)
        result["id"] = req["id"]
        result["seconds"] = round(delay + 0.01, 3)  # as long as the stub took
        _write_json(out / f"{req['id']}.json", result)
    if trace:
        with open(Path(trace) / f"{os.getpid()}-end", "w") as f:
            f.write(f"{time.time()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
