"""The real-TF half of tests/unit/migrate/test_migrate.py (its docstring says what both guard)."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
from support.paths import REPO

from harness import cli
from harness.migrate.routes import ROUTES

PRODUCER = "2.13"

TARGET = "2.16"

# What each break needs, as measured (docs/migration.md): Keras 3 reads a Keras 2 `.h5` and
# legacy weights itself (compile=False; the architecture rebuilt from code), but no Keras 2
# `.keras` zip of a Functional/Sequential model and no Keras 2 SavedModel: those go through the
# producer's TF.  A registered subclassed model's `.keras` loads with its classes at hand.
EXPECTED_ROUTE = {
    ("seq", "h5"): "target-load", ("cnn", "h5"): "target-load",
    ("seq", "keras"): "producer-handoff", ("cnn", "keras"): "producer-handoff",
    ("custom", "keras"): "target-load",
    ("seq", "keras-savedmodel"): "producer-handoff",
    ("cnn", "keras-savedmodel"): "producer-handoff",
    ("custom", "keras-savedmodel"): "producer-handoff",
    ("seq", "weights-h5"): "target-load", ("cnn", "weights-h5"): "target-load",
    ("custom", "weights-h5"): "target-load",
}


def _report(root: Path) -> dict:
    (found,) = list(root.glob("*/migration.json"))
    return json.loads(found.read_text())


def _fixture(root: Path, model: str, fmt: str) -> Path:
    (found,) = [p for p in root.iterdir() if p.name.startswith(f"{model}-{fmt}-tf{PRODUCER}")]
    return found


@pytest.mark.crossversion
@pytest.mark.parametrize("model, fmt", sorted(EXPECTED_ROUTE))
def test_keras2_artifact_migrates_to_keras3_and_is_proven(frozen, tmp_path, cache_dir, capsys,
                                                          model, fmt):
    out = tmp_path / f"{model}.migrated-{TARGET}.keras"
    rc = cli.main(["migrate", str(_fixture(frozen, model, fmt)), "--to", TARGET,
                   "--out", str(out), "--results-dir", str(tmp_path / "results"),
                   "--cache-dir", str(cache_dir)])
    text = capsys.readouterr().out
    assert rc == 0, text
    report = _report(tmp_path / "results")
    assert report["route"] == EXPECTED_ROUTE[(model, fmt)], text
    winner = report["routes"][-1]
    (cell,) = winner["cells"]
    assert cell["status"] == "pass" and cell["load_tf"] == TARGET
    assert cell["load_versions"]["keras"].startswith("3.")
    assert cell["params_total"] and cell["params_equal"] == cell["params_total"]
    assert cell["max_abs_diff"] is not None and cell["max_abs_diff"] <= 1e-6
    assert out.is_file() and out.read_bytes()[:4] == b"PK\x03\x04"
    for failed in report["routes"][:-1]:  # routes before it failed, with the library's message
        assert failed["status"] != "pass" and failed["message"]
    assert "optimizer state: NOT migrated" in text or fmt == "weights-h5"


@pytest.mark.crossversion
def test_a_keras2_savedmodel_is_reexported_for_serving(frozen, tmp_path, cache_dir, capsys):
    out = tmp_path / "serving" / "1"
    rc = cli.main(["migrate", str(_fixture(frozen, "cnn", "keras-savedmodel")), "--to", TARGET,
                   "--out", str(out), "--results-dir", str(tmp_path / "results"),
                   "--cache-dir", str(cache_dir)])
    text = capsys.readouterr().out
    assert rc == 0, text
    (cell,) = _report(tmp_path / "results")["routes"][-1]["cells"]
    assert cell["status"] == "pass" and cell["params_equal"] == cell["params_total"] > 0
    assert (out / "saved_model.pb").is_file()


BUILD_CNN = textwrap.dedent("""
    import tensorflow as tf

    keras = tf.keras


    def build_model():  # the user's own code: the checkpoint holds only values
        x = keras.Input((16, 16, 3), name="x")
        h = keras.layers.Conv2D(8, 3, name="conv")(x)
        h = keras.layers.BatchNormalization(name="bn")(h)
        h = keras.layers.ReLU(name="relu")(h)
        h = keras.layers.MaxPooling2D(name="pool")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        return keras.Model(x, keras.layers.Dense(10, name="logits")(h), name="cnn")
""")


@pytest.mark.crossversion
def test_a_users_checkpoint_with_build_model_migrates(frozen, tmp_path, cache_dir, capsys):
    """The issue's `harness migrate ckpt/ --to 2.16 --custom-objects my_layers.py --tf 2.13`:
    a Keras 2 TF-format checkpoint (values only, optimizer slots among them) and the user's
    build_model(); the proof's reference is that model restored under 2.13, each parameter
    checked against the checkpoint reader's values."""
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(_fixture(frozen, "cnn", "weights-tf") / "artifact" / "ckpt", ckpt)
    (tmp_path / "my_layers.py").write_text(BUILD_CNN)
    np.savez(tmp_path / "x.npz", x0=np.random.RandomState(0).rand(4, 16, 16, 3)
             .astype("float32"))
    rc = cli.main(["migrate", str(ckpt), "--to", TARGET, "--custom-objects",
                   str(tmp_path / "my_layers.py"), "--tf", PRODUCER, "--inputs",
                   str(tmp_path / "x.npz"), "--results-dir", str(tmp_path / "results"),
                   "--cache-dir", str(cache_dir)])
    text = capsys.readouterr().out
    assert rc == 0, text
    report = _report(tmp_path / "results")
    assert report["route"] == "producer-handoff"
    (cell,) = report["routes"][-1]["cells"]
    assert cell["status"] == "pass" and cell["params_equal"] == cell["params_total"] == 8
    assert "proof reference: the outputs of build_model() with the checkpoint restored" in text
    assert "optimizer state: NOT migrated" in text
    assert (tmp_path / f"ckpt.migrated-{TARGET}.keras").is_file()


SM_29 = REPO / "fixtures" / "cnn-savedmodel-tf2.9.3"


@pytest.mark.crossversion
@pytest.mark.skipif(not SM_29.is_dir(), reason="the repository's fixtures are not there")
def test_a_tf29_savedmodel_tf216_cannot_load_is_reexported_by_legacy_keras(tmp_path, cache_dir,
                                                                           capsys):
    """TF 2.16's tf.saved_model.load fails on TF 2.9's Keras SavedModel (its optimizer slots),
    TF 2.9 does not install here, and tf_keras 2.16 still reads it: its signatures alone,
    re-saved there, serve under 2.16."""
    rc = cli.main(["migrate", str(SM_29), "--to", TARGET, "--out", str(tmp_path / "serving"),
                   "--results-dir", str(tmp_path / "results"), "--cache-dir", str(cache_dir)])
    text = capsys.readouterr().out
    assert rc == 0, text
    routes = {r["route"]: r for r in _report(tmp_path / "results")["routes"]}
    assert "add_slot" in routes["target-reexport"]["message"]
    assert routes["producer-reexport"]["status"] == "skipped"
    (cell,) = routes["legacy-keras-reexport"]["cells"]
    assert cell["status"] == "pass" and cell["params_equal"] == cell["params_total"] > 0


UNKNOWN_LAYER = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    class Twice(tf.keras.layers.Layer):  # defined in a script: nobody can import it again
        def call(self, x):
            return 2.0 * x

    x = tf.keras.Input((4,), name="x")
    m = tf.keras.Model(x, tf.keras.layers.Dense(3, name="head")(Twice(name="twice")(x)))
    xs = np.random.RandomState(0).standard_normal((4, 4)).astype("float32")
    m.save(sys.argv[1] + "/model.h5")
    np.savez(sys.argv[1] + "/x.npz", x0=xs)
    np.savez(sys.argv[1] + "/y.npz", y0=m(xs).numpy())
""")


@pytest.mark.crossversion
def test_no_route_fails_honestly(tmp_path, cache_dir, capsys):
    """A custom layer whose code nobody has: every route fails with the library's message, exit
    1, nothing written but the report."""
    from harness.envs import get_backend
    from harness.plan.specs import EnvSpec

    env = get_backend("uv")(EnvSpec.parse(PRODUCER), cache_dir)
    env.create()
    made = tmp_path / "user"
    made.mkdir()
    subprocess.run(["nice", "-n", "15", str(env.interpreter), "-c", UNKNOWN_LAYER, str(made)],
                   check=True, capture_output=True, timeout=300,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    before = sorted(p.name for p in made.iterdir())
    rc = cli.main(["migrate", str(made / "model.h5"), "--to", TARGET, "--inputs",
                   str(made / "x.npz"), "--expected", str(made / "y.npz"),
                   "--results-dir", str(tmp_path / "results"), "--cache-dir", str(cache_dir)])
    text = capsys.readouterr().out
    assert rc == 1, text
    assert sorted(p.name for p in made.iterdir()) == before  # no model.migrated-2.16.keras
    report = _report(tmp_path / "results")
    assert report["written"] is None and report["route"] is None
    tried = {r["route"]: r for r in report["routes"]}
    assert set(tried) == {r.name for r in ROUTES if r.output == "keras"}
    for r in tried.values():
        assert r["status"] == "step-failed", r
        assert "Twice" in r["message"], r["message"]  # Keras's own "Unknown layer: 'Twice'"
    assert "no route proved out: nothing written but the report" in text
    assert np.load(made / "y.npz")["y0"].shape == (4, 3)


USER_LAYERS = textwrap.dedent("""
    import tensorflow as tf

    class Twice(tf.keras.layers.Layer):  # not registered: the user's code passes it by name
        def call(self, x):
            return 2.0 * x
""")

MAKE_KERAS_V3 = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, sys.argv[1])
    from layers import Twice

    x = tf.keras.Input((4,), name="x")
    m = tf.keras.Model(x, tf.keras.layers.Dense(3, name="head")(Twice(name="twice")(x)))
    m.compile(optimizer="adam", loss="mse")
    xs = np.random.RandomState(0).standard_normal((4, 4)).astype("float32")
    m.save(sys.argv[1] + "/model.keras", save_format="keras_v3")
    np.savez(sys.argv[1] + "/x.npz", x0=xs)
    np.save(sys.argv[1] + "/y.npy", m(xs).numpy())
""")

LOAD_WITH_CUSTOM_OBJECTS = textwrap.dedent("""
    import sys
    import numpy as np
    import keras
    sys.path.insert(0, sys.argv[1])
    from layers import Twice

    m = keras.models.load_model(sys.argv[2], custom_objects={"Twice": Twice})
    xs = np.load(sys.argv[1] + "/x.npz")["x0"]
    print(float(np.abs(m.predict(xs, verbose=0) - np.load(sys.argv[1] + "/y.npy")).max()))
""")


def _env_python(spec: str, cache_dir) -> tuple[str, dict]:
    from harness.envs import get_backend
    from harness.plan.specs import EnvSpec

    env = get_backend("uv")(EnvSpec.parse(spec), cache_dir)
    env.create()
    return str(env.interpreter), {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.crossversion
def test_a_keras_v3_file_with_an_unregistered_layer_migrates_with_its_custom_objects(
        tmp_path, cache_dir, capsys):
    """Keras 2.12's `save_format="keras_v3"` .keras with a layer the user passes by
    custom_objects: the proof loads the candidate with the user's --custom-objects, so the
    migrated .keras is written, and it loads under 2.16 as the user loads it (checked here
    with the user's own call, outside the harness)."""
    made = tmp_path / "user"
    made.mkdir()
    (made / "layers.py").write_text(USER_LAYERS)
    py, env = _env_python("2.12", cache_dir)
    subprocess.run(["nice", "-n", "15", py, "-c", MAKE_KERAS_V3, str(made)], check=True,
                   capture_output=True, timeout=300, env=env)
    rc = cli.main(["migrate", str(made / "model.keras"), "--to", TARGET, "--tf", "2.12",
                   "--custom-objects", str(made / "layers.py"), "--inputs", str(made / "x.npz"),
                   "--results-dir", str(tmp_path / "results"), "--cache-dir", str(cache_dir)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "proven by `keras.models.load_model(path, custom_objects=" in text
    out = made / f"model.migrated-{TARGET}.keras"
    assert out.is_file(), text
    py16, env16 = _env_python(TARGET, cache_dir)
    got = subprocess.run([py16, "-c", LOAD_WITH_CUSTOM_OBJECTS, str(made), str(out)],
                         capture_output=True, text=True, timeout=300, env=env16)
    assert got.returncode == 0, got.stderr[-2000:]
    assert float(got.stdout.strip().splitlines()[-1]) <= 1e-6


TFLITE = REPO.parent / "shared" / "external-fixtures" / "saved_model_half_plus_two_tflite" / \
    "00000123" / "model.tflite"


@pytest.mark.skipif(not TFLITE.is_file(), reason="../shared/external-fixtures is not beside the "
                                                   "checkout")
def test_plan_refuses_what_the_run_refuses(tmp_path, cache_dir, capsys):
    """A .tflite has no migration route: --plan says so with exit 2, as the run does, instead of
    listing routes that would never run."""
    for extra in (["--plan"], []):
        rc = cli.main(["migrate", str(TFLITE), "--to", TARGET, "--out",
                       str(tmp_path / "out.keras"), "--results-dir", str(tmp_path / "r"),
                       "--cache-dir", str(cache_dir), *extra])
        err = capsys.readouterr().err
        assert rc == 2 and "not a tflite" in err, (extra, err)
    assert not (tmp_path / "out.keras").exists()


# -- real migrations ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frozen(tmp_path_factory, cache_dir):
    """seq, cnn and custom saved under TF 2.13 (Keras 2.13) in five formats, by the harness
    (one save worker): fixture folders with the producer's own reference."""
    from harness.envs.uv import uv_bin

    try:
        uv_bin()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"uv is not installed ({exc})")
    root = tmp_path_factory.mktemp("frozen")
    rc = cli.main(["fixtures", "freeze", "--tf", PRODUCER, "--models", "seq,cnn,custom",
                   "--formats", "h5,keras,keras-savedmodel,weights-h5,weights-tf",
                   "--dir", str(root), "--cache-dir", str(cache_dir)])
    assert rc == 0
    return root
