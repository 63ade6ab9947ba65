"""Regression fixtures: fixture.toml, integrity, input synthesis (no TF), and `fixtures add` +
`verify` on artifacts the harness did not make (TF Serving's, and one a script here writes),
in real TF environments."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import tomllib
from support.paths import REPO

from harness import cli
from harness.regression import synth, tomlw
from harness.regression.model import ZOO_ONLY_LOADERS, Fixture, find, read
from harness.regression.stage import cells, stage

FIXTURES = REPO / "fixtures"


# -- no TF ---------------------------------------------------------------------------------------
def test_toml_writer_round_trips_what_a_fixture_holds():
    data = {"name": "x", "n": 3, "f": 1e-6, "ok": True, "shape": [4, -1], "skip": None,
            "producer": {"tf": "2.13.1", "recorded": '{"a": "b\\n"}'},
            "inputs": [{"name": "a", "shape": [1]}, {"name": "b", "dtype": "string"}],
            "files": {"artifact/m.h5": "ab" * 32, "odd name.npz": "cd" * 32}}
    back = tomllib.loads(tomlw.dumps(data))
    assert back == {k: v for k, v in data.items() if v is not None}


def test_synthesized_inputs_are_fixed_and_typed():
    specs = [{"name": "f", "dtype": "float32", "shape": [None, 3]},
             {"name": "ids", "dtype": "int64", "shape": [-1, 5]},
             {"name": "words", "dtype": "string", "shape": [None]}]
    a, b = synth.synthesize(specs), synth.synthesize(specs)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["x0"].shape == (4, 3) and a["x0"].dtype == np.float32
    assert a["x1"].dtype == np.int64 and a["x1"].min() >= 0 and a["x1"].max() < 10
    assert a["x2"].dtype.kind == "U" and set(a["x2"]) <= set(synth.WORDS)
    fixed = synth.synthesize([{"name": "x", "dtype": "float32", "shape": [1, 1]},
                              {"name": "y", "dtype": "float32", "shape": [None, 2]}])
    assert fixed["x1"].shape == (1, 2)  # a fixed batch is every input's batch


def test_tf_example_wire_format():
    # Example{features{feature{key: "x" value{float_list{value: 1.0}}}}}, as protoc writes it
    assert synth.example_bytes({"x": [1.0]}) == bytes.fromhex(
        "0a0f0a0d0a017812081206") + b"\x0a\x04" + struct.pack("<f", 1.0)
    protos = synth.synthesize([{"name": "inputs", "dtype": "string", "shape": None}],
                              example_features={"x": {"dtype": "float32", "shape": [4, 3]}})
    assert protos["x0"].dtype.kind == "S" and protos["x0"].shape == (4,)


def test_keras_configs_give_input_specs():
    k2_seq = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"name": "d", "batch_input_shape": [None, 784],
                                           "dtype": "float32"}}]}}
    assert synth.specs_from_keras_config(k2_seq) == [
        {"name": "d", "dtype": "float32", "shape": [None, 784]}]
    k3_fn = {"class_name": "Functional", "config": {
        "input_layers": ["ids", 0, 0],
        "layers": [{"class_name": "InputLayer", "name": "ids", "config": {
            "name": "ids", "batch_shape": [None, 7], "dtype": "int32"}}]}}
    assert synth.specs_from_keras_config(k3_fn)[0]["dtype"] == "int32"


def _copy_fixture(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / "fixtures" / name
    shutil.copytree(FIXTURES / name, dest)
    for p in dest.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return dest


@pytest.mark.skipif(not (FIXTURES / "serving-half-plus-two-tflite").is_dir(),
                    reason="the repository's fixtures are not there")
def test_a_flipped_byte_is_refused_naming_the_file(tmp_path, capsys):
    dest = _copy_fixture("serving-half-plus-two-tflite", tmp_path)
    assert cli.main(["fixtures", "list", "--dir", str(dest.parent)]) == 0
    target = dest / "artifact" / "model.tflite"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    capsys.readouterr()
    assert cli.main(["fixtures", "list", "--dir", str(dest.parent)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "artifact/model.tflite" in err and "changed" in err
    # an extra file is refused too, and so is verify before any environment is touched
    target.write_bytes(bytes(data[:100]) + bytes([data[100] ^ 1]) + bytes(data[101:]))
    (dest / "artifact" / "notes.txt").write_text("x")
    assert cli.main(["fixtures", "verify", "--dir", str(dest.parent), "--load", "2.21"]) == 2
    assert "notes.txt: not listed" in capsys.readouterr().err


def test_every_committed_fixture_is_intact_and_in_budget():
    if not FIXTURES.is_dir():
        pytest.skip("no fixtures/")
    found = find(FIXTURES)
    assert found, "fixtures/ holds no fixture"
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < 20e6, f"fixtures/ is {total / 1e6:.1f} MB, over the 20 MB budget"
    for fx in found:
        assert fx.data.get("origin", {}).get("license"), fx.name
        assert fx.reference.get("source") in ("producer", "given", "oldest-target"), fx.name


def test_cells_of_a_foreign_artifact_skip_loaders_that_rebuild_a_zoo_model(tmp_path):
    fx = Fixture(tmp_path, {"name": "ck", "format": "tf-checkpoint", "artifact": "a",
                            "producer": {"tf": "2.13.1"}, "files": {}})
    got = cells(fx, ["2.16"])
    assert [c.loader for c in got] == ["tf.train.load_checkpoint"]
    assert not ZOO_ONLY_LOADERS & {c.loader for c in got}
    assert {(c.save_tf, c.model) for c in got} == {("2.13.1", "ck")}


@pytest.mark.skipif(not (FIXTURES / "tf1-frozen-ema-tf2.12").is_dir(),
                    reason="the repository's fixtures are not there")
def test_staging_writes_what_the_loaders_read(tmp_path):
    fx = read(_copy_fixture("tf1-frozen-ema-tf2.12", tmp_path))
    art, ref = stage(fx, tmp_path / "cache")
    assert json.loads((art / "frozen_graph.json").read_text()) == {"inputs": ["x:0"],
                                                                  "outputs": ["y:0"]}
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["format"] == "frozen-graph" and manifest["model"] == fx.name
    meta = json.loads((ref / "reference.json").read_text())
    with np.load(ref / "reference.npz") as z:
        assert set(z.files) == {"x0", "y0"} and meta["n_outputs"] == 1
    assert stage(fx, tmp_path / "cache") == (art, ref)  # made once, reused


@pytest.mark.skipif(not (FIXTURES / "third-party-tf1-checkpoint-tf2onnx-regression").is_dir(),
                    reason="the repository's fixtures are not there")
def test_a_users_tf1_checkpoint_is_staged_with_its_own_tensor_names(tmp_path):
    """tf2onnx's .meta graph takes X and gives pred: staging names them for import_meta_graph,
    which otherwise feeds the zoo's x:0 and fetches y:0 (a false load-error under every TF);
    the harness's own TF1 checkpoint keeps the zoo names (no sidecar)."""
    fx = read(_copy_fixture("third-party-tf1-checkpoint-tf2onnx-regression", tmp_path))
    art, _ = stage(fx, tmp_path / "cache")
    assert json.loads((art / "frozen_graph.json").read_text()) == {"inputs": ["X:0"],
                                                                  "outputs": ["pred:0"]}
    own = read(_copy_fixture("tf1-saver-checkpoint-tf2.12", tmp_path))
    art, _ = stage(own, tmp_path / "cache")
    assert not (art / "frozen_graph.json").exists()


def test_tf1_checkpoint_inputs_are_named_after_the_graphs_placeholders(tmp_path):
    from harness.regression.make import _placeholder_specs

    info = {"signatures": {"graph": {"placeholders": ["X", "Y"]}}}
    np.savez(tmp_path / "named.npz", X=np.zeros(4, np.float32))
    np.savez(tmp_path / "plain.npz", x0=np.zeros(4, np.float32))
    # the label placeholder Y is left unfed; positional arrays keep the zoo's own names
    assert [s["tensor"] for s in _placeholder_specs(info, tmp_path / "named.npz")] == ["X:0"]
    assert _placeholder_specs(info, tmp_path / "plain.npz") == []
    assert _placeholder_specs(info, tmp_path / "missing.npz") == []


class _FakeEnv:
    """Enough of an environment for `freeze`: no TF, nothing installed."""

    backend = "uv"
    info = {"tf": "2.99.0"}

    def __init__(self, spec, cache_dir):
        self.spec = spec

    def check(self):
        pass

    def create(self):
        pass


def _fake_save_worker(env, phase, requests, work_dir, *, on_result, **kw):
    """One worker process: it builds each model once and saves every requested format from
    that one live object, as harness/worker/save.py does; its `h5` save drops the optimizer
    from the live model, as Keras 3's legacy .h5 save does."""
    live: dict[str, dict] = {}
    for req in requests:
        model = live.setdefault(req.model, {"optimizer": "Adam"})
        ref = Path(req.reference_dir)
        if not (ref / "reference.json").exists():
            ref.mkdir(parents=True, exist_ok=True)
            np.savez(ref / "reference.npz", x0=np.zeros((2, 3), "float32"),
                     y0=np.ones((2, 1), "float32"), p0=np.ones(3, "float32"))
            (ref / "reference.json").write_text(json.dumps(
                {"model": req.model, "scope": req.model, "n_outputs": 1, "param_names": ["w"],
                 "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 3]}],
                 "outputs": [{"name": "y", "dtype": "float32", "shape": [None, 1]}],
                 "resume": {"optimizer": model["optimizer"], "iterations": 2}}))
        art = Path(req.artifact_dir)
        art.mkdir(parents=True, exist_ok=True)
        (art / "compile_config.json").write_text(json.dumps({"optimizer": model["optimizer"]}))
        if req.format == "h5":
            model["optimizer"] = None
        (art / "manifest.json").write_text(json.dumps(
            {"format": req.format, "model": req.model, "on_disk_format": "zip",
             "producer": {"tf": "2.99.0", "keras": "3.99.0"}}))
        on_result(req, {"status": "ok"})


@pytest.mark.parametrize("formats", [["h5", "keras"], ["keras", "h5"]])
def test_freeze_saves_no_format_after_another_from_one_live_model(tmp_path, monkeypatch,
                                                                   formats):
    """A `.keras` frozen after an `.h5` of the same live Keras 3 model held no optimizer (its
    loaders then compiled RMSprop): each artifact must come from a model nothing else was
    saved from, whatever the order of --formats."""
    from harness import envs
    from harness.regression import make
    from harness.run import batch as execute

    monkeypatch.setattr(envs, "get_backend", lambda name: _FakeEnv)
    monkeypatch.setattr(execute, "run_batch", _fake_save_worker)
    made = make.freeze("2.99", ["cnn"], formats, tmp_path / "fx",
                       make.Options(cache_dir=tmp_path / "cache"))
    assert sorted(fx.name for fx in made) == ["cnn-h5-tf2.99.0", "cnn-keras-tf2.99.0"]
    for fx in made:
        art = json.loads((fx.path / "artifact" / "compile_config.json").read_text())
        assert art == {"optimizer": "Adam"}, fx.name
        assert json.loads(fx.reference["resume"])["optimizer"] == "Adam", fx.name
        with np.load(fx.path / "inputs.npz") as z:
            assert z.files == ["x0"]


def test_freeze_plans_one_worker_and_one_reference_per_artifact(tmp_path):
    from harness.regression.make import save_batches

    batches = save_batches([("cnn", "h5"), ("cnn", "keras"), ("seq", "h5"), ("cnn", "h5")],
                           tmp_path)
    assert [len(b) for b in batches] == [1, 1, 1]
    reqs = [r for (r,) in batches]
    assert len({r.reference_dir for r in reqs}) == len({r.artifact_dir for r in reqs}) == 3
    assert all(r.artifact_dir == r.reference_dir / r.format for r in reqs)


def test_staging_uses_the_name_each_formats_loaders_open(tmp_path):
    """A user's file is staged under the very name its format's worker loaders open (weights:
    Keras picks the legacy or the new reader by that name), whatever the user called it."""
    import re

    from harness.regression.stage import ENTRY, copy_artifact
    from harness.worker.detect import _hdf5_kind

    opened = {}
    for src in (REPO / "harness" / "worker" / "formats").glob("*.py"):
        text = src.read_text()
        name = re.search(r'^NAME = "([^"]+)"', text, re.M)
        entry = re.search(r'^(?:FILENAME|DIRNAME) = "([^"]+)"', text, re.M)
        if name and entry:
            opened[name.group(1)] = entry.group(1)
    for fmt, entry in ENTRY.items():
        if entry is not None and fmt in opened:
            assert entry == opened[fmt], fmt
    h5py = pytest.importorskip("h5py", reason="telling a weights file apart needs h5py")
    for user_name, fmt in (("my_weights.h5", "weights-h5"), ("mine.weights.h5", "weights-h5-v3")):
        path = tmp_path / user_name
        with h5py.File(path, "w") as f:
            f.attrs["layer_names"] = [b"dense"]
        assert _hdf5_kind(path) == fmt
        copy_artifact(path, fmt, tmp_path / fmt)
        assert (tmp_path / fmt / opened[fmt]).is_file()


def test_try_inspects_with_an_environment_already_here(tmp_path):
    """No download just to read the bytes: the newest TF environment present, else the newest
    target."""
    from harness.commands.try_cmd import inspection_env

    assert inspection_env(tmp_path, ["2.16", "2.13"]) == "2.16"
    for name in ("2.12-cpu-aa", "2.14-cpu-bb", "2.21_tf_keras-cpu-cc"):
        (tmp_path / "envs" / name).mkdir(parents=True)
        (tmp_path / "envs" / name / "harness-env.json").write_text("{}")
    assert inspection_env(tmp_path, ["2.16"]) == "2.14"


def test_try_keeps_its_runs_out_of_the_newest_run_of_results():
    from harness.cli import build_parser

    args = build_parser().parse_args(["try", "x.h5", "--load", "2.16"])
    assert args.results_dir == Path("results") / "try"


def test_try_names_the_runtime_package_a_loader_ran():
    """An .onnx or a LiteRT cell follows onnxruntime's or ai-edge-litert's version, not TF's:
    try names it on the loader's line, and says so once when every target had the same."""
    from harness.commands.try_cmd import _runtime_lines, runtime_of

    envs = {"2.16": {"tf": "2.16.2", "onnxruntime": "1.32.0", "ai_edge_litert": "2.3.0"},
            "2.21": {"tf": "2.21.0", "onnxruntime": "1.32.0", "ai_edge_litert": "2.4.0"}}
    assert runtime_of("onnxruntime.InferenceSession", envs["2.16"]) == "onnxruntime 1.32.0"
    assert runtime_of("ai_edge_litert.interpreter.Interpreter", envs["2.21"]) == \
        "ai-edge-litert 2.4.0"
    assert runtime_of("tf.lite.Interpreter", envs["2.16"]) is None  # TF's own kernels
    assert runtime_of("onnxruntime.InferenceSession", {}) == "onnxruntime (version not recorded)"
    lines = _runtime_lines(["onnxruntime.InferenceSession",
                            "ai_edge_litert.interpreter.Interpreter", "tf.lite.Interpreter"],
                           ["2.16", "2.21"], envs)
    assert lines == ["note: `onnxruntime.InferenceSession` ran onnxruntime 1.32.0 under every "
                     "target: its cells follow that package's version, not TF's"]


def test_trys_cache_key_reads_through_a_symlinked_folder(tmp_path):
    """A SavedModel whose variables/ is a link: the key covers the linked bytes (a change there
    makes try judge again instead of reporting the old copy), and a looping link ends."""
    from harness.commands.try_cmd import _files_followed

    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "variables.data-00000-of-00001").write_bytes(b"v1")
    art = tmp_path / "model"
    art.mkdir()
    (art / "saved_model.pb").write_bytes(b"pb")
    (art / "variables").symlink_to(real, target_is_directory=True)
    (real / "loop").symlink_to(art, target_is_directory=True)
    names = [p.relative_to(art).as_posix() for p in _files_followed(art)]
    assert "variables/variables.data-00000-of-00001" in names and "saved_model.pb" in names
    assert len(names) == len(set(names)) < 10


@pytest.mark.parametrize(("edit", "message"), [
    (('format = "h5"', 'format = "onnx"'), "format 'onnx' is recorded, but the bytes of"),
    (('artifact = "artifact"', 'artifact = "/etc"'), "artifact '/etc' is outside the fixture"),
    (('artifact = "artifact"', 'artifact = "../cnn-keras-tf2.12.1/artifact"'),
     "is outside the fixture's folder"),
    (('artifact = "artifact"', 'artifact = "inputs.npz"'), None),  # listed, but no h5: format
])
def test_an_edited_fixture_toml_is_refused(tmp_path, edit, message):
    """fixture.toml is not hashed (it holds the hashes): what it says about the artifact is
    checked instead, its path inside the fixture and listed, its format against the bytes."""
    import shutil

    from harness.errors import UserError
    from harness.regression.model import read

    src = REPO / "fixtures" / "cnn-h5-tf2.12.1"
    fx_dir = tmp_path / "fx" / "cnn-h5-tf2.12.1"
    shutil.copytree(src, fx_dir)
    shutil.copytree(src.parent / "cnn-keras-tf2.12.1", tmp_path / "fx" / "cnn-keras-tf2.12.1")
    read(fx_dir).check()  # as committed: fine
    toml = fx_dir / "fixture.toml"
    text = toml.read_text()
    assert edit[0] in text
    toml.write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(UserError) as exc:
        read(fx_dir).check()
    assert message is None or message in str(exc.value)


def test_input_synthesis_refuses_a_huge_declared_shape_and_skips_odd_configs():
    """A signature declaring a ~10 GB input is refused before any allocation (the limit a zip
    member has); a .keras whose layer config is a string is no crash."""
    from harness.errors import UserError
    from harness.regression.synth import MAX_INPUT_BYTES, specs_from_keras_config, synthesize

    with pytest.raises(UserError, match="over the 64 MB a synthesized input may take"):
        synthesize([{"name": "x", "dtype": "float32", "shape": [1, 50_000, 50_000]}])
    assert MAX_INPUT_BYTES == 64 << 20
    small = synthesize([{"name": "x", "dtype": "float32", "shape": [2, 3]}])
    assert small["x0"].shape == (2, 3)
    odd = {"class_name": "Sequential", "config": {"layers": ["Dense", {"config": "text"},
                                                             {"class_name": "InputLayer",
                                                              "config": {"batch_shape":
                                                                         [None, 4]}}]}}
    for config in ({"class_name": "Sequential", "config": "not an object"}, odd):
        with pytest.raises(UserError, match="cannot tell the model's input shapes"):
            specs_from_keras_config(config)  # one clear line, not an AttributeError


def test_fixtures_add_refuses_a_link_out_and_list_skips_a_killed_adds_staging(tmp_path, capsys):
    from harness.cli import main

    outside = tmp_path / "secret.txt"
    outside.write_text("not yours")
    art = tmp_path / "model"
    art.mkdir()
    (art / "saved_model.pb").write_bytes(b"\n\x00")
    (art / "assets").symlink_to(outside)
    assert main(["fixtures", "add", str(art), "--name", "x", "--dir",
                 str(tmp_path / "fx")]) == 2
    err = capsys.readouterr().err
    assert "is a link to" in err and "outside the artifact" in err and err.count("\n") == 1
    assert not (tmp_path / "fx" / "x").exists()
    # a staging folder a SIGKILLed add left: named, not counted
    fx = tmp_path / "fx2"
    (fx / ".churn-v3-abc123" / "artifact").mkdir(parents=True)
    (fx / ".churn-v3-abc123" / "artifact" / "big.bin").write_bytes(b"0" * 2_000_000)
    assert main(["fixtures", "list", "--dir", str(fx)]) == 0
    out = capsys.readouterr().out
    assert "0 fixture(s), 0.0 MB" in out and ".churn-v3-abc123 (2.0 MB) is what an interrupted" \
        in out
