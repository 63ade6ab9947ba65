"""`harness inspect ARTIFACT`: what a model file (or folder) someone found really is.

The format is detected from the bytes on the host; everything else (producer versions the
artifact records, signatures, variables, parameter count, the TensorBoard graph) is read by the
worker inside one TF environment (`--tf`, default the newest this Python can run)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path

from ..errors import UserError
from ..worker.safety import HDF5_MAGIC, ZIP_MAGIC, UnsafeArtifact, check_zip
from .common import add_env_options, validate_env_options

DEFAULT_TF = "2.21"


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="what a saved model holds: format, producer, signatures, "
                                       "variables")
    p.add_argument("artifacts", type=Path, nargs="+", metavar="ARTIFACT",
                   help="a model file, SavedModel folder, checkpoint prefix or folder")
    p.add_argument("--tf", default=None, metavar="SPEC",
                   help=f"TF environment to read it with (default: {DEFAULT_TF}, or the newest "
                        "this Python has wheels for)")
    p.add_argument("--tensorboard", type=Path, metavar="DIR",
                   help="also write the graph as an event file for TensorBoard's Graphs tab")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--variables", type=int, default=20, metavar="N",
                   help="list at most N variables (default: %(default)s)")
    add_env_options(p)


def _default_spec(python: str | None) -> str:
    import sys

    from ..plan.specs import TF_PYTHONS

    if python:
        return DEFAULT_TF
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    fits = [m for m, pys in TF_PYTHONS.items() if py in pys]
    return f"{fits[-1][0]}.{fits[-1][1]}" if fits else DEFAULT_TF


def inspect_artifacts(paths: list[Path], spec: str, cache_dir: Path, *,
                      tensorboard: Path | None = None, backend: str = "uv",
                      as_of: str | None = None, python: str | None = None,
                      cell_timeout: float = 600) -> list[dict]:
    """Run the worker's inspect phase on `paths` (one TF start) in the environment for `spec`;
    with several paths, each one's TensorBoard graph goes to tensorboard/<i>."""
    from ..envs import get_backend
    from ..plan.specs import EnvSpec
    from ..run import batch as execute

    for path in paths:
        check_artifact(path)
    env = get_backend(backend)(EnvSpec.parse(spec), cache_dir, as_of=as_of, python=python)
    env.create()
    reqs = []
    for i, path in enumerate(paths):
        tb = None
        if tensorboard:
            tb = str((tensorboard if len(paths) == 1 else tensorboard / str(i)).resolve())
        reqs.append({"id": f"i{i:04d}", "artifact": str(path.resolve()), "tensorboard": tb})
    results: dict[str, dict] = {}
    work = tempfile.mkdtemp(prefix="harness-inspect-")
    try:  # whatever ends the inspect (a timeout, Ctrl-C, SIGTERM): no worker, no temp folder
        execute.run_batch(env, "inspect", reqs, Path(work), cell_timeout=cell_timeout,
                          on_result=lambda req, res: results.__setitem__(req["id"], res))
    finally:
        execute.kill_all()
        shutil.rmtree(work, ignore_errors=True)
    out = []
    for req in reqs:
        result = results[req["id"]]
        result.pop("log", None)
        result.setdefault("artifact", req["artifact"])
        result["read_with"] = {k: env.info.get(k) for k in ("tf", "keras", "python")}
        out.append(result)
    return out


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"))
_EXPECTED = {".h5": "HDF5", ".hdf5": "HDF5", ".keras": "a zip archive (or HDF5, as TF 2.12/2.13 "
             "write it)", ".tflite": "a TFLite flatbuffer"}


def _what(head: bytes) -> str:
    """What the first bytes of a file say it is, in words."""
    if head.startswith(HDF5_MAGIC):
        return "an HDF5 file (an .h5 file?)"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive (a .keras file?)"
    if head[4:8] == b"TFL3":
        return "a TFLite flatbuffer (a .tflite file?)"
    if head.lstrip()[:1] in (b"{", b"["):
        return "JSON text"
    return f"unknown bytes ({head[:8].hex()})"


def _not_regular(path: Path) -> str | None:
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_artifact(path: Path) -> None:
    """Refuse, in one line and before a worker starts, what no reader should be handed:
    a FIFO (reading it hangs), an empty file, a file whose bytes contradict its name, a zip
    bomb."""
    if not path.exists() and not path.with_name(path.name + ".index").exists():
        raise UserError(f"{path}: no such file or folder")
    if not path.exists():
        return  # a checkpoint prefix
    files = [path] if not path.is_dir() else sorted(path.rglob("*"))[:10000]
    for f in files:
        kind = _not_regular(f)
        if kind:
            raise UserError(f"{f} is {kind}, not a model file" if kind != "not a regular file"
                            else f"{f}: not a regular file")
    if path.is_dir():
        _check_savedmodel_folder(path)
        return
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(16)
    suffix = path.suffix.lower()
    fits = {".h5": head.startswith(HDF5_MAGIC), ".hdf5": head.startswith(HDF5_MAGIC),
            ".keras": head.startswith((ZIP_MAGIC, HDF5_MAGIC)),
            ".tflite": head[4:8] == b"TFL3"}.get(suffix, True)
    if not fits:
        raise UserError(f"{path.name} is {_what(head)}, not {_EXPECTED[suffix]}")
    if head.startswith(ZIP_MAGIC):
        try:
            check_zip(path)
        except UnsafeArtifact as exc:
            raise UserError(f"{path}: refused: {exc}") from None


SAVEDMODEL_PARTS = ("variables", "fingerprint.pb", "keras_metadata.pb", "assets")


def _check_savedmodel_folder(path: Path) -> None:
    """A SavedModel folder cut short says what is missing, by name, before any reader guesses
    (without saved_model.pb, its fingerprint.pb was read as an ONNX file)."""
    parts = [n for n in SAVEDMODEL_PARTS if (path / n).exists()]
    graph = (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()
    if parts and not graph:
        raise UserError(f"{path}: a SavedModel folder ({', '.join(parts)}) without "
                        "saved_model.pb: copied or extracted only in part?")
    if not graph:
        return
    if (path / "saved_model.pb").is_file() and (path / "saved_model.pb").stat().st_size == 0:
        raise UserError(f"{path / 'saved_model.pb'}: empty file (0 bytes)")
    variables = path / "variables"
    index = variables / "variables.index"
    if index.is_file():
        shards = sorted(variables.glob("variables.data-*"))
        empty = [f for f in [index, *shards] if f.stat().st_size == 0]
        if empty:
            raise UserError(f"{empty[0]}: empty file (0 bytes): the SavedModel's variables were "
                            "not written whole")
        if not shards:
            raise UserError(f"{variables}: variables.index without its variables.data-* "
                            "shard(s)")


def problem(r: dict) -> str | None:
    """Why an inspect result is not a readable model, in one line (None: it is)."""
    where = r.get("artifact")
    if r.get("status") != "ok":
        first = str(r.get("error") or "").strip().splitlines()[:1]
        return (f"{where}: cannot be read: {r.get('error_type') or r.get('status')}"
                f"{': ' + first[0][:300] if first else ''}")
    if r.get("error"):
        return f"{where}: {str(r['error']).splitlines()[0]}"
    if r.get("format") == "unknown":
        return f"{where}: not a model format this harness knows (from its bytes and layout)"
    return None


def _shape(s) -> str:
    return "?" if s is None else "[" + ", ".join("?" if d is None else str(d) for d in s) + "]"


def converter_line(rec: dict) -> str:
    """A .tflite's maker in words: the converter's TF from CONVERSION_METADATA (TF 2.x
    converters write it unless told not to) and the oldest runtime it needs."""
    tf = rec.get("tensorflow_version")
    text = (f"converter: TF {tf} (CONVERSION_METADATA"
            + (f"; converted from {rec['converted_from']}" if rec.get("converted_from") else "")
            + (f"; {', '.join(rec['optimizations'])}" if rec.get("optimizations") else "")
            + ")") if tf else "converter: TF version not recorded (no CONVERSION_METADATA)"
    if rec.get("min_runtime_version"):
        text += f"; needs a TFLite runtime >= {rec['min_runtime_version']} (min_runtime_version)"
    return text


def render(r: dict, max_vars: int) -> str:
    if r.get("status") != "ok":
        return (f"artifact:  {r.get('artifact')}\n{r.get('status')}: "
                f"{r.get('error_type') or ''} {r.get('error') or ''}").strip()
    lines = [f"artifact:  {r['artifact']}", f"format:    {r['format']} (from the bytes; "
             f"entry {r['entry']})"]
    if r["format"] in ("h5", "weights-h5") and str(r["artifact"]).endswith(".keras"):
        lines.append("note:      HDF5 under a .keras name, as TF 2.12/2.13 write "
                     "model.save('x.keras'); Keras 3 will not read it as .keras")
    rw = r.get("read_with") or {}
    lines.append(f"read with: TF {rw.get('tf')}, Keras {rw.get('keras')}")
    rec = r.get("producer_in_artifact")
    if rec and r.get("format") == "tflite":
        lines.append(converter_line(rec))
    if rec:
        lines.append(f"producer:  {json.dumps(rec)} (recorded in the artifact)")
    elif r.get("format") != "unknown":
        lines.append("producer:  not recorded in the artifact")
    if r.get("recorded_by_harness"):
        p = r["recorded_by_harness"].get("producer") or {}
        lines.append(f"manifest:  saved by TF {p.get('tf')}, Keras {p.get('keras')} on "
                     f"{r['recorded_by_harness'].get('created')}")
    for name, sig in (r.get("signatures") or {}).items():
        lines.append(f"signature {name}:")
        for side in ("inputs", "outputs"):
            for k, t in (sig.get(side) or {}).items():
                t = t if isinstance(t, dict) else {"info": t}
                lines.append(f"  {side[:-1]:<6} {k}: {t.get('dtype', t.get('elem_type', ''))} "
                             f"{_shape(t.get('shape')) if 'shape' in t else ''}".rstrip())
        for k in ("nodes", "placeholders"):
            if k in sig:
                lines.append(f"  {k}: {sig[k]}")
    if "variables" in r:
        vs = r["variables"]
        state = ", ".join(f"{role} state {n}" for role, n in
                          (r.get("state_counts") or {}).items() if n)
        lines.append(f"variables: {len(vs)}, model parameters: {r.get('parameter_count')}"
                     + (f" (besides: {state})" if state else "")
                     + (f" ({r['variables_note']})" if r.get("variables_note") else ""))
        for v in vs[:max_vars]:
            lines.append(f"  {v['name']}  {_shape(v['shape'])}  {v['dtype']}")
        if len(vs) > max_vars:
            lines.append(f"  ... {len(vs) - max_vars} more (--variables N, --json)")
    elif r.get("variables_note"):
        lines.append(f"variables: not listed ({r['variables_note']})")
    if "tensorboard_graph" in r:
        tb = r["tensorboard_graph"]
        lines.append(f"tensorboard: {'wrote ' + tb if tb else r.get('tensorboard_note')}")
    if r.get("error"):
        lines.append(f"error: {r['error']}")
    return "\n".join(lines)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(args) -> int:
    validate_env_options(args)
    if args.variables < 0:
        raise UserError(f"--variables {args.variables}: give how many to list, 0 or more")
    spec = args.tf or _default_spec(args.python)
    old = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:  # SIGTERM/SIGHUP unwind like Ctrl-C: the worker killed, the temp folder removed
        results = inspect_artifacts(args.artifacts, spec, args.cache_dir,
                                    tensorboard=args.tensorboard, backend=args.backend,
                                    as_of=args.as_of, python=args.python)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=1, default=str))
    bad = [p for p in map(problem, results) if p]
    good = [r for r in results if not problem(r)]
    if not args.json and good:
        print("\n\n".join(render(r, args.variables) for r in good))
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(bad[0] + more)
    return 0
