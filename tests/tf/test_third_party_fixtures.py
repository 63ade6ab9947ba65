"""The third-party corpus in fixtures/ (third-party-*: files written by other people's TF,
Keras and converters; origin, licence and hand checks in fixtures/third-party.md), verified as
the nightly verifies them, under TF 2.12 and 2.21.  Every status below was hand-checked once
with the user's own call in the same environment; a change here is a change in TF, Keras or
the harness that someone must look at."""

from __future__ import annotations

import pytest
from support.paths import REPO

from harness import cli
from harness.results.store import read_run

pytestmark = [pytest.mark.tf]

FIXTURES = REPO / "fixtures"
LOAD = ("2.12", "2.21")
P, E, U = "pass", "load-error", "unsupported"

# (fixture, loader) -> status under 2.12, 2.21: found by running, then hand-checked
EXPECTED = {
    ("third-party-savedmodel-tf2onnx-regression", "tf.saved_model.load"): (P, P),
    ("third-party-savedmodel-tf2onnx-regression", "tf.compat.v1.saved_model.loader.load"): (P, P),
    # a TF1 SavedModel: nothing to __call__, and no Keras model in it
    ("third-party-savedmodel-tf2onnx-regression", "tf.saved_model.load[call]"): (E, E),
    ("third-party-savedmodel-tf2onnx-regression", "keras.models.load_model"): (E, E),
    ("third-party-savedmodel-tf2onnx-regression",
     "keras.layers.TFSMLayer[call_endpoint=serving_default]"): (U, P),
    # fed X:0 and fetched pred:0 (its own names, not the zoo's x:0 / y:0)
    ("third-party-tf1-checkpoint-tf2onnx-regression", "tf.compat.v1.train.import_meta_graph"):
        (P, P),
    ("third-party-tf1-checkpoint-tf2onnx-regression", "tf.train.load_checkpoint"): (P, P),
    ("third-party-frozen-graph-tf2onnx-regression", "tf.compat.v1.import_graph_def"): (P, P),
    ("third-party-frozen-graph-tf2onnx-regression", "tf.compat.v1.wrap_function"): (P, P),
    # Keras 2.0.5's compile config says `lr`: Keras 3 refuses it unless compile=False
    ("third-party-h5-fer-emotion", "keras.models.load_model"): (P, E),
    ("third-party-h5-fer-emotion", "keras.models.load_model[custom_objects]"): (P, E),
    ("third-party-h5-fer-emotion", "keras.models.load_model[compile=False]"): (P, P),
    ("third-party-h5-fer-emotion", "h5py.File"): (P, P),
    ("third-party-tflite-fer-emotion-quantized", "tf.lite.Interpreter"): (P, P),
    ("third-party-tflite-fer-emotion-quantized", "ai_edge_litert.interpreter.Interpreter"): (P, P),
    ("third-party-onnx-basic-pitch", "onnxruntime.InferenceSession"): (P, P),
    # Keras 3 redefined hard_sigmoid (chars2vec's Keras 2.2.0 LSTMs use it): same weights,
    # embeddings 0.25 away
    ("third-party-weights-h5-chars2vec", "model.load_weights"): (P, "mismatch"),
    ("third-party-weights-h5-chars2vec", "h5py.File"): (P, P),
}
NAMES = sorted({name for name, _ in EXPECTED})


def test_the_third_party_corpus_verifies_as_hand_checked(tmp_path, cache_dir, uv_available,
                                                         capsys):
    missing = [n for n in NAMES if not (FIXTURES / n / "fixture.toml").is_file()]
    assert not missing, f"third-party fixtures missing from {FIXTURES}: {missing}"
    rc = cli.main(["fixtures", "verify", *NAMES, "--dir", str(FIXTURES), "--load",
                   ",".join(LOAD), "--cache-dir", str(cache_dir), "--results-dir",
                   str(tmp_path), "--run-id", "corpus", "--quiet"])
    out = capsys.readouterr()
    run = read_run(tmp_path / "corpus")
    assert not run.missing, (run.missing, out.out[-2000:], out.err[-2000:])
    got = {(r["model"], r["loader"], r["load_tf"]): r for r in run.rows}
    assert {(m, lo) for m, lo, _ in got} == set(EXPECTED), sorted(got)
    for (name, loader), statuses in EXPECTED.items():
        for load, want in zip(LOAD, statuses, strict=True):
            row = got[(name, loader, load)]
            assert row["status"] == want, (name, loader, load, row["status"], row["error"])
    # the numbers the hand check saw: exact where TF's own kernels did not change
    for name in ("third-party-savedmodel-tf2onnx-regression",
                 "third-party-tf1-checkpoint-tf2onnx-regression",
                 "third-party-frozen-graph-tf2onnx-regression", "third-party-onnx-basic-pitch"):
        for load in LOAD:
            native = {"third-party-onnx-basic-pitch": "onnxruntime.InferenceSession",
                      "third-party-tf1-checkpoint-tf2onnx-regression":
                          "tf.compat.v1.train.import_meta_graph",
                      "third-party-frozen-graph-tf2onnx-regression":
                          "tf.compat.v1.import_graph_def"}.get(name, "tf.saved_model.load")
            assert got[(name, native, load)]["max_abs_diff"] == 0.0, (name, load)
    c2v = got[("third-party-weights-h5-chars2vec", "model.load_weights", "2.21")]
    assert c2v["differs"] == ["predictions"], c2v["differs"]
    assert c2v["params_equal"] == c2v["params_total"] == 6, c2v
    assert 0.2 < c2v["max_abs_diff"] < 0.3, c2v["max_abs_diff"]
    fer_21 = got[("third-party-h5-fer-emotion", "keras.models.load_model", "2.21")]
    assert "Argument(s) not recognized: {'lr'" in fer_21["error"], fer_21["error"]
    # the fixtures run is green against matrix/expectations.toml, as the nightly's must be
    assert cli.main(["check", str(tmp_path / "corpus")]) == 0, capsys.readouterr().out[-3000:]
    assert rc in (0, 1), out.err[-2000:]
