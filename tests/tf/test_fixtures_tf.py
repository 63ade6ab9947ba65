"""The real-TF half of tests/unit/regression/test_fixtures.py
(its docstring says what both guard)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from support.paths import REPO

from harness import cli, procs
from harness.regression.model import read
from harness.results.store import read_run

FIXTURES = REPO / "fixtures"

EXTERNAL = REPO.parent / "shared" / "external-fixtures"


# -- real TF -------------------------------------------------------------------------------------
def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason=f"external fixtures not at {EXTERNAL}")
def test_add_and_verify_an_external_savedmodel(tmp_path, cache_dir, uv_available, capsys):
    src = EXTERNAL / "saved_model_half_plus_two_tf2_cpu" / "00000123"
    root = tmp_path / "fixtures"
    rc, out, err = _cli(["fixtures", "add", str(src), "--name", "hp2", "--dir", str(root),
                         "--license", "Apache-2.0", "--cache-dir", str(cache_dir)], capsys)
    assert rc == 0, err
    fx = read(root / "hp2")
    assert fx.format == "savedmodel" and fx.save_tf == "2.14.0"  # from meta_info_def
    assert fx.reference["source"] == "producer"  # TF 2.14 installs here
    with np.load(root / "hp2" / "inputs.npz") as x, np.load(root / "hp2" / "expected.npz") as y:
        np.testing.assert_array_equal(y["y0"], 0.5 * x["x0"] + 2)  # the model's own formula
    rc, out, err = _cli(["fixtures", "verify", "--dir", str(root), "--load", "2.21",
                         "--results-dir", str(tmp_path / "r"), "--run-id", "v",
                         "--cache-dir", str(cache_dir), "--quiet"], capsys)
    assert rc == 0, err
    rows = {r["loader"]: r for r in read_run(tmp_path / "r" / "v").rows}
    assert rows["tf.saved_model.load"]["status"] == "pass"
    assert rows["tf.saved_model.load"]["save_tf"] == "2.14.0"
    assert rows["tf.saved_model.load"]["save_env"]["reference"] == "producer"


SCRIPT = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
out = sys.argv[1]
inp = tf.keras.Input((6,), name="features")
h = tf.keras.layers.Dense(5, activation="tanh", name="hidden")(inp)
model = tf.keras.Model(inp, tf.keras.layers.Dense(2, name="head")(h))
model.compile(optimizer="sgd", loss="mse")
model.fit(np.ones((8, 6), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
model.save(os.path.join(out, "mine.h5"))
tf.saved_model.save(model, os.path.join(out, "exported", "1"))
'''


def test_try_on_my_own_h5_and_savedmodel_across_keras_2_and_3(tmp_path, cache_dir,
                                                              uv_available, capsys):
    from harness.envs.uv import UvEnvironment
    from harness.plan.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.16"), cache_dir)  # Keras 3 writes them
    env.create()
    (tmp_path / "make.py").write_text(SCRIPT)
    res = procs.run([str(env.interpreter), "-I", str(tmp_path / "make.py"), str(tmp_path)],
                    env=env.worker_env(), timeout=600)
    assert (tmp_path / "mine.h5").is_file(), res.stderr[-2000:]
    common = ["--load", "2.15,2.16", "--cache-dir", str(cache_dir),
              "--results-dir", str(tmp_path / "r")]
    # the .h5 records Keras 3.x and no TF version: --tf says who wrote it
    rc, out, err = _cli(["try", str(tmp_path / "mine.h5"), "--tf", "2.16", *common], capsys)
    assert "TF 2.15 (tf 2.15" in out and "TF 2.16 (tf 2.16" in out, out + err
    assert "reference: computed under TF 2.16" in out
    rows = read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows
    by = {(r["load_tf"], r["loader"]): r for r in rows}
    # found by running (Keras 3.15 / Keras 2.15): a Keras 3 `.h5` compiled with loss="mse" does
    # not compile back even in its own version; compile=False does.  Keras 2 cannot read the
    # Keras 3 InputLayer config at all.
    native = by[("2.16", "keras.models.load_model")]
    assert native["status"] == "load-error" and "keras.metrics.mse" in native["error"]
    assert by[("2.16", "keras.models.load_model[compile=False]")]["status"] == "pass"
    assert by[("2.16", "keras.models.load_model[compile=False]")]["params_equal"] == 4
    assert "instead: load with `keras.models.load_model(path, compile=False)`" in out
    old_keras = by[("2.15", "keras.models.load_model")]
    assert old_keras["status"] == "load-error" and "batch_shape" in old_keras["error"]
    assert by[("2.15", "h5py.File")]["status"] == "pass"  # the values are all there
    assert rc == 1
    # the SavedModel folder: producer from its meta_info_def
    rc, out, err = _cli(["try", str(tmp_path / "exported" / "1"), *common], capsys)
    assert "format savedmodel (from the bytes), written by TF 2.16" in out, out + err
    rows = read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows
    tf_load = {r["load_tf"]: r for r in rows if r["loader"] == "tf.saved_model.load"}
    assert tf_load["2.16"]["status"] == "pass"
    assert tf_load["2.16"]["params_total"] == 4  # hidden and head, kernel and bias
    assert rc == (0 if all(r["status"] == "pass" for r in tf_load.values()) else 1)


def test_a_checkpoint_without_tf_is_refused_with_the_reason(tmp_path, cache_dir, uv_available,
                                                            capsys):
    src = FIXTURES / "cnn-tf-checkpoint-tf2.12.1" / "artifact"
    if not src.is_dir():
        pytest.skip("the repository's fixtures are not there")
    ckpt = tmp_path / "ckpt"
    shutil.copytree(src, ckpt, ignore=shutil.ignore_patterns("manifest.json"))
    rc, out, err = _cli(["fixtures", "add", str(ckpt), "--name", "c", "--dir",
                         str(tmp_path / "fx"), "--cache-dir", str(cache_dir)], capsys)
    assert rc == 2
    assert "a checkpoint records no producer: give --tf VERSION" in err
    assert not (tmp_path / "fx" / "c").exists()


