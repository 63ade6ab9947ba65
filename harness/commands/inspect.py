"""`harness inspect ARTIFACT`: what a model file (or folder) someone found really is.

The format is detected from the bytes on the host; everything else (producer versions the
artifact records, signatures, variables, parameter count, the TensorBoard graph) is read by the
worker inside one TF environment (`--tf`, default the newest this Python can run)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from ..errors import UserError
from ..regression.inspect import inspect_artifacts, problem
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
