"""The real-TF half of tests/unit/worker/test_artifact_code.py
(its docstring says what both guard)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.run import batch as execute

# --- Lambda layers in saved_model.pb's object metadata ----------------------------------------


# --- the graph's file, print and debugger ops -------------------------------------------------


# --- --unsafe: the one way past, and the row says so ------------------------------------------


# --- HDF5: declared sizes bounded like zip members --------------------------------------------


# --- real TF: the payloads, built by TF 2.15 (Keras 2), loaded by a real worker ---------------

BUILD = r'''
import os, sys
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
try:
    from keras.protobuf import saved_metadata_pb2
except ImportError:
    from keras.src.protobuf import saved_metadata_pb2

root = sys.argv[1]

def lambda_savedmodel(folder, marker):
    """A Keras 2 SavedModel whose Lambda writes `marker`, moved to the pre-2.5 layout."""
    fn = eval("lambda x: x * (1.0 + 0.0 * open(%r, 'w').write('ran'))" % marker)
    m = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,)),
                             tf.keras.layers.Lambda(fn, name="doubler")])
    m.save(folder, save_format="tf")
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(open(folder + "/saved_model.pb", "rb").read())
    meta = saved_metadata_pb2.SavedMetadata()
    meta.ParseFromString(open(folder + "/keras_metadata.pb", "rb").read())
    nodes = sm.meta_graphs[0].object_graph_def.nodes
    for n in meta.nodes:
        nodes[n.node_id].user_object.metadata = n.metadata
    open(folder + "/saved_model.pb", "wb").write(sm.SerializeToString())
    os.remove(folder + "/keras_metadata.pb")

class Writer(tf.Module):
    def __init__(self, marker):
        self.v = tf.Variable(2.0)
        self.marker = marker

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x):
        tf.io.write_file(self.marker, "ran")
        return {"y": x * self.v}

for kind in ("safe", "unsafe"):
    lambda_savedmodel(f"{root}/lambda-{kind}/keras_savedmodel", f"{root}/lambda-{kind}.marker")
    w = Writer(f"{root}/write-{kind}.marker")
    tf.saved_model.save(w, f"{root}/write-{kind}/savedmodel",
                        signatures={"serving_default": w.__call__})
import json
for kind in ("safe", "unsafe"):  # a frozen graph that writes a file when run
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def frozen(x):
        tf.io.write_file(f"{root}/frozen-{kind}.marker", "ran")
        return tf.identity(x * 2.0, name="y")
    folder = f"{root}/frozen-{kind}"
    os.makedirs(folder, exist_ok=True)
    graph = frozen.get_concrete_function().graph
    open(f"{folder}/frozen_graph.pb", "wb").write(graph.as_graph_def().SerializeToString())
    json.dump({"inputs": ["x:0"], "outputs": [graph.outputs[0].name]},
              open(f"{folder}/frozen_graph.json", "w"))

for p in os.listdir(root):  # saving ran the Lambda once: only a load may write a marker now
    if p.endswith(".marker"):
        os.remove(os.path.join(root, p))
'''

H5_BOMB = r'''
import sys, h5py
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("model_weights")
    g.attrs["layer_names"] = [b"dense"]
    d = g.create_group("dense")
    d.attrs["weight_names"] = [b"dense/kernel:0"]
    d.create_dataset("dense/kernel:0", shape=(1 << 29,), dtype="float32", chunks=(1 << 16,))
'''


@pytest.fixture(scope="module")
def keras2(tmp_path_factory, cache_dir, uv_available):
    """The TF 2.15 environment, the payloads it built, and one worker batch over them all."""
    from harness.envs.uv import UvEnvironment
    from harness.plan.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.15"), cache_dir)
    env.create()
    root = tmp_path_factory.mktemp("payloads")
    for script, arg in ((BUILD, root), (H5_BOMB, root / "h5-bomb" / "model_weights.h5")):
        Path(arg).parent.mkdir(parents=True, exist_ok=True)
        (root / "build.py").write_text(script)
        subprocess.run([str(env.interpreter), str(root / "build.py"), str(arg)], check=True,
                       capture_output=True, timeout=600)
    assert not list(root.glob("*.marker"))
    (root / "keras-bomb").mkdir()
    with zipfile.ZipFile(root / "keras-bomb" / "model.keras", "w") as z:  # the bomb in a .keras
        z.writestr("config.json", "{}")
        z.write(root / "h5-bomb" / "model_weights.h5", "model.weights.h5")
    ref = root / "ref"
    ref.mkdir()
    np.savez(ref / "reference.npz", inputs=np.ones((2, 3), np.float32))
    (ref / "reference.json").write_text(json.dumps({"param_names": []}))
    requests = []

    def load(rid, art, fmt, loader, unsafe=False):
        (root / art / "manifest.json").write_text("{}")
        requests.append({"id": rid, "phase": "load", "format": fmt, "loader": loader,
                         "model": "mlp", "artifact_dir": str(root / art),
                         "reference_dir": str(ref)} | ({"unsafe": True} if unsafe else {}))

    for kind in ("safe", "unsafe"):
        load(f"lambda-{kind}", f"lambda-{kind}", "keras-savedmodel", "keras.models.load_model",
             kind == "unsafe")
        load(f"write-{kind}", f"write-{kind}", "savedmodel", "tf.saved_model.load",
             kind == "unsafe")
    load("write-call", "write-safe", "savedmodel", "tf.saved_model.load[call]")
    load("write-tf1", "write-safe", "savedmodel", "tf.compat.v1.saved_model.loader.load")
    load("h5-reader", "h5-bomb", "weights-h5", "h5py.File")
    load("h5-weights", "h5-bomb", "weights-h5", "model.load_weights")
    load("frozen-safe", "frozen-safe", "frozen-graph", "tf.compat.v1.import_graph_def")
    load("frozen-unsafe", "frozen-unsafe", "frozen-graph", "tf.compat.v1.import_graph_def",
         True)
    load("keras-load", "keras-bomb", "keras", "keras.models.load_model")
    load("keras-reader", "keras-bomb", "keras", "h5py.File")
    requests.append({"id": "h5-inspect", "phase": "inspect", "tensorboard": None,
                     "artifact": str(root / "h5-bomb" / "model_weights.h5")})
    results = {}
    execute.run_batch(env, "load", requests, root / "work", cell_timeout=600,
                      on_result=lambda req, res: results.__setitem__(req["id"], res))
    return root, results


def _refused(result: dict, *words: str) -> str:
    assert result["status"] in ("load-error", "error"), result
    assert result["error_type"].endswith("UnsafeArtifact"), result
    assert "\n" not in result["error"]
    for w in words:
        assert w in result["error"], result["error"]
    return result["error"]


def test_tf_lambda_in_object_metadata_is_refused_and_runs_only_unsafe(keras2):
    root, results = keras2
    _refused(results["lambda-safe"], "saved_model.pb's object metadata holds a Lambda layer "
             "('doubler')", "safe_mode is not available in Keras 2.15", "--unsafe")
    assert not (root / "lambda-safe.marker").exists()
    unsafe = results["lambda-unsafe"]  # the payload is live: only --unsafe runs it
    assert unsafe["status"] == "ok", unsafe
    assert (root / "lambda-unsafe.marker").exists()
    assert unsafe["notes"]["safe_mode"] == "off (--unsafe)"
    assert unsafe["notes"]["unsafe"][0].startswith("saved_model.pb's object metadata holds")


def test_tf_signature_that_writes_a_file_is_refused_by_every_loader(keras2):
    root, results = keras2
    for rid in ("write-safe", "write-call", "write-tf1"):
        _refused(results[rid], "saved_model.pb's graph holds WriteFile in function", "--unsafe")
    assert not (root / "write-safe.marker").exists()
    unsafe = results["write-unsafe"]
    assert unsafe["status"] == "ok", unsafe
    assert (root / "write-unsafe.marker").read_text() == "ran"
    assert unsafe["notes"]["unsafe"][0].startswith("saved_model.pb's graph holds WriteFile")


def test_tf_frozen_graph_that_writes_a_file_is_refused(keras2):
    root, results = keras2
    _refused(results["frozen-safe"], "frozen_graph.pb's graph holds WriteFile in node",
             "--unsafe")
    assert not (root / "frozen-safe.marker").exists()
    assert results["frozen-unsafe"]["status"] == "ok", results["frozen-unsafe"]
    assert (root / "frozen-unsafe.marker").exists()  # the payload is live: only --unsafe runs it


def test_tf_oversized_hdf5_dataset_is_refused_before_reading(keras2):
    root, results = keras2
    assert (root / "h5-bomb" / "model_weights.h5").stat().st_size < 64 << 10
    bound = ("model_weights.h5: dataset 'model_weights/dense/dense/kernel:0' would inflate "
             "0 bytes to 2048 MiB (nothing stored; limit 100x): an HDF5 bomb?")
    for rid in ("h5-reader", "h5-weights", "h5-inspect", "keras-load", "keras-reader"):
        expected = bound.replace("model_weights.h5:", "model.keras: model.weights.h5:") \
            if rid.startswith("keras") else bound
        assert _refused(results[rid]) == expected, rid
        assert results[rid]["seconds"] < 30, results[rid]


WRITER_216 = r'''
import sys, tensorflow as tf

class Writer(tf.Module):
    def __init__(self, marker):
        self.v = tf.Variable(2.0)
        self.marker = marker

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x):
        tf.io.write_file(self.marker, "ran")
        return {"y": x * self.v}

w = Writer(sys.argv[2])
tf.saved_model.save(w, sys.argv[1], signatures={"serving_default": w.__call__})
'''


def test_tf_keras3_tfsm_layer_refuses_a_signature_that_writes(tmp_path, cache_dir, uv_available):
    """Keras 3 (TF 2.16): TFSMLayer exists there, and is refused before it calls anything."""
    from harness.envs.uv import UvEnvironment
    from harness.plan.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.16"), cache_dir)
    env.create()
    art, marker = tmp_path / "art", tmp_path / "written.marker"
    (tmp_path / "make.py").write_text(WRITER_216)
    subprocess.run([str(env.interpreter), str(tmp_path / "make.py"), str(art / "savedmodel"),
                    str(marker)], check=True, capture_output=True, timeout=600)
    (art / "manifest.json").write_text("{}")
    ref = tmp_path / "ref"
    ref.mkdir()
    np.savez(ref / "reference.npz", inputs=np.ones((2, 3), np.float32))
    (ref / "reference.json").write_text(json.dumps({"param_names": []}))
    loaders = ["keras.layers.TFSMLayer[call_endpoint=serving_default]", "keras.models.load_model",
               "tf.saved_model.load"]
    requests = [{"id": f"l{i}", "format": "savedmodel", "loader": loader, "model": "mlp",
                 "artifact_dir": str(art), "reference_dir": str(ref)}
                for i, loader in enumerate(loaders)]
    results = {}
    execute.run_batch(env, "load", requests, tmp_path / "work", cell_timeout=600,
                      on_result=lambda req, res: results.__setitem__(req["id"], res))
    for i in range(len(loaders)):
        _refused(results[f"l{i}"], "saved_model.pb's graph holds WriteFile in function")
    assert not marker.exists()
