"""`harness try` on artifacts as their users load them, in real TF:

- a TF 1.x SavedModel (TensorFlow Serving's test data, written by TF 1.14, ../shared) through
  `tf.compat.v1.saved_model.loader.load` in a Session, the call TF1-era serving code makes;
- a Keras 2 legacy `save_weights` file under the user's own name with the user's `build_model()`
  (`--custom-objects`), so `model.load_weights` gives the real verdict, and without it the
  refusal names what is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.paths import REPO

from harness import cli
from harness.results.store import read_run

pytestmark = [pytest.mark.tf]

SHARED = REPO.parent / "shared" / "external-fixtures"
TF1_SAVEDMODEL = SHARED / "saved_model_half_plus_two_cpu" / "00000123"
TF1 = "tf.compat.v1.saved_model.loader.load"
# the zoo's cnn, saved by model.save_weights("model_weights.h5") under TF 2.12 (fixtures/)
WEIGHTS = REPO / "fixtures" / "cnn-weights-h5-tf2.12.1" / "artifact" / "model_weights.h5"

CNN_CODE = '''"""The user's own model code: the architecture their weights were saved from."""
from tensorflow import keras


def build_model():
    x = keras.Input((16, 16, 3), name="x")
    h = keras.layers.Conv2D(8, 3, name="conv")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    return keras.Model(x, keras.layers.Dense(10, name="logits")(h), name="cnn")
'''


def _try(args: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main(["try", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _rows(out: str) -> list[dict]:
    return read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows


@pytest.mark.skipif(not TF1_SAVEDMODEL.is_dir(), reason=f"../shared not at {SHARED}")
def test_a_tf1_savedmodel_passes_under_2_21_with_the_tf1_session_loader(
        tmp_path, cache_dir, uv_available, capsys):
    rc, out, err = _try([str(TF1_SAVEDMODEL), "--load", "2.12,2.21", "--cache-dir",
                         str(cache_dir), "--results-dir", str(tmp_path / "r")], capsys)
    assert rc == 0, out + err
    rows = {(r["load_tf"], r["loader"]): r for r in _rows(out)}
    for load in ("2.12", "2.21"):
        row = rows[(load, TF1)]
        # y = 0.5x + 2 through the Session, and its two variables (a, b) read back exactly
        assert row["status"] == "pass", row
        assert row["max_abs_diff"] == 0.0
        assert row["params_total"] == 2 and row["params_equal"] == 2, row
        assert row["notes"]["session"].startswith("tf.compat.v1.Session")
    # the reference's parameters come from the loader that names them; tf.saved_model.load's
    # pruned TF1 signature lists none, which is said, not counted as "0/2"
    assert "parameters: tf.compat.v1.saved_model.loader.load" in out
    assert rows[("2.21", "tf.saved_model.load")]["status"] == "pass"
    assert "weights not compared: the serving signature lists no variables" in out
    assert f"pass        {TF1}  params 2/2 bit-identical, max |diff| 0" in out


def test_a_legacy_weights_file_with_the_users_build_model_gets_load_weights_verdicts(
        tmp_path, cache_dir, uv_available, capsys):
    user = tmp_path / "user"
    user.mkdir()
    weights = user / "my_cnn.h5"  # the user's own name, not the one the zoo writes
    weights.write_bytes(WEIGHTS.read_bytes())
    (user / "cnn_arch.py").write_text(CNN_CODE)
    rng = np.random.default_rng(0)
    np.savez(user / "x.npz", x=rng.random((4, 16, 16, 3), dtype=np.float32))
    common = ["--load", "2.12,2.16", "--cache-dir", str(cache_dir)]

    # without the inputs a weights file cannot be run: one line, exit 2, what to give
    rc, out, err = _try([str(weights), "--custom-objects", str(user / "cnn_arch.py"), *common,
                         "--results-dir", str(tmp_path / "r0")], capsys)
    assert rc == 2 and "give --inputs X.npz" in err and "Traceback" not in err, err

    rc, out, err = _try([str(weights), "--custom-objects", str(user / "cnn_arch.py"),
                         "--inputs", str(user / "x.npz"), *common,
                         "--results-dir", str(tmp_path / "r1")], capsys)
    rows = {(r["load_tf"], r["loader"]): r for r in _rows(out)}
    ref = rows[("2.12", "model.load_weights")]
    # the producer (Keras 2.12, read from the file) gives the reference: its own call passes
    assert ref["status"] == "pass" and ref["params_equal"] == ref["params_total"] == 8, ref
    assert ref["max_abs_diff"] == 0.0
    # under Keras 3 the same call is really made on the user's model: a verdict, not a skip
    upgraded = rows[("2.16", "model.load_weights")]
    assert upgraded["status"] in ("pass", "mismatch", "load-error"), upgraded
    assert upgraded["notes"].get("architecture", "").startswith("build_model()") or \
        upgraded["status"] == "load-error"
    assert "not checked: a weights file needs the model's architecture" not in out
    assert rc == (0 if upgraded["status"] == "pass" else 1), out

    # and without build_model(): the verdict says the architecture is what is missing
    rc, out, err = _try([str(weights), *common, "--results-dir", str(tmp_path / "r2")], capsys)
    assert "`model.load_weights` not checked: a weights file needs the model's architecture" \
        in out
    assert rc == 1


BASIC_PITCH = REPO / "tests" / "data" / "third-party" / "tflite" / "basic_pitch_nmp.tflite"


@pytest.mark.skipif(not BASIC_PITCH.is_file(), reason=f"{BASIC_PITCH} not in this checkout")
def test_a_runtime_side_difference_names_the_default_delegate_and_keeps_the_file(
        tmp_path, cache_dir, uv_available, capsys):
    # Spotify's Basic Pitch, converted by TF 2.13 (CONVERSION_METADATA): TF 2.21's interpreter
    # moves its sigmoids by a few 1e-5, most of it XNNPACK's (the same file without it)
    rc, out, err = _try([str(BASIC_PITCH), "--load", "2.13,2.21", "--cache-dir", str(cache_dir),
                         "--results-dir", str(tmp_path / "r")], capsys)
    rows = {(r["load_tf"], r["loader"]): r for r in _rows(out)}
    moved = rows[("2.21", "tf.lite.Interpreter")]
    assert moved["status"] == "mismatch" and moved["max_abs_diff"] < 1e-3, moved
    effect = moved["notes"]["default_delegate_max_abs_diff"]
    assert 0 < effect < 1e-3
    assert f"the default delegate (XNNPACK) alone moves them by {effect:.1e} under this TF" \
        in out
    assert "keep the file" in out and "re-save" not in out


def _suggested(out: str) -> list[list[str]]:
    """Every `harness ...` command the output tells the user to type, as argv."""
    import re
    import shlex

    return [shlex.split(c)[1:] for c in re.findall(r"`(harness [^`]+)`", out)]


def test_every_command_try_suggests_runs_as_printed(tmp_path, cache_dir, uv_available, capsys):
    """A Keras 2.12 `.keras` (HDF5 under that name) under Keras 3: try prints a migrate call and
    a legacy-Keras try; each, typed as printed, works (migrate writes and proves its file)."""
    art = tmp_path / "user" / "my model.keras"  # a space: the commands must quote it
    art.parent.mkdir()
    art.write_bytes((REPO / "fixtures" / "cnn-keras-tf2.12.1" / "artifact" / "model.keras")
                    .read_bytes())
    rc, out, err = _try([str(art), "--load", "2.16", "--cache-dir", str(cache_dir),
                         "--results-dir", str(tmp_path / "r")], capsys)
    commands = _suggested(out)
    assert {c[0] for c in commands} == {"migrate", "try"}, out
    for argv in commands:
        rc, got, err = _try_any(argv + ["--cache-dir", str(cache_dir), "--results-dir",
                                        str(tmp_path / "r2")], capsys)
        assert "internal error" not in err and "Traceback" not in err, (argv, err)
        if argv[0] == "migrate":
            assert rc == 0, (argv, got, err)
            assert any(p.name.startswith("my model.migrated-") for p in art.parent.iterdir())
        else:
            assert rc in (0, 1), (argv, got, err)
            assert "TF 2.16+tf_keras (tf 2.16" in got, got


def _try_any(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_keras_3_file_takes_its_reference_from_a_target_that_predicts(tmp_path, cache_dir,
                                                                        uv_available, capsys):
    """A Keras 3 `.keras` records no TF: under --load 2.12,2.16 only 2.12's h5py.File reads it
    (stored values, no predictions), so the reference comes from 2.16, which predicts, and
    2.16's load_model passes (it was "does NOT give it back" against a values-only reference)."""
    art = tmp_path / "k3.keras"
    art.write_bytes((REPO / "fixtures" / "cnn-keras-tf2.16.2" / "artifact" / "model.keras")
                    .read_bytes())
    rc, out, err = _try([str(art), "--load", "2.12,2.16", "--cache-dir", str(cache_dir),
                         "--results-dir", str(tmp_path / "r")], capsys)
    assert "reference: taken from TF 2.16" in out and "the oldest target that predicts" in out
    assert "TF 2.16 (tf 2.16" in out and \
        "`keras.models.load_model` loads it with the same parameters and predictions" in out
    assert "native loader `keras.models.load_model`: raises under 2.12; passes under 2.16" in out


def test_the_same_bytes_tried_from_another_path_name_that_path(tmp_path, cache_dir,
                                                               uv_available, capsys):
    """try's cache is keyed by the bytes: a copy made from another path is reused, but what try
    prints (and the commands it suggests) names the file given now."""
    src = (REPO / "fixtures" / "cnn-keras-tf2.12.1" / "artifact" / "model.keras").read_bytes()
    outs = []
    for name in ("first", "second"):
        art = tmp_path / name / "model.keras"
        art.parent.mkdir()
        art.write_bytes(src)
        rc, out, err = _try([str(art), "--load", "2.16", "--cache-dir", str(cache_dir),
                             "--results-dir", str(tmp_path / f"r-{name}")], capsys)
        outs.append(out)
    assert str(tmp_path / "second") in outs[1] and str(tmp_path / "first") not in outs[1]
