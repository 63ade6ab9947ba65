"""Loading artifacts nobody on this project wrote (../shared/external-fixtures, from TensorFlow
Serving's test data: y = 0.5x + 2) with the loaders users call, in real TF 2.12 and 2.21
environments.  Which version loads which was found by running, then written down here."""

from __future__ import annotations

import json

import pytest
from support.paths import REPO

from harness import procs
from harness.envs.uv import UvEnvironment
from harness.plan.specs import EnvSpec

pytestmark = [pytest.mark.tf]

FIXTURES = REPO.parent / "shared" / "external-fixtures"
EXPECTED_Y = [2.0, 2.5, 3.0, 3.5]  # for x = 0, 1, 2, 3, exactly

# Run inside the environment (python -I): each loader on each fixture, outcome as JSON.
SCRIPT = r'''
import json, sys, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
root = sys.argv[1]
xs = [0.0, 1.0, 2.0, 3.0]
out = {}
def attempt(name, fn):
    try:
        out[name] = {"y": [float(v) for v in fn()]}
    except Exception as exc:
        out[name] = {"error_type": type(exc).__name__, "error": str(exc)[:300]}
def sm(folder):
    fn = tf.saved_model.load(os.path.join(root, folder, "00000123")).signatures["serving_default"]
    (key,) = fn.structured_input_signature[1]
    shape = fn.structured_input_signature[1][key].shape.as_list()
    if len(shape) == 2:
        y = fn(**{key: tf.constant([[x] for x in xs])})
        return np.asarray(y["y"]).ravel()
    return [float(np.asarray(fn(**{key: tf.constant([x])})["y"]).ravel()[0]) for x in xs]
def lite():
    it = tf.lite.Interpreter(model_path=os.path.join(
        root, "saved_model_half_plus_two_tflite", "00000123", "model.tflite"))
    it.allocate_tensors()
    (i,), (o,) = it.get_input_details(), it.get_output_details()
    ys = []
    for x in xs:
        it.set_tensor(i["index"], np.array([[x]], np.float32))
        it.invoke()
        ys.append(float(it.get_tensor(o["index"]).ravel()[0]))
    return ys
attempt("tf1-savedmodel/tf.saved_model.load", lambda: sm("saved_model_half_plus_two_cpu"))
attempt("tf2-savedmodel/tf.saved_model.load", lambda: sm("saved_model_half_plus_two_tf2_cpu"))
attempt("tflite/tf.lite.Interpreter", lite)
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
'''

# found by running: TF 2.12 cannot decode the TF 2.14 SavedModel's signature structure
EXPECTED = {
    "2.12": {"tf1-savedmodel/tf.saved_model.load": "ok",
             "tf2-savedmodel/tf.saved_model.load": "NotEncodableError",
             "tflite/tf.lite.Interpreter": "ok"},
    "2.21": {"tf1-savedmodel/tf.saved_model.load": "ok",
             "tf2-savedmodel/tf.saved_model.load": "ok",
             "tflite/tf.lite.Interpreter": "ok"},
}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"external fixtures not at {FIXTURES}")
@pytest.mark.parametrize("spec", sorted(EXPECTED))
def test_external_fixtures_load_with_exact_values(spec, tmp_path, cache_dir, uv_available):
    env = UvEnvironment(EnvSpec.parse(spec), cache_dir)
    env.create()
    script, dest = tmp_path / "load.py", tmp_path / "out.json"
    script.write_text(SCRIPT)
    res = procs.run([str(env.interpreter), "-I", str(script), str(FIXTURES), str(dest)],
                    env=env.worker_env(), timeout=600)
    assert dest.exists(), res.stderr[-2000:]
    got = json.loads(dest.read_text())
    for name, want in EXPECTED[spec].items():
        if want == "ok":
            assert got[name].get("y") == EXPECTED_Y, (name, got[name])
        else:
            assert got[name].get("error_type") == want, (name, got[name])
