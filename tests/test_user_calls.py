"""Issue 8, for real: models built as users build them, loaders called as users call them,
Keras 2 (TF 2.12) <-> Keras 3 (TF 2.16) both ways.  The expected statuses were found by running
`harness run --save 2.12,2.16 --load 2.12,2.16 --models ...`; if an upstream release changes
one, the failure names the cell and its error."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from harness.envs.uv import UvEnvironment
from harness.runner import Run, RunOptions
from harness.specs import EnvSpec
from harness.vocab import FORMAT_LOADERS, FORMATS, MODELS

pytestmark = [pytest.mark.tf, pytest.mark.crossversion]

DIRECTIONS = [("2.12", "2.12"), ("2.12", "2.16"), ("2.16", "2.12"), ("2.16", "2.16")]
P, M, LE, SE, U = "pass", "mismatch", "load-error", "save-error", "unsupported"
LM = "keras.models.load_model"
CO, COR, NCC = f"{LM}[custom_objects]", f"{LM}[custom_objects=registered]", \
    f"{LM}[no_custom_code]"

FORMATS_RUN = ("keras", "keras-v3", "h5", "weights-h5", "weights-h5-v3", "weights-tf",
               "savedmodel", "tf-checkpoint")

# (model, format, loader) -> statuses for 2.12->2.12, 2.12->2.16, 2.16->2.12, 2.16->2.16
EXPECTED: dict[tuple[str, str, str], list[str]] = {
    # the user's legacy weights call: its 2.12 file loads bit-exact under Keras 3, which
    # refuses to write it ("must end in `.weights.h5`")
    ("seq", "weights-h5", "model.load_weights"): [P, P, SE, SE],
    ("seq", "weights-h5-v3", "model.load_weights"): [P, LE, LE, P],
    # Keras 2 TF-format weights: Keras 3 cannot write them, nor read them
    ("seq", "weights-tf", "model.load_weights"): [P, LE, U, U],
    ("seq", "weights-tf", "tf.train.load_checkpoint"): [P, P, U, U],
    # the string-compiled tutorial model: no `reduction=auto` break; but a Keras 3 h5 model
    # loaded with compile cannot train ("Unknown variable ... optimizer"): resume mismatch
    ("seq", "h5", LM): [P, M, LE, M],
    ("seq", "h5", f"{LM}[compile=False]"): [P, P, LE, P],
    ("seq", "keras-v3", LM): [P, LE, LE, P],
    ("seq", "keras", LM): [P, LE, LE, P],
    ("seq", "savedmodel", "tf.saved_model.load"): [P, P, P, P],
    # a Keras 3 model saved by tf.saved_model.save: '_UserObject' object is not callable
    ("seq", "savedmodel", "tf.saved_model.load[call]"): [P, P, LE, LE],
    ("seq", "tf-checkpoint", "tf.train.Checkpoint.restore"): [P, M, M, P],
    # an unregistered custom layer: only custom_objects finds it (Keras 2 and 3)
    ("custom_fn", "keras-v3", LM): [LE, LE, LE, LE],
    ("custom_fn", "keras-v3", CO): [P, LE, LE, P],
    ("custom_fn", "keras-v3", COR): [P, LE, LE, P],
    ("custom_fn", "keras-v3", NCC): [LE, LE, LE, LE],
    ("custom_fn", "keras", LM): [LE, LE, LE, LE],
    ("custom_fn", "keras", CO): [P, LE, LE, P],
    ("custom_fn", "h5", CO): [P, LE, LE, M],
    ("custom_fn", "h5", NCC): [LE, LE, LE, LE],
    ("custom_fn", "weights-h5-v3", "model.load_weights"): [P, P, LE, P],
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory, cache_dir, uv_available):
    opts = RunOptions(load_cache=False, save=["2.12", "2.16"], load=["2.12", "2.16"],
                      models=["seq", "custom_fn"], formats=list(FORMATS_RUN),
                      results_dir=tmp_path_factory.mktemp("results"), cache_dir=cache_dir)
    run = Run(opts).execute()
    return {(r["model"], r["format"], r["loader"], r["save_tf"], r["load_tf"]): r
            for r in run.rows()}


def _wrong(rows: dict, expected: dict) -> list[str]:
    wrong = []
    for (model, fmt, loader), statuses in expected.items():
        for (s, ld), want in zip(DIRECTIONS, statuses, strict=True):
            row = rows[(model, fmt, loader, s, ld)]
            if row["status"] != want:
                wrong.append(f"{model} {s}->{ld} {fmt} {loader}: {row['status']} (expected "
                             f"{want}) {row.get('error_type')}: {str(row.get('error'))[:240]}")
    return wrong


def test_statuses_are_what_the_versions_do(rows):
    assert not (wrong := _wrong(rows, EXPECTED)), "\n".join(wrong)


def test_resume_says_why_and_the_default_loader_differs_from_custom_objects(rows):
    lost = rows[("seq", "h5", LM, "2.16", "2.16")]
    assert lost["resume_ok"] is False and "Unknown variable" in lost["error"]
    assert rows[("seq", "keras-v3", LM, "2.12", "2.12")]["resume_ok"] is True
    assert rows[("seq", "h5", f"{LM}[compile=False]", "2.12", "2.12")]["resume_ok"] is None
    assert rows[("seq", "weights-h5", "model.load_weights", "2.16", "2.16")]["error"].find(
        ".weights.h5") >= 0
    default = rows[("custom_fn", "keras-v3", LM, "2.16", "2.16")]
    assert "Could not locate class" in default["error"]
    assert rows[("custom_fn", "keras-v3", CO, "2.16", "2.16")]["status"] == P


def test_vocabulary_loaders_and_worker_loaders_are_the_same(cache_dir, uv_available):
    """Every loader named in harness/vocab.py has an implementation in the worker, and the
    worker implements no loader the vocabulary does not name (asked of a real TF 2.16
    environment's interpreter, which imports the worker's formats)."""
    env = UvEnvironment(EnvSpec.parse("2.16"), cache_dir)
    env.prepare()
    snippet = textwrap.dedent(f"""
        import importlib.util, json, sys
        here = {str(_worker_dir())!r}
        spec = importlib.util.spec_from_file_location(
            "tfh_worker", here + "/__init__.py", submodule_search_locations=[here])
        pkg = importlib.util.module_from_spec(spec)
        sys.modules["tfh_worker"] = pkg
        spec.loader.exec_module(pkg)
        from tfh_worker.formats import FORMATS
        from tfh_worker.zoo import MODELS
        print("RESULT" + json.dumps({{"loaders": {{n: sorted(m.LOADERS) for n, m in
                                                 FORMATS.items()}}, "models": list(MODELS)}}))
    """)
    out = subprocess.run([str(env.interpreter), "-I", "-c", snippet], capture_output=True,
                         text=True, timeout=300, env=env.worker_env() | {"PATH": "/usr/bin"})
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    assert line, out.stderr[-2000:]
    worker = json.loads(line[0].removeprefix("RESULT"))
    assert set(worker["loaders"]) == set(FORMATS)
    for fmt in FORMATS:
        assert sorted(FORMAT_LOADERS[fmt]) == worker["loaders"][fmt], fmt
    assert tuple(worker["models"]) == MODELS


def _worker_dir():
    from pathlib import Path

    import harness

    return Path(harness.__file__).parent / "worker"


@pytest.mark.parametrize("version", ["2.12", "2.16"])
def test_hiding_the_custom_code_is_what_a_fresh_process_sees(tmp_path, cache_dir, uv_available,
                                                             version):
    """The custom-code variants in a worker that already imported the zoo's custom module and
    loaded with it (classes registered) give the same cells as fresh workers that never
    imported it: same status, same error type and message."""
    from harness import execute

    env = UvEnvironment(EnvSpec.parse(version), cache_dir)
    env.prepare()
    art = tmp_path / "art"
    saves = [{"id": f"s-{m}-{f}", "model": m, "format": f, "artifact_dir": str(art / m / f),
              "reference_dir": str(art / m)}
             for m in ("custom", "custom_fn") for f in ("keras-v3", "h5")]
    saved: dict = {}
    execute.run_batch(env, "save", saves, tmp_path / "save",
                      on_result=lambda req, res: saved.__setitem__(req["id"], res))
    # a subclassed model has no HDF5 form under Keras 2 (a save-error); the rest must save
    assert all(r["status"] == "ok" for k, r in saved.items() if k != "s-custom-h5"), saved
    saves = [s for s in saves if saved[s["id"]]["status"] == "ok"]

    def load(loader: str, s: dict, tag: str) -> dict:
        return {"id": f"{tag}-{s['model']}-{s['format']}-{_variant(loader)}",
                "model": s["model"], "format": s["format"], "loader": loader,
                "artifact_dir": s["artifact_dir"], "reference_dir": s["reference_dir"]}

    variants = (CO, COR, NCC)
    # one worker: the default loader first (module imported, classes registered), then each
    # variant; then each variant in a fresh worker of its own
    warm = [load(ld, s, "warm") for s in saves for ld in (LM, *variants)]
    got: dict = {}
    execute.run_batch(env, "load", warm, tmp_path / "warm",
                      on_result=lambda req, res: got.__setitem__(req["id"], res))
    for i, req in enumerate(load(ld, s, "fresh") for s in saves for ld in variants):
        execute.run_batch(env, "load", [req], tmp_path / f"fresh{i}",
                          on_result=lambda req, res: got.__setitem__(req["id"], res))
    differ = []
    for key in [k for k in got if k.startswith("fresh-")]:
        warm_key = "warm-" + key.removeprefix("fresh-")
        a, b = got[key], got[warm_key]
        if (a["status"], a.get("error_type"), a.get("error")) != \
                (b["status"], b.get("error_type"), b.get("error")):
            differ.append(f"{key}: fresh {a['status']} {a.get('error')!r:.200} / after the "
                          f"module was imported {b['status']} {b.get('error')!r:.200}")
    assert not differ, "\n".join(differ)
    # and the variants are not the default loader in disguise: some cell differs from it
    assert any(got[f"warm-{s['model']}-{s['format']}-{_variant(v)}"]["status"]
               != got[f"warm-{s['model']}-{s['format']}-default"]["status"]
               for s in saves for v in variants)


def _variant(loader: str) -> str:
    return loader.split("[", 1)[1].rstrip("]").replace("=", "-") if "[" in loader else "default"
