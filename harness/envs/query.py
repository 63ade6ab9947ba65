"""Run inside an environment (stdlib only, `python -I query.py OUT.json`): what is installed."""

import importlib.metadata as md
import json
import platform
import sys

DISTS = {"tf": ("tensorflow", "tensorflow-cpu", "tf-nightly"), "keras": ("keras",),
         "tf_keras": ("tf-keras",), "numpy": ("numpy",), "h5py": ("h5py",),
         "protobuf": ("protobuf",), "tf2onnx": ("tf2onnx",), "onnx": ("onnx",),
         "onnxruntime": ("onnxruntime",), "tfmot": ("tensorflow-model-optimization",),
         "ai_edge_litert": ("ai-edge-litert",)}


def version(names):
    for name in names:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return None


info = {key: version(names) for key, names in DISTS.items()}
info["python"] = platform.python_version()
with open(sys.argv[1], "w") as f:
    json.dump(info, f)
