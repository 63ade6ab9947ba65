"""`.tflite` files a user brings, in real TF: a sparse (DENSIFY) file that TF's own converter
writes goes through `harness try` (its producer read from CONVERSION_METADATA) with the
parameter listing in a forked copy of the
interpreter (harness/worker/isolate.py; its crash handling is in test_isolate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import cli, procs
from harness.results import read_run

SPARSE = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
rng = np.random.default_rng(0)
inp = tf.keras.Input((64,), name="x")
hidden = tf.keras.layers.Dense(64, activation="relu")
model = tf.keras.Model(inp, tf.keras.layers.Dense(4, activation="sigmoid")(hidden(inp)))
k, b = hidden.get_weights()
k[rng.random(k.shape) < 0.9] = 0  # pruned: the converter stores it sparse, read via DENSIFY
hidden.set_weights([k, b])
conv = tf.lite.TFLiteConverter.from_keras_model(model)
conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
open(sys.argv[1], "wb").write(conv.convert())
interp = tf.lite.Interpreter(model_path=sys.argv[1])
print("OPS", [d["op_name"] for d in interp._get_ops_details()])
'''


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.tf
def test_try_a_sparse_densify_tflite_passes_where_the_interpreter_runs_it(
        tmp_path, cache_dir, uv_available, capsys):
    from harness.envs.uv import UvEnvironment
    from harness.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.15"), cache_dir)  # a 2.14+ converter
    env.create()
    (tmp_path / "make.py").write_text(SPARSE)
    lite = tmp_path / "pruned.tflite"
    res = procs.run([str(env.interpreter), "-I", str(tmp_path / "make.py"), str(lite)],
                    env=env.worker_env(), timeout=600)
    assert lite.is_file(), res.stderr[-2000:]
    assert "'DENSIFY'" in res.stdout  # the file really holds a sparse tensor
    rc, out, err = _cli(["try", str(lite), "--load", "2.15,2.16",
                         "--cache-dir", str(cache_dir), "--results-dir", str(tmp_path / "r")],
                        capsys)
    rows = read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows
    native = {r["load_tf"]: r for r in rows if r["loader"] == "tf.lite.Interpreter"}
    # no --tf: the producer is the converter's TF, recorded in CONVERSION_METADATA
    assert "written by TF 2.15.1 (artifact: CONVERSION_METADATA" in out, out + err
    assert "reference: computed under TF 2.15.1" in out, out
    for load in ("2.15", "2.16"):
        assert native[load]["status"] == "pass", (native[load], out, err)
        notes = native[load]["notes"]
        # the listing ran to its end in the forked copy: it found the reference weights
        assert "parameter_listing" not in notes, notes
        assert notes["params"].startswith("not exposed by name"), notes
        # found by running: the sparse kernel (its 384 stored values, read by DENSIFY) and the
        # head's kernel; the zero biases are folded away by the converter
        assert notes["constants_listed"] == 2, notes
    assert rc == 0, out + err


@pytest.mark.tf
def test_inspect_prints_the_converters_tf_of_a_real_tflite(tmp_path, cache_dir, uv_available,
                                                          capsys):
    from harness.envs.uv import UvEnvironment
    from harness.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.15"), cache_dir)
    env.create()
    (tmp_path / "make.py").write_text(SPARSE)
    lite = tmp_path / "pruned.tflite"
    procs.run([str(env.interpreter), "-I", str(tmp_path / "make.py"), str(lite)],
              env=env.worker_env(), timeout=600)
    rc, out, err = _cli(["inspect", str(lite), "--tf", "2.21", "--cache-dir", str(cache_dir)],
                        capsys)
    assert rc == 0, err
    assert ("converter: TF 2.15.1 (CONVERSION_METADATA; converted from KERAS_MODEL; "
            "RANDOM_SPARSITY); needs a TFLite runtime >= 2.2.0") in out, out
    assert "variables: 2, parameters: 4352" in out, out  # listed in the forked copy


@pytest.mark.tf
def test_a_segfault_in_the_listing_leaves_the_user_calls_outputs_to_be_judged(
        tmp_path, cache_dir, uv_available, monkeypatch):
    """A real worker, a real zoo .tflite, a real SIGSEGV in the listing's forked copy (the
    worker's test hook; the sparse file that did it is not redistributable): the cell's result
    is the interpreter's outputs, equal to the reference, with the step that crashed named; the
    same worker goes on and lists the next cell's tensors."""
    import numpy as np

    from harness import execute
    from harness.compare import compare_predictions
    from harness.envs.uv import UvEnvironment
    from harness.specs import EnvSpec

    monkeypatch.setenv("HARNESS_WORKER_TEST_HOOKS", "1")
    env = UvEnvironment(EnvSpec.parse("2.12"), cache_dir)
    env.create()
    art = tmp_path / "save"
    saved = {}
    execute.run_batch(env, "save", [{"id": "s0", "model": "mlp", "format": "tflite",
                                     "artifact_dir": str(art / "tflite"),
                                     "reference_dir": str(art)}], tmp_path / "w1",
                      cell_timeout=600, on_result=lambda r, res: saved.update(res))
    assert saved.get("status") == "ok", saved
    load = {"model": "mlp", "format": "tflite", "loader": "tf.lite.Interpreter",
            "artifact_dir": str(art / "tflite"), "reference_dir": str(art)}
    results = {}
    execute.run_batch(env, "load", [load | {"id": "l0", "test_hook": "segfault_in_child"},
                                    load | {"id": "l1"}], tmp_path / "w2", cell_timeout=600,
                      on_result=lambda r, res: results.__setitem__(r["id"], res))
    crashed, clean = results["l0"], results["l1"]
    assert crashed["status"] == "ok", crashed  # not a crash: the user's calls succeeded
    assert crashed["notes"]["parameter_listing"] == ("parameter listing crashed (SIGSEGV); "
                                                     "outputs judged alone")
    with np.load(tmp_path / "w2" / "l0.npz") as got, np.load(art / "reference.npz") as ref:
        rep = compare_predictions([got["y0"]], [ref["y0"]], floor=(1e-5, 1e-5))
    assert rep.within, rep
    assert clean["status"] == "ok" and "parameter_listing" not in clean["notes"]
    assert clean["notes"]["constants_listed"] == 4  # two kernels, two biases
