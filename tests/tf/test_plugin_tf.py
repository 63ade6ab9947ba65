"""The real-TF half of tests/unit/plugins/test_plugin.py (its docstring says what both guard)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from support.paths import REPO
from support.plugin_helpers import outcome

SPEC = """
[matrix]
save = ["2.12"]
load = ["2.16"]
models = ["mlp"]
formats = ["h5", "savedmodel"]
loaders = ["keras.models.load_model", "keras.models.load_model[compile=False]",
           "tf.saved_model.load"]

[[include]]
load_devices = ["gpu"]
formats = ["savedmodel"]
loaders = ["tf.saved_model.load"]
"""

EXPECT = """
[[expect]]
save_tf = "2.12"
load_tf = "2.16"
format = "h5"
loader = "keras.models.load_model"
status = "load-error"
reason = "Keras 3 cannot compile a Keras 2 loss (reduction=auto)"

[[expect]]
format = "h5"
loader = "*compile=False*"
status = "load-error"
reason = "deliberately wrong here: this cell passes"

[[expect]]
format = "savedmodel"
loader = "keras.models.load_model"
status = "load-error"
reason = "tf.saved_model.save writes no Keras metadata"
"""


def test_cells_as_items_under_xdist(tmp_path, cache_dir, uv_available):
    spec = tmp_path / "matrix.toml"
    spec.write_text(SPEC)
    (tmp_path / "expectations.toml").write_text(EXPECT)
    junit = tmp_path / "compat.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.pytest_plugin", "-p", "xdist",
         "--compat-matrix", str(spec), "--compat-results", str(tmp_path / "runs"),
         "-n", "2", "--dist", "loadgroup", f"--junitxml={junit}", "-q", "-p",
         "no:cacheprovider"],
        cwd=REPO, env=dict(os.environ, HARNESS_CACHE=str(cache_dir)),
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]  # one cell fails
    cases = {c.get("name"): outcome(c) for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases == {
        "2.12->2.16 mlp h5 keras.models.load_model": "xfail",
        "2.12->2.16 mlp h5 keras.models.load_model[compile=False]": "failure",
        "2.12->2.16 mlp savedmodel keras.models.load_model": "xfail",
        "2.12->2.16 mlp savedmodel tf.saved_model.load": "passed",
        "2.12->2.16@gpu mlp savedmodel tf.saved_model.load": "skipped",
    }, cases
    assert "passes now: update the expectations" in proc.stdout
    # each load environment ran once, as one batch, in one xdist worker
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["2.16", "2.16.lock", "2.16_gpu", "2.16_gpu.lock"]


