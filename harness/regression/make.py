"""Making fixtures: `add` (an artifact someone else wrote) and `freeze` (the zoo's artifacts,
saved by the harness under one TF version).

For `add`, the format and producer come from the bytes (`harness inspect`); inputs are given or
synthesized on the host; the expected outputs and parameters are what the format's own loaders
give in the producer's environment (uv where that TF installs on this Python, the Docker backend
for older ones), else what the user gives with `--expected`, else what the oldest target that
loads it gives, and fixture.toml says which.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import clock
from ..errors import HarnessError, UserError
from ..plan.cells import Cell
from ..plan.requests import LoadRequest, SaveRequest
from ..vocab import FORMAT_LOADERS
from . import stage as staging
from . import synth
from .model import (
    ARTIFACT_DIR,
    CUSTOM_OBJECTS_FILE,
    EXPECTED_FILE,
    INPUTS_FILE,
    Fixture,
    applicable_loaders,
    check_name,
    defines_build_model,
    write,
)

OLDEST_HOST_TF = "2.12"  # the oldest TF the uv backend installs on this Python (3.11)
# Where a fixture's producer cannot run here and nothing else is given, the reference comes
# from the oldest of these that loads it (and fixture.toml says so).
FALLBACK_TARGETS = [OLDEST_HOST_TF, "2.16", "2.21"]
# Formats whose bytes record no producer at all: --tf is required for them.
SILENT_FORMATS = ("tf-checkpoint", "weights-h5", "weights-h5-v3", "weights-tf", "frozen-graph")


@dataclass
class Options:
    cache_dir: Path
    backend: str = "uv"  # for the producer's environment; docker reaches TF 2.5-2.11
    inspect_tf: str = "2.21"
    fallback: list[str] = field(default_factory=lambda: list(FALLBACK_TARGETS))  # oldest first
    cell_timeout: float = 600
    progress: object = None

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)


# -- producer ----------------------------------------------------------------------------------
def _keras_producer(version: str, where: str) -> dict:
    """The producer a `keras_version` implies.  Keras followed TF's numbering only from 2.6
    (keras split out of TF: Keras 2.6 ships with TF 2.6, ... 2.15 with 2.15); before that the
    numbers say nothing about TF: standalone multi-backend Keras 1.x-2.3 ran on TF 1.x (2.3 also
    on TF 2.0); `2.2.4-tf`/`2.3.0-tf` are tf.keras of TF 1.13-2.2; Keras 2.4/2.5 are tf.keras
    of TF 2.3-2.5 or the standalone keras 2.4/2.5 that wraps it.  Those get no TF version, an
    era, and the reference comes from the oldest TF that loads them (said so)."""
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1].split("-")[0])
    except (IndexError, ValueError):
        return {"keras": version, "source": f"{where}: keras_version {version!r}, not a "
                                            "version this harness can map to a TF release"}
    if version.endswith("-tf"):
        return {"keras": version, "era": "TF 1.13-2.2",
                "source": f"{where}: keras_version {version} (tf.keras of TF 1.13-2.2, which "
                          "records no TF version)"}
    if major < 2 or (major == 2 and minor <= 3):
        return {"keras": version, "era": "TF 1.x",
                "source": f"{where}: keras_version {version} (standalone multi-backend Keras "
                          "of the TF 1.x era: before 2.6 Keras did not follow TF's numbering, "
                          "and no TF version is recorded)"}
    if major == 2 and minor <= 5:
        return {"keras": version, "era": "TF 2.2-2.5",
                "source": f"{where}: keras_version {version} (tf.keras of TF 2.3-2.5 or the "
                          f"standalone keras {major}.{minor} that wraps it: before 2.6 Keras "
                          "did not follow TF's numbering, and no TF version is recorded)"}
    if major == 2 and minor <= 15:  # Keras 2.6-2.15 shipped with TF 2.x of the same minor
        return {"tf": f"{major}.{minor}", "keras": version, "spec": f"{major}.{minor}",
                "source": f"{where}: keras_version {version} (Keras 2.{minor} ships with TF "
                          f"2.{minor})"}
    if major == 2:  # tf_keras 2.16+: legacy Keras beside TF of the same minor
        return {"tf": f"{major}.{minor}", "keras": version, "spec": f"{major}.{minor}+tf_keras",
                "source": f"{where}: keras_version {version} (tf_keras of TF 2.{minor})"}
    return {"keras": version, "source": f"{where}: keras_version {version}, no TF version "
                                        "(Keras 3 does not record one)"}


def producer_of(info: dict, tf_flag: str | None) -> dict:
    """The producer, from what the artifact records (inspect's `producer_in_artifact`), or from
    --tf, which wins where both exist (and both are kept)."""
    rec = info.get("producer_in_artifact") or {}
    fmt = info.get("format")
    found: dict = {}
    if rec.get("tensorflow_version"):
        where = ("CONVERSION_METADATA environment.tensorflow_version (the converter's TF)"
                 if fmt in ("tflite", "tflite-dynamic") else "meta_info_def.tensorflow_version")
        found = {"tf": rec["tensorflow_version"], "source": f"artifact: {where}"}
    elif rec.get("keras_version"):
        where = "h5 attributes" if fmt in ("h5", "weights-h5", "weights-h5-v3") \
            else ".keras metadata.json"
        found = _keras_producer(str(rec["keras_version"]), where)
    if rec:
        found["recorded"] = json.dumps(rec, sort_keys=True, default=str)
    if tf_flag:
        found |= {"tf": tf_flag, "spec": tf_flag, "source": "--tf"}
    return found


def producer_spec(producer: dict) -> str | None:
    """The environment spec to compute the reference in (a minor: the newest patch)."""
    if producer.get("spec"):
        return producer["spec"]
    tf = producer.get("tf")
    if not tf:
        return None
    parts = str(tf).split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) \
        else None


def _environment(spec: str, opts: Options, backend: str):
    from ..envs import get_backend
    from ..plan.specs import EnvSpec

    env = get_backend(backend)(EnvSpec.parse(spec), opts.cache_dir)
    env.check()
    return env


def usable_env(spec: str | None, opts: Options):
    """The producer's environment where this host can make one, else (None, why)."""
    if spec is None:
        return None, "the artifact records no TF version"
    try:
        if spec.split("+")[0].startswith("1."):
            return None, f"TF {spec} is TF 1: no environment can install it here"
        try:
            return _environment(spec, opts, "uv"), None
        except HarnessError as exc:
            if opts.backend != "docker":
                return None, f"{exc} (--backend docker reaches TF 2.5-2.11)"
        return _environment(spec, opts, "docker"), None
    except HarnessError as exc:
        return None, str(exc)


# -- the reference: the format's own loaders in one environment ---------------------------------
def _reference_loaders(fmt: str, custom_objects: Path | None = None) -> list[str]:
    return applicable_loaders(fmt, architecture=defines_build_model(custom_objects))


def run_reference(fx_dir: Path, data: dict, env, opts: Options) -> tuple[dict, dict] | None:
    """Load the (not yet sealed) fixture in `env` with every loader of its format; the first
    that predicts gives the expected outputs, the first that exposes parameters the parameters.
    Returns (reference table, arrays) or None when no loader predicts there."""
    from ..run import batch as execute

    work = Path(tempfile.mkdtemp(prefix="harness-fixture-ref-"))
    try:
        fx = Fixture(fx_dir, data | {"files": {}})
        art = work / "artifact"
        staging.copy_artifact(fx.artifact, fx.format, art)
        if fx.format == "tf1-checkpoint" and not (art / staging.CHECKPOINT_STATE).is_file():
            (art / staging.CHECKPOINT_STATE).write_text(
                f'model_checkpoint_path: "{staging._entry_of(fx)}"\n')
        if fx.format == "frozen-graph":
            io = {"inputs": [i.get("tensor") or f"{i['name']}:0" for i in data["inputs"]],
                  "outputs": [o.get("tensor") or f"{o['name']}:0"
                              for o in data.get("outputs") or []]}
            (art / staging.FROZEN_SIDECAR).write_text(json.dumps(io))
        if fx.custom_objects:
            shutil.copy2(fx.custom_objects, art / CUSTOM_OBJECTS_FILE)
        (art / "manifest.json").write_text(json.dumps(staging.worker_manifest(fx, art)))
        with np.load(fx_dir / INPUTS_FILE, allow_pickle=False) as z:
            inputs = {k: z[k] for k in z.files}
        meta = {"model": data["name"], "scope": "", "n_outputs": 0, "param_names": [],
                "versions": {}, "inputs": [{k: i.get(k) for k in ("name", "dtype", "shape")}
                                           for i in data["inputs"]], "outputs": [],
                "resume": {"discover": True}}  # a loader with an optimizer takes the step
        staging.write_reference(work / "reference", meta, inputs)
        label = env.spec.label
        reqs = [LoadRequest(f"r{i:03d}", Cell(label, "cpu", label, "cpu", data["name"],
                                              fx.format, lo), art, work / "reference")
                for i, lo in enumerate(_reference_loaders(fx.format, fx.custom_objects))]
        results: dict[str, dict] = {}
        execute.run_batch(env, "load", reqs, work / "out", cell_timeout=opts.cell_timeout,
                          on_result=lambda r, res: results.__setitem__(r.cell.loader, res))
        return _pick(results, work / "out", reqs, env, inputs)
    finally:
        execute.kill_all()
        shutil.rmtree(work, ignore_errors=True)


def _pick(results: dict, out: Path, reqs: list, env,
          inputs: dict | None = None) -> tuple[dict, dict] | None:
    by_loader = {r.cell.loader: r for r in reqs}
    ok = [lo for lo in by_loader if results.get(lo, {}).get("status") == "ok"]
    predicts = [lo for lo in ok if results[lo].get("n_outputs")]
    # the parameters from the first loader that names some (else one that exposes none)
    exposes = sorted((lo for lo in ok if results[lo].get("param_names") is not None),
                     key=lambda lo: not results[lo]["param_names"])
    if not predicts and not exposes:
        errors = {lo: f"{results.get(lo, {}).get('status')}: "
                      f"{results.get(lo, {}).get('error_type') or ''} "
                      f"{str(results.get(lo, {}).get('error') or '')[:200]}"
                  for lo in by_loader}
        return None if not errors else ({"errors": errors}, {})
    arrays: dict[str, np.ndarray] = {}
    table: dict = {"versions": {k: env.info.get(k) for k in ("tf", "keras", "numpy", "python")
                                if env.info.get(k)}}
    if predicts:
        lo = predicts[0]
        with np.load(out / f"{by_loader[lo].id}.npz") as z:
            arrays |= {f"y{i}": z[f"y{i}"] for i in range(results[lo]["n_outputs"])}
        table["outputs_from"] = lo
    if exposes:
        lo = exposes[0]
        names = results[lo]["param_names"]
        with np.load(out / f"{by_loader[lo].id}.npz") as z:
            arrays |= {f"p{i}": z[f"p{i}"] for i in range(len(names))}
        table["param_names"] = names
        table["params_from"] = lo
    else:
        table["param_names"] = []
    table["resume"], table["resume_note"], more = _resume_reference(
        [(lo, results[lo]) for lo in ok], out, by_loader, inputs or {})
    arrays |= more
    return table, arrays


def _sources(table: dict) -> str:
    """Which loader gave the reference's outputs and which its parameters."""
    outs, params = table.get("outputs_from"), table.get("params_from")
    if outs and params and outs != params and table.get("param_names"):
        return f"outputs: {outs}; parameters: {params}"
    return outs or params or "?"


def _no_producer_step(why: str) -> str:
    """Why a fixture whose reference is not the producer's has no training check."""
    return f"not checked: no step under the producer's TF to compare with ({why})"


def _resume_reference(ok: list[tuple[str, dict]], out: Path, by_loader: dict,
                      inputs: dict) -> tuple[str | None, str | None, dict]:
    """The training check's reference from the producer's TF: the first loader that took the
    resume step (labels chosen from the model's own outputs) gives the batch, the optimizer's
    iteration count and the weights after the step, as a zoo save side does.  Else None and
    why training is not checked."""
    why = "not checked: the artifact comes back with no optimizer (saved uncompiled, or a " \
          "format that keeps none)"
    for lo, res in ok:
        info = res.get("resume") or {}
        names = res.get("resume_param_names")
        if info.get("error"):
            why = f"cannot resume under the producer's TF either ({lo}: " \
                  f"{info['error'][:200]})"
        elif info.get("skipped"):
            why = f"not checked: no training step to compare with ({info['skipped'][:200]})"
        elif names is not None:
            n_labels = len(info.get("label_names") or [0])
            with np.load(out / f"{by_loader[lo].id}.npz") as z:
                arrays = {f"r{i}": z[f"r{i}"] for i in range(len(names))}
                arrays |= {f"ry{i}": z[f"ry{i}"] for i in range(n_labels)}
            arrays |= {f"rx{i}": inputs[f"x{i}"] for i in range(len(inputs))}
            meta = {"param_names": names, "label_names": info.get("label_names"),
                    "iterations": info.get("iterations_loaded"),
                    "optimizer": info.get("optimizer"), "from": lo,
                    "labels": "the model's own outputs, shifted by one class"}
            return json.dumps(meta), None, arrays
    return None, why, {}


def _outputs_meta(arrays: dict) -> list[dict]:
    ys = sorted((k for k in arrays if k.startswith("y")), key=lambda k: int(k[1:]))
    return [{"name": f"output_{i}", "dtype": str(arrays[k].dtype),
             "shape": [int(d) for d in arrays[k].shape]} for i, k in enumerate(ys)]


# -- add ---------------------------------------------------------------------------------------
def input_specs(artifact: Path, info: dict) -> tuple[list[dict], dict | None, str | None]:
    """(specs, tf.Example features or None, signature name) from what inspect read and the
    artifact's own config."""
    fmt = info.get("format")
    sigs = info.get("signatures") or {}
    if fmt in ("savedmodel", "keras-savedmodel"):
        sig = sigs.get("serving_default")
        if sig is None:
            raise UserError(f"{artifact}: no serving_default signature (it has "
                            f"{', '.join(sigs) or 'none'}); give --inputs X.npz")
        specs = synth.specs_from_signature(sig)
        if sig.get("method") in synth.EXAMPLE_METHODS and \
                [s["dtype"] for s in specs] == ["string"]:
            return specs, _example_features(sigs), "serving_default"
        return specs, None, "serving_default"
    if fmt in ("tflite", "tflite-dynamic", "onnx"):
        sig = next(iter(sigs.values()), {})
        return synth.specs_from_signature(sig), None, None
    entry = Path(info.get("entry") or artifact)
    if fmt == "keras":
        return synth.specs_from_keras_config(synth.keras_zip_config(entry)), None, None
    if fmt == "h5":
        return synth.specs_from_keras_config(synth.h5_model_config(entry)), None, None
    return [], None, None


def _example_features(sigs: dict) -> dict:
    """The features a TF1 regress/classify signature parses, as far as the signatures tell:
    the float inputs the SavedModel's `predict` signatures take by the same graph."""
    feats = {}
    for sig in sigs.values():
        if sig.get("method") == "tensorflow/serving/predict":
            for name, t in (sig.get("inputs") or {}).items():
                if (t or {}).get("dtype") != "string":
                    feats[name] = {"dtype": t.get("dtype"), "shape": t.get("shape")}
    if not feats:
        raise UserError("the serving_default signature takes tf.Example protos and no predict "
                        "signature names their features: give --inputs X.npz")
    return feats


def add(artifact: Path, root: Path, name: str, opts: Options, *, inputs: Path | None = None,
        expected: Path | None = None, tf: str | None = None, custom_objects: Path | None = None,
        origin: str | None = None, license: str | None = None, description: str | None = None,
        tolerance: tuple[float, float] | None = None, require_producer: bool = True,
        replace: bool = False, outputs: list[str] | None = None) -> Fixture:
    from .inspect import check_artifact, inspect_artifacts, problem

    check_name(name)
    artifact = Path(artifact)
    check_artifact(artifact)
    dest = Path(root) / name
    if dest.exists() and not replace:
        raise UserError(f"{dest} exists: a fixture is never overwritten (remove it first)")
    if custom_objects is not None and not Path(custom_objects).is_file():
        raise UserError(f"--custom-objects {custom_objects}: no such file")
    opts.say(f"inspect {artifact} (TF {opts.inspect_tf})")
    (info,) = inspect_artifacts([artifact], opts.inspect_tf, opts.cache_dir,
                                cell_timeout=opts.cell_timeout)
    bad = problem(info)
    if bad:
        raise UserError(bad)
    fmt = info["format"]
    producer = producer_of(info, tf)
    if not producer.get("tf") and require_producer and fmt in SILENT_FORMATS:
        what = ("a checkpoint records no producer" if "checkpoint" in fmt else
                f"this {fmt} artifact records no TF version"
                + (f" ({producer['source']})" if producer.get("source") else ""))
        raise UserError(f"{artifact}: {what}: give --tf VERSION (the TF that wrote it)")
    if fmt == "frozen-graph" and not outputs:
        raise UserError(f"{artifact}: a frozen GraphDef does not say which tensors are its "
                        "outputs: give --outputs TENSOR[,TENSOR] (e.g. y:0)")
    if fmt in ("tf-checkpoint", "weights-h5", "weights-h5-v3") and not inputs:
        if fmt != "tf-checkpoint" and defines_build_model(custom_objects):
            raise UserError(f"{artifact}: a weights file records no inputs: give --inputs "
                            "X.npz (arrays named after the inputs of the model build_model() "
                            "returns) to check `model.load_weights` with your build_model()")
        specs, example, signature = [], None, None  # values only: nothing to predict
    elif inputs and fmt == "tf1-checkpoint":
        specs, example, signature = _placeholder_specs(info, inputs), None, None
        if specs and not outputs:
            raise UserError(f"{artifact}: inputs named after its placeholders "
                            f"({', '.join(s['tensor'] for s in specs)}) need the tensors to "
                            "fetch: give --outputs TENSOR[,TENSOR] (e.g. pred:0)")
    elif inputs:
        specs, example, signature = input_specs(artifact, info) if fmt != "frozen-graph" \
            else (_graph_specs(info), None, None)
    else:
        if fmt in ("frozen-graph", "tf1-checkpoint"):
            raise UserError(f"{artifact}: a {fmt} does not say its input shapes: give "
                            "--inputs X.npz")
        specs, example, signature = input_specs(artifact, info)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=_parent(root)))
    try:
        art_name = artifact.name if artifact.exists() else artifact.name + "-checkpoint"
        if fmt in ("tf-checkpoint", "tf1-checkpoint"):
            files, _ = staging.checkpoint_files(artifact)
            (tmp / ARTIFACT_DIR / art_name).mkdir(parents=True)
            for f in files:
                shutil.copy2(f, tmp / ARTIFACT_DIR / art_name / f.name)
        elif artifact.is_dir():
            shutil.copytree(artifact, tmp / ARTIFACT_DIR / art_name, symlinks=False)
        else:
            (tmp / ARTIFACT_DIR).mkdir()
            shutil.copy2(artifact, tmp / ARTIFACT_DIR / art_name)
        if inputs:
            arrays, given_specs = synth.given_inputs(inputs, specs)
            for g, s in zip(given_specs, specs or given_specs, strict=False):
                g["name"] = s.get("name", g["name"])
                if s.get("tensor"):
                    g["tensor"] = s["tensor"]
            specs, how = given_specs, f"given ({Path(inputs).name})"
        elif specs:
            arrays = synth.synthesize(specs, example_features=example)
            how = synth.how(specs, example is not None)
        else:
            arrays, how = {}, "none: the artifact holds values only"
        np.savez(tmp / INPUTS_FILE, **arrays)
        in_meta = [{"name": s["name"], "dtype": "string" if arrays[f"x{i}"].dtype.kind in "US"
                    else str(arrays[f"x{i}"].dtype),
                    "shape": [int(d) for d in arrays[f"x{i}"].shape]}
                   | ({"tensor": s["tensor"]} if s.get("tensor") else {})
                   | ({"features": json.dumps(example)} if example and i == 0 else {})
                   for i, s in enumerate(specs)]
        data = {"name": name, "format": fmt, "artifact": f"{ARTIFACT_DIR}/{art_name}",
                "description": description, "on_disk_format": _on_disk(info),
                "custom_objects": CUSTOM_OBJECTS_FILE if custom_objects else None,
                "inputs_source": how, "signature": signature,
                "producer": {k: v for k, v in producer.items() if v} or None,
                "origin": {"source": origin or str(artifact.resolve()), "license": license,
                           "added": clock.iso(), "by": "harness fixtures add"},
                "inputs": in_meta,
                "outputs": [{"name": t.split(":")[0], "tensor": t if ":" in t else f"{t}:0"}
                            for t in outputs or []]}
        if custom_objects:
            shutil.copy2(custom_objects, tmp / CUSTOM_OBJECTS_FILE)
        ref, out_arrays = _reference(tmp, data, producer, opts, expected)
        if tolerance:
            ref["tolerance"] = list(tolerance)
        data["reference"] = ref
        tensors = [o.get("tensor") for o in data["outputs"]]
        data["outputs"] = _outputs_meta(out_arrays)
        for o, t in zip(data["outputs"], tensors, strict=False):
            if t:
                o["name"], o["tensor"] = t.split(":")[0], t
        np.savez(tmp / EXPECTED_FILE, **out_arrays)
        return _publish(tmp, dest, data, replace=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _graph_specs(info: dict) -> list[dict]:
    sig = (info.get("signatures") or {}).get("graph") or {}
    return [{"name": n.split(":")[0], "dtype": synth._dtype((t or {}).get("dtype") or "float32"),
             "shape": None, "tensor": f"{n}:0" if ":" not in n else n}
            for n, t in (sig.get("inputs") or {}).items()]


def _placeholder_specs(info: dict, inputs: Path) -> list[dict]:
    """A TF1 checkpoint's inputs the user's .npz names after the .meta graph's placeholders
    (an array `X` feeds `X:0`; a label placeholder left out is not fed).  None named so: the
    zoo's own `x:0`, as before."""
    try:
        with np.load(inputs, allow_pickle=False) as z:
            names = set(z.files)
    except (OSError, ValueError):
        return []  # given_inputs says what is wrong with the file
    found = ((info.get("signatures") or {}).get("graph") or {}).get("placeholders") or []
    return [{"name": p, "dtype": "float32", "shape": None, "tensor": f"{p}:0"}
            for p in found if p in names]


def _on_disk(info: dict) -> str | None:
    fmt = info.get("format")
    return {"savedmodel": "savedmodel-directory", "keras-savedmodel": "savedmodel-directory",
            "keras": "zip", "h5": "hdf5", "weights-h5": "hdf5", "weights-h5-v3": "hdf5",
            "tflite": "tflite-flatbuffer",
            "tflite-dynamic": "tflite-flatbuffer", "onnx": "onnx-protobuf",
            "frozen-graph": "graphdef-protobuf", "tf-checkpoint": "tf2-object-checkpoint",
            "tf1-checkpoint": "tf1-saver-checkpoint"}.get(fmt)


def _parent(root: Path) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _reference(tmp: Path, data: dict, producer: dict, opts: Options,
               expected: Path | None) -> tuple[dict, dict]:
    """The reference table of fixture.toml and expected.npz's arrays, from the producer's
    environment, else --expected, else the oldest target that loads it."""
    spec = producer_spec(producer)
    env, why = usable_env(spec, opts)
    if spec is None and producer.get("era"):
        why = (f"a {producer['era']}-era file (Keras {producer.get('keras')}, which names no "
               "TF release): its TF cannot be named, so it is not run here")
    if env is not None:
        opts.say(f"reference: loading with TF {spec} (the producer) in {env.backend}")
        env.create()
        got = run_reference(tmp, data, env, opts)
        if got and "errors" not in got[0]:
            table, arrays = got
            return {"source": "producer",
                    "detail": f"computed under TF {table['versions'].get('tf')} / Keras "
                              f"{table['versions'].get('keras')} ({spec}, {env.backend}), the "
                              f"producer's version", **table}, arrays
        why = (f"the producer's TF {spec} loads it with no loader: "
               + "; ".join(f"{k}: {v}" for k, v in (got or ({"errors": {}},))[0]["errors"]
                           .items())[:400])
    if expected is not None:
        try:
            with np.load(expected, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise UserError(f"--expected {expected}: not a readable .npz ({exc})") from None
        ys = [k for k in arrays if k.startswith("y") and k[1:].isdigit()]
        if not ys:
            ys = list(arrays)
            arrays = {f"y{i}": arrays[k] for i, k in enumerate(ys)}
        return {"source": "given", "detail": f"given with --expected ({Path(expected).name}); "
                f"not computed: {why}", "param_names": [],
                "resume_note": _no_producer_step(why)}, \
            {k: v for k, v in arrays.items() if k.startswith("y")}
    raised: list[str] = []  # what each loader said under each target, for the refusal
    values_only = None  # a target where only a raw reader (h5py.File) read it: no predictions
    for target in opts.fallback:
        try:
            env = _environment(target, opts, "uv")
        except HarnessError as exc:
            raised.append(f"TF {target}: no environment ({exc})")
            continue
        opts.say(f"reference: {why}; loading with TF {target}, the oldest target"
                 + (" that may predict with it" if values_only else ""))
        env.create()
        got = run_reference(tmp, data, env, opts)
        if got and "errors" in got[0]:
            raised.append(f"TF {target}: " + "; ".join(
                f"{lo} {' '.join(err.split())[:160]}" for lo, err in got[0]["errors"].items()))
        if got and "errors" not in got[0]:
            table, arrays = got
            # a step under a target is no reference for the same step under the targets
            table |= {"resume": None, "resume_note": _no_producer_step(why)}
            arrays = {k: v for k, v in arrays.items() if not k.startswith("r")}
            found = {"source": "oldest-target",
                     "detail": f"taken from TF {table['versions'].get('tf')} / Keras "
                               f"{table['versions'].get('keras')}, the oldest target that "
                               + ("predicts with it; older ones read only its stored values "
                                  if values_only else "loads it ")
                               + f"({_sources(table)}), "
                               f"not from the producer: {why}", **table}, arrays
            if any(k.startswith("y") for k in arrays) or target == opts.fallback[-1]:
                return found
            # only the stored values, no predictions (a Keras 3 .keras under Keras 2's
            # h5py.File): a newer target that predicts makes the reference, if one does
            values_only = values_only or found
            opts.say(f"reference: TF {target} reads only its stored values; trying the next "
                     "target for predictions")
    if values_only is not None:
        return values_only
    raise UserError(f"no reference for {data['name']}: {why}; and no target TF "
                    f"({', '.join(opts.fallback)}) loads it"
                    + (f" ({' | '.join(raised)})" if raised else "")
                    + "; give --expected Y.npz")


# -- freeze ------------------------------------------------------------------------------------
def freeze(tf: str, models: list[str], formats: list[str], root: Path, opts: Options, *,
           replace: bool = False) -> list[Fixture]:
    """Save zoo models under TF `tf` and keep each artifact as a fixture
    `<model>-<format>-tf<version>`.  Each artifact comes from its own worker (save_batches):
    no format's bytes depend on which formats were saved before it from the same live model."""
    from ..envs import get_backend
    from ..plan.specs import EnvSpec
    from ..run import batch as execute
    from ..vocab import MODELS

    spec = EnvSpec.parse(tf)
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise UserError(f"--models: {bad[0]!r} is not a zoo model ({', '.join(MODELS)})")
    bad = [f for f in formats if f not in FORMAT_LOADERS]
    if bad:
        raise UserError(f"--formats: {bad[0]!r} is not a format ({', '.join(FORMAT_LOADERS)})")
    env = get_backend(opts.backend)(spec, opts.cache_dir)
    env.check()
    opts.say(f"freeze: preparing TF {tf} ({opts.backend})")
    env.create()
    version = env.info.get("tf") or tf
    names = {(m, f): check_name(f"{m}-{f}-tf{version}") for m in models for f in formats}
    existing = [n for n in names.values() if (Path(root) / n).exists()]
    if existing and not replace:
        raise UserError(f"{Path(root) / existing[0]} exists: a fixture is never overwritten "
                        "(remove it first)")
    work = Path(tempfile.mkdtemp(prefix="harness-freeze-"))
    made = []
    try:
        results: dict = {}
        for (req,) in save_batches(list(names), work):
            opts.say(f"freeze: saving {names[req.model, req.format]}")
            execute.run_batch(env, "save", [req], work / "out" / req.id,
                              cell_timeout=opts.cell_timeout,
                              on_result=lambda r, res: results.__setitem__((r.model, r.format),
                                                                           res))
        for (m, f), name in names.items():
            res = results.get((m, f), {})
            if res.get("status") != "ok":
                opts.say(f"freeze: {name}: not saved ({res.get('status')}: "
                         f"{res.get('error_type') or ''} {str(res.get('error') or '')[:150]})")
                continue
            made.append(_seal_frozen(_save_dir(work, m, f), f, name, m, env, Path(root),
                                     replace))
            opts.say(f"freeze: {made[-1].summary()}")
    finally:
        execute.kill_all()
        shutil.rmtree(work, ignore_errors=True)
    return made


def _save_dir(work: Path, model: str, fmt: str) -> Path:
    return work / f"{model}--{fmt}"


def save_batches(pairs: list[tuple[str, str]], work: Path) -> list[list[SaveRequest]]:
    """One worker batch per (model, format), each with its own reference folder: a save
    worker builds a model once and saves every format it is asked for from that one live
    object, and a save can change it (Keras 3's legacy `.h5` save drops the optimizer from
    the model's compile config, so a `.keras` saved after it held no optimizer).  A fresh
    worker builds the model from the zoo's fixed seeds for each artifact, and the reference
    beside it is that worker's own save side."""
    return [[SaveRequest(f"s{i:03d}", m, f, _save_dir(work, m, f) / f, _save_dir(work, m, f))]
            for i, (m, f) in enumerate(dict.fromkeys(pairs))]


def _seal_frozen(ref_dir: Path, fmt: str, name: str, model: str, env, root: Path,
                 replace: bool) -> Fixture:
    meta = json.loads((ref_dir / "reference.json").read_text())
    manifest = json.loads((ref_dir / fmt / "manifest.json").read_text())
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=_parent(root)))
    try:
        shutil.copytree(ref_dir / fmt, tmp / ARTIFACT_DIR)
        with np.load(ref_dir / "reference.npz") as z:
            arrays = {k: z[k] for k in z.files}
        xs = {k: v for k, v in arrays.items() if k[0] == "x" and k[1:].isdigit()}
        if not xs and "inputs" in arrays:
            xs = {"x0": arrays["inputs"]}
        np.savez(tmp / INPUTS_FILE, **xs)
        np.savez(tmp / EXPECTED_FILE, **{k: v for k, v in arrays.items()
                                         if k not in xs and k != "inputs"})
        producer = manifest.get("producer") or meta.get("versions") or {}
        versions = {k: producer.get(k) for k in ("tf", "keras", "numpy", "python")
                    if producer.get(k)}
        data = {"name": name, "format": fmt, "artifact": ARTIFACT_DIR, "zoo_model": model,
                "description": f"zoo model `{model}` saved as {fmt} by the harness under TF "
                               f"{versions.get('tf')} / Keras {versions.get('keras')}",
                "on_disk_format": manifest.get("on_disk_format"),
                "inputs_source": "the zoo's fixed-seed inputs",
                "producer": versions | {"spec": env.spec.label, "backend": env.backend,
                                        "source": "harness fixtures freeze"},
                "origin": {"source": "tf-compat-harness zoo (harness fixtures freeze)",
                           "license": "Apache-2.0", "added": clock.iso(),
                           "by": "harness fixtures freeze"},
                "reference": {"source": "producer",
                              "detail": f"the save worker's own predictions and parameters "
                                        f"under TF {versions.get('tf')}",
                              "scope": meta.get("scope", model), "versions": versions,
                              "param_names": meta.get("param_names") or [],
                              "resume": json.dumps(meta["resume"]) if meta.get("resume")
                              else None},
                "inputs": meta.get("inputs") and [_nonnull(i) for i in meta["inputs"]],
                "outputs": meta.get("outputs") and [_nonnull(o) for o in meta["outputs"]]}
        if not data["outputs"]:
            data["outputs"] = _outputs_meta(arrays)
        if not data["inputs"]:
            data["inputs"] = [{"name": "x", "dtype": str(v.dtype), "shape": list(v.shape)}
                              for v in xs.values()]
        return _publish(tmp, root / name, data, replace=replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, dest: Path, data: dict, *, replace: bool) -> Fixture:
    """Write fixture.toml into a staged folder and move it into place: a fixture appears whole
    or not at all."""
    from .model import read

    if dest.exists() and replace:
        shutil.rmtree(dest)
    write(tmp, data)
    tmp.rename(dest)
    return read(dest)


def _nonnull(d: dict) -> dict:
    """TOML has no null: an unknown dimension is written as -1."""
    out = {k: v for k, v in d.items() if v is not None}
    if isinstance(out.get("shape"), list):
        out["shape"] = [-1 if s is None else s for s in out["shape"]]
    return out
