"""`harness try ARTIFACT --load 2.16,2.21`: will *my* model still load after the upgrade?

The artifact becomes a fixture in the cache (format and producer from its bytes, inputs
synthesized or given, the reference from the producer's TF where it installs, else from the
oldest target), then one ordinary run loads it under each target with every loader of its
format.  A few lines per target: which loaders give back the same parameters and predictions,
which fail and how, and what to do instead.  Exit 0 when the native loader passes everywhere.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import sys
from pathlib import Path

from ..errors import UserError
from ..verdict.decide import row_error, row_figures
from .common import add_cell_timeout, add_env_options, csv
from .fixtures import _reference_options, _say, given_tolerance, run_fixtures


def add_parser(sub) -> None:
    p = sub.add_parser("try", help="will my model load under these TF versions, and how?")
    p.add_argument("artifact", type=Path, metavar="ARTIFACT",
                   help="a model file, SavedModel folder, checkpoint prefix or folder")
    p.add_argument("--load", type=csv, required=True, metavar="SPECS",
                   help="TF version specs to load under (2.16,2.21)")
    _reference_options(p)
    p.add_argument("--results-dir", type=Path, default=Path("results") / "try",
                   help="where the run folder goes (default: %(default)s, a folder of its own: "
                        "`advise` and `show` never take a try for the newest run of results/)")
    p.add_argument("--run-id", help="name of the run folder (default: timestamp)")
    add_cell_timeout(p)
    add_env_options(p)
    p.set_defaults(command="try_cmd")  # the module's name: `try` is a Python keyword


def fixture_name(artifact: Path) -> str:
    """A readable name: the file's stem, or for a serving layout (model/00000123) both."""
    path = artifact.resolve()
    stem = path.name[:-len(".index")] if path.name.endswith(".index") else path.stem
    if stem.isdigit():
        stem = f"{path.parent.name}-{stem}"
    name = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._") or "model"
    return name[:60]


def _digest(args) -> str:
    """The try-fixture's key: the artifact's bytes, every option that shapes it and the code
    that makes its reference."""
    from ..cache.saves import worker_code_hash
    from ..digests import sha256_file
    from ..regression import make

    h = hashlib.sha256()
    art = args.artifact
    files = _files_followed(art) if art.is_dir() else \
        sorted(p for p in art.parent.glob(art.name + "*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(art if art.is_dir() else art.parent)).encode())
        h.update(sha256_file(p).encode())
    for extra in (args.inputs, args.expected, args.custom_objects):
        h.update(sha256_file(extra).encode() if extra and Path(extra).is_file() else b"-")
    h.update(f"{args.tf}|{sorted(args.load)}|{getattr(args, 'rtol', None)}|"
             f"{getattr(args, 'atol', None)}".encode())
    # the code that made the reference: a copy made by other code is made again
    h.update(worker_code_hash().encode())
    for p in sorted(Path(make.__file__).parent.glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _files_followed(folder: Path) -> list[Path]:
    """Every file below `folder`, through symlinked folders too (a SavedModel whose variables/
    is a link: the linked bytes are what a loader reads, so they are what the key covers); a
    link that loops back is walked once."""
    import os

    out, seen = [], set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        out += [Path(root) / n for n in names if (Path(root) / n).is_file()]
    return sorted(out)


def prepare(args):
    """The artifact as a fixture in the cache (reused while nothing about it changes)."""
    from ..plan.specs import EnvSpec
    from ..regression import make
    from ..regression.model import read

    for flag, given in (("--inputs", args.inputs), ("--expected", args.expected),
                        ("--custom-objects", args.custom_objects)):
        if given is not None and not Path(given).is_file():
            raise UserError(f"{flag} {given}: no such file")
    for spec in args.load:
        EnvSpec.parse(spec)
    root = Path(args.cache_dir) / "try" / _digest(args)
    name = fixture_name(args.artifact)
    if (root / name / "fixture.toml").is_file():
        try:
            fx = read(root / name)
            fx.check()
            return fx
        except UserError:
            pass  # a stale or damaged copy: made again below
    loads = sorted(args.load, key=_version)
    inspect_tf = inspection_env(Path(args.cache_dir), loads)  # make.add says which
    opts = make.Options(cache_dir=args.cache_dir, backend=args.backend, progress=_say,
                        fallback=loads, inspect_tf=inspect_tf)
    return make.add(args.artifact, root, name, opts, inputs=args.inputs,
                    expected=args.expected, tf=args.tf, custom_objects=args.custom_objects,
                    origin=str(args.artifact.resolve()), require_producer=False, replace=True,
                    tolerance=given_tolerance(args))


def inspection_env(cache_dir: Path, loads: list[str]) -> str:
    """The TF that reads the artifact's format and producer: the newest plain environment
    already built here (nothing to download), else the newest target."""
    present = {m.group(1) for info in (cache_dir / "envs").glob("*/harness-env.json")
               if (m := re.match(r"(\d+\.\d+)-cpu-", info.parent.name))}
    if present:
        return max(present, key=_version)
    plain = [spec for spec in loads if "+" not in spec] or loads
    return max(plain, key=_version).split("+")[0]


def _version(spec: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in spec.split("+")[0].split("."))


# loaders that run another package's kernels than TF's: the package whose version the cell
# follows (run.json's environments[...]["resolved"] records it)
RUNTIME_PACKAGES = {"onnxruntime.": ("onnxruntime", "onnxruntime"),
                    "ai_edge_litert.": ("ai_edge_litert", "ai-edge-litert")}


def runtime_of(loader: str, resolved: dict | None) -> str | None:
    """"onnxruntime 1.32.0" for a loader that runs that package's kernels, else None."""
    for prefix, (key, name) in RUNTIME_PACKAGES.items():
        if loader.startswith(prefix):
            version = (resolved or {}).get(key)
            return f"{name} {version}" if version else f"{name} (version not recorded)"
    return None


def _runtime_lines(loaders: list[str], loads: list[str], envs: dict[str, dict]) -> list[str]:
    """One line per runtime loader whose package is the same version under every target: its
    cells follow that package, not TF (a row per TF would otherwise seem to test TF)."""
    out = []
    for lo in loaders:
        seen = {runtime_of(lo, envs.get(load)) for load in loads}
        seen.discard(None)
        if len(seen) == 1 and len(loads) > 1:
            out.append(f"note: `{lo}` ran {seen.pop()} under every target: its cells follow that "
                       "package's version, not TF's")
    return out


def render(fx, rows: list[dict], loads: list[str], flags: str = "",
           envs: dict[str, dict] | None = None) -> tuple[str, bool]:
    """The answer, and whether the native loader passed under every target.  `envs`: each load
    label's resolved versions (run.json), to name the package a runtime loader ran."""
    envs = envs or {}
    from ..verdict import decide as verdict
    from ..vocab import FORMAT_LOADERS

    loaders = fx.loaders()
    native = loaders[0]
    user_call = FORMAT_LOADERS[fx.format][0]
    missing_architecture = user_call == "model.load_weights" and user_call not in loaders
    ref = fx.reference
    lines = [f"{fx.data.get('origin', {}).get('source')}",
             f"  format {fx.format} (from the bytes), "
             + (f"written in the {fx.producer['era']} era (no TF version recorded)"
                if fx.save_tf == "unknown" and fx.producer.get("era")
                else f"written by TF {fx.save_tf}")
             + (f" / Keras {fx.producer['keras']}" if fx.producer.get("keras") else "")
             + f" ({fx.producer.get('source') or 'not recorded'})",
             f"  inputs: {fx.data.get('inputs_source')}",
             f"  reference: {ref.get('detail') or ref.get('source')}",
             f"  training: {_training_reference(ref, missing_architecture)}"]
    if missing_architecture:
        lines.append(f"  `{user_call}` not checked: a weights file needs the model's "
                     "architecture, which is what is missing here (give --custom-objects "
                     "FILE.py defining build_model(), with --inputs X.npz, as `harness "
                     f"migrate` takes it); `{native}` only reads the stored values")
    if fx.tolerance:
        lines.append(f"  tolerance: rtol {fx.tolerance[0]:g}, atol {fx.tolerance[1]:g} (given: "
                     "it replaces the per-dtype and per-format ones)")
    lines.append("")
    ok_everywhere = True
    by_load: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_load.setdefault(r["load_tf"], {})[r["loader"]] = r
    for load in loads:
        cells = by_load.get(load, {})
        any_row = next(iter(cells.values()), {})
        v = any_row.get("load_versions") or {}
        passing = [lo for lo in loaders if cells.get(lo, {}).get("status") == "pass"]
        native_ok = native in passing
        ok_everywhere &= native_ok
        keras = f"tf_keras {v['tf_keras']} (legacy Keras)" if "+tf_keras" in load and \
            v.get("tf_keras") else f"keras {v.get('keras')}"
        lines.append(f"TF {load} (tf {v.get('tf')}, {keras}): "
                     + _native_line(native, cells.get(native)))
        for lo in loaders:
            r = cells.get(lo)
            if r is None:
                lines.append(f"  {'missing':<11} {lo}")
                continue
            status = r["status"]
            what = row_figures(r) if status == "pass" else (
                row_figures(r) + ("; " if row_figures(r) else "") + row_error(r)
                if status == "mismatch" else row_error(r))
            runtime = runtime_of(lo, envs.get(load))
            lines.append(f"  {status:<11} {lo}" + (f" ({runtime})" if runtime else "")
                         + (f"  {what}" if what else ""))
            if status == "mismatch" and (where := verdict.divergence(r)):
                lines.append(f"              {where}")  # the layer it starts at (layer_diffs)
        if verdict.kind(cells.get(native)) == verdict.TRAINING:
            fresh = [lo for lo in passing if "compile=False" in lo]
            lines.append(f"  instead: to train on, load with `{verdict.python_call(fresh[0])}` "
                         "and compile anew (the optimizer starts fresh); predictions are "
                         "unaffected" if fresh else
                         "  instead: predictions are unaffected; no loader here resumes "
                         "training")
        elif not native_ok:
            lines += _instead(fx, load, cells.get(native), passing, flags)
            lines += _legacy_keras(fx, load, native, by_load, flags)
        lines.append("")
    runtime_notes = _runtime_lines(loaders, loads, envs)
    if runtime_notes:
        lines += runtime_notes + [""]
    by_kind: dict[str, list[str]] = {}
    for load in loads:
        by_kind.setdefault(verdict.kind(by_load.get(load, {}).get(native)) or "none",
                           []).append(load)
    near = [load for load in loads if verdict.near(by_load.get(load, {}).get(native))]
    if near:  # stated with their size, not called silently wrong
        by_kind = {k: [x for x in v if x not in near] for k, v in by_kind.items()}
        by_kind = {k: v for k, v in by_kind.items() if v}
        by_kind[verdict.NEAR] = near
    words = {verdict.PASS: "passes", verdict.TRAINING: "predicts the same but cannot resume "
             "training", verdict.VALUES: "loads but is silently wrong", verdict.ERROR: "raises",
             verdict.NEAR: "loads with outputs that move slightly (see above)",
             "none": "has no cell"}
    per_kind = "; ".join(f"{words[k]} under {', '.join(v)}" for k, v in by_kind.items())
    if missing_architecture:
        lines.append(f"`{user_call}`: not checked (no architecture); `{native}` "
                     + ("reads the values under every target"
                        if all(k == verdict.PASS for k in by_kind) else per_kind))
        return "\n".join(lines), False
    lines.append(f"native loader `{native}`: "
                 + ("passes under every target" if ok_everywhere else per_kind))
    return "\n".join(lines), ok_everywhere


_RUNTIME = {"tflite": "TFLite", "tflite-dynamic": "TFLite", "onnx": "onnxruntime"}


def _instead(fx, load: str, row: dict | None, passing: list[str],
             flags: str = "") -> list[str]:
    """What to do where the native loader does not pass: another loader that does; else, for a
    difference of the runtime's (the same bytes under another runtime's kernels, or outputs
    that move slightly with the parameters bit-identical), keep the file and state the
    tolerance, since re-saving cannot change kernels; else a raw reader, else re-save."""
    from ..verdict import decide as verdict

    models = [lo for lo in passing if lo not in verdict.RAW_READERS]
    if not models and (verdict.runtime_side(row) or verdict.near(row)):
        kernels = (f"TF {load}'s {_RUNTIME[fx.format]} kernels on the same bytes"
                   if fx.format in _RUNTIME else
                   f"TF {load}'s kernels (the parameters are bit-identical)")
        return [f"  instead: keep the file: the difference is {kernels}; if it is within what "
                "you need, say so with --rtol/--atol"
                + (f" (e.g. --atol {_suggest(row)})" if verdict.near(row) else "")]
    if models:
        out = [f"  instead: load with `{verdict.python_call(models[0])}`"]
    elif passing:
        out = [f"  instead: `{passing[0]}` {verdict.RAW_READERS[passing[0]]}"]
    else:
        out = ["  instead: no loader of this artifact works under "
               f"TF {load}; re-save it under a version that loads it "
               "(`harness advise` on a zoo run shows which format to choose)"]
    from ..migrate.hints import migrate_hint
    from ..migrate.routes import WEIGHTS

    hint = None if fx.format in WEIGHTS and not fx.architecture else \
        migrate_hint(fx.format, fx.save_tf, load,
                     shlex.quote(fx.data.get("origin", {}).get("source") or "ARTIFACT") + flags)
    if hint:
        out.append(f"  or migrate: {hint}")
    return out


# formats that legacy Keras (tf_keras) reads where Keras 3 does not
_LEGACY_READS = ("keras", "keras-v3", "h5", "weights-h5", "weights-h5-v3", "weights-tf",
                 "savedmodel", "keras-savedmodel")


def _legacy_keras(fx, load: str, native: str, by_load: dict, flags: str) -> list[str]:
    """The tf_keras route for a Keras 2-era file under a Keras 3 target: named where the run's
    `+tf_keras` cell passes, offered as a `--load X+tf_keras` to try where none ran."""
    from ..migrate.hints import _minor
    from ..migrate.runner import legacy_spec
    from ..verdict import decide as verdict

    legacy = legacy_spec(load)
    made = _minor(fx.save_tf)
    if legacy is None or fx.format not in _LEGACY_READS or (made and made >= (2, 16)):
        return []
    if legacy in by_load:
        if verdict.kind(by_load[legacy].get(native)) != verdict.PASS:
            return []
        minor = ".".join(legacy.split("+")[0].split(".")[:2])
        return [f"  or legacy Keras: `pip install tf_keras~={minor}` and "
                f"`TF_USE_LEGACY_KERAS=1` (TF {legacy} passes it, above)"]
    artifact = shlex.quote(fx.data.get("origin", {}).get("source") or "ARTIFACT")
    return [f"  or try legacy Keras: `harness try {artifact} --load {legacy}{flags}`"]


def migrate_flags(args) -> str:
    """The options of this `try` that `harness migrate` needs to see the same artifact: the
    user's code, inputs, expected outputs, producer and tolerance, as they typed them."""
    out = []
    for flag, value in (("--custom-objects", args.custom_objects), ("--inputs", args.inputs),
                        ("--expected", args.expected), ("--tf", args.tf),
                        ("--rtol", getattr(args, "rtol", None)),
                        ("--atol", getattr(args, "atol", None))):
        if value is not None:
            out.append(f" {flag} {shlex.quote(str(value))}")
    return "".join(out)


def _suggest(row: dict) -> str:
    """An atol that admits this difference: its max |diff| rounded up to two digits."""
    import math

    diff = float(row["max_abs_diff"])
    step = 10.0 ** ((math.floor(math.log10(diff)) if diff > 0 else -12) - 1)
    return f"{math.ceil(diff / step) * step:.1e}"


def _training_reference(ref: dict, values_only: bool = False) -> str:
    """What the training check compares with, or why there is none."""
    if values_only:
        return "not checked: a weights file holds no optimizer and here no model"
    if ref.get("resume"):
        import json

        meta = json.loads(ref["resume"])
        return (f"one optimizer step ({meta.get('optimizer')}, iterations "
                f"{meta.get('iterations')}) taken under the producer's TF after "
                f"`{meta.get('from')}`, on labels from the model's own outputs; each target "
                "takes the same step")
    return ref.get("resume_note") or "not checked: this fixture has no resume reference"


def _native_line(native: str, row: dict | None) -> str:
    from ..verdict import decide as verdict

    k = verdict.kind(row)
    if k == verdict.PASS and native in verdict.RAW_READERS:
        return f"`{native}` reads the stored values, bit-identical (not a model)"
    if k == verdict.PASS:
        trains = "; training resumes (the same step as the producer's)" \
            if row.get("resume_ok") is True else ""
        if not row.get("params_total"):  # converted formats: weights looked up by value
            listing = (row.get("notes") or {}).get("parameter_listing")
            notes = row.get("notes") or {}
            why = listing or notes.get("params") or notes.get("params_not_compared")
            if "by value" in str(why) and not listing:  # converted formats
                return (f"`{native}` loads it with the same predictions{trains} (weights "
                        "looked up by value, not by name)")
            return (f"`{native}` loads it with the same predictions{trains} (weights not "
                    f"compared{' by name' if listing else ''}{': ' + why if why else ''})")
        return f"`{native}` loads it with the same parameters and predictions{trains}"
    if k == verdict.TRAINING:
        return (f"`{native}` loads it and predicts the same, but training cannot resume "
                "(optimizer state lost or `fit()` raises)")
    if k == verdict.VALUES and verdict.near(row):
        total = row.get("params_total")
        same = "; parameters bit-identical" if total and row.get("params_equal") == total \
            else ""
        why = verdict.delegate_effect(row)
        return (f"`{native}` loads; {verdict.moved(row)} (within {verdict.NEAR_FACTOR}x of "
                f"it{same}){'; ' + why if why else ''}")
    if k == verdict.VALUES:
        return (f"`{native}` loads it without an error, but "
                f"{verdict.size(row) or 'the values differ'}: silently wrong")
    if k == verdict.ERROR:
        return f"`{native}` raises ({row.get('error_type') or row.get('status')})"
    return f"`{native}` does NOT give it back ({(row or {}).get('status') or 'no cell'})"


def main(args) -> int:
    from ..results.store import read_run
    from .common import validate_env_options

    validate_env_options(args)
    if not args.load:
        raise UserError("--load is empty")
    fx = prepare(args)
    # a copy cached from the same bytes tried from another path names that path: the output
    # and its printed commands name the file the user gave now
    fx.data["origin"] = dict(fx.data.get("origin") or {}) | {
        "source": str(args.artifact.resolve())}
    path = run_fixtures([fx], args.load, args)
    data = read_run(path)
    envs = {label: (e or {}).get("resolved") or {}
            for label, e in (data.info.get("environments") or {}).items() if isinstance(e, dict)}
    text, ok = render(fx, data.rows, args.load, migrate_flags(args), envs=envs)
    print(text)
    print(f"\nresults: {path}  (harness show / report / advise work on it)")
    sys.stdout.flush()
    return 0 if ok else 1
