"""Matrix specs (harness.plan.matrix) without TF: axes, include/exclude, tolerances, variants,
devices, the shipped specs, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.paths import REPO

from harness.cli import main as cli_main
from harness.plan.matrix import Matrix, MatrixError
from harness.vocab import FORMAT_LOADERS, FORMATS, MODELS


def spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.toml"
    p.write_text(text)
    return p


def test_axes_make_the_product(tmp_path):
    m = Matrix.load(spec(tmp_path, """
[matrix]
save = ["2.12", "2.16"]
load = ["2.16"]
models = ["mlp", "cnn"]
formats = ["h5", "tf-checkpoint"]
"""))
    cells = m.cells()
    per_model = len(FORMAT_LOADERS["h5"]) + len(FORMAT_LOADERS["tf-checkpoint"])
    assert len(cells) == 2 * 1 * 2 * per_model
    assert {(c.save_device, c.load_device) for c in cells} == {("cpu", "cpu")}
    assert len(set(cells)) == len(cells)


def test_exclude_globs_and_include_blocks(tmp_path):
    m = Matrix.load(spec(tmp_path, """
[matrix]
save = ["2.12", "2.16"]
load = ["2.12", "2.16"]
models = ["mlp"]
formats = ["h5"]

[[exclude]]
save_tf = "2.12"
load_tf = ["2.16"]
loader = "keras.models.load_model[*"

[[include]]
save = ["2.16"]
load = ["2.16"]
load_devices = ["cpu-noonednn", "gpu"]
loaders = ["keras.models.load_model"]
"""))
    cells = m.cells()
    keys = {(c.save_tf, c.load_tf, c.load_device, c.loader) for c in cells}
    # the glob takes both bracketed variants, only in the 2.12 -> 2.16 direction
    assert ("2.12", "2.16", "cpu", "keras.models.load_model[compile=False]") not in keys
    assert ("2.12", "2.16", "cpu", "keras.models.load_model") in keys
    assert ("2.16", "2.12", "cpu", "keras.models.load_model[compile=False]") in keys
    assert ("2.16", "2.16", "gpu", "keras.models.load_model") in keys
    assert ("2.16", "2.16", "cpu-noonednn", "keras.models.load_model") in keys
    assert ("2.16", "2.16", "gpu", "keras.models.load_model[compile=False]") not in keys
    n = len(FORMAT_LOADERS["h5"])
    bracketed = sum("[" in ld for ld in FORMAT_LOADERS["h5"])
    assert len(cells) == 4 * n - bracketed + 2


def test_variants_only_where_they_exist(tmp_path):
    m = Matrix.load(spec(tmp_path, """
[matrix]
save = ["2.15", "2.16"]
load = ["2.16"]
variants = ["tf_keras"]
models = ["mlp"]
formats = ["keras"]
"""))
    cells = m.cells()
    assert {c.save_tf for c in cells} == {"2.15", "2.16", "2.16+tf_keras"}
    assert {c.load_tf for c in cells} == {"2.16", "2.16+tf_keras"}


def test_tolerances_per_format_win_over_per_dtype(tmp_path):
    m = Matrix.load(spec(tmp_path, """
[matrix]
save = ["2.16"]
load = ["2.16"]
[tolerances]
float32 = { rtol = 1e-5, atol = 2e-5 }
[tolerances.h5]
float32 = [1e-3, 1e-4]
"""))
    assert m.tolerance("h5", "float32") == (1e-3, 1e-4)
    assert m.tolerance("keras", "float32") == (1e-5, 2e-5)
    assert m.tolerance("keras", "float16") is None
    again = Matrix.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again.tolerance("h5", "float32") == (1e-3, 1e-4)
    assert again.cells() == m.cells()


def test_round_trip_through_run_json_keeps_rules(tmp_path):
    m = Matrix.load(spec(tmp_path, """
[matrix]
save = ["2.12"]
load = ["2.16"]
devices = ["cpu", "cpu-noonednn"]
[[exclude]]
format = ["keras", "h5"]
[[include]]
save = ["2.16"]
formats = ["h5"]
"""))
    again = Matrix.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again.cells() == m.cells()
    assert {c.save_device for c in m.cells()} == {"cpu", "cpu-noonednn"}


@pytest.mark.parametrize("name", ["smoke.toml", "nightly.toml"])
def test_shipped_specs_load(name):
    m = Matrix.load(REPO / "matrix" / name)
    cells = m.cells()
    assert cells
    if name == "nightly.toml":
        minors = [f"2.{i}" for i in range(12, 22)]
        tf_keras = {f"2.{i}+tf_keras" for i in range(16, 22)}
        contemporary = "2.16+as_of=2024-04-01"  # Keras as 2.16's users had it at release
        assert {c.save_tf for c in cells} == set(minors) | {contemporary}
        assert {c.load_tf for c in cells} == set(minors) | tf_keras | {contemporary}
        # every zoo model, every format, every loader of it
        assert m.models is None and m.formats is None and m.loaders is None
        assert {c.model for c in cells} == set(MODELS)
        assert {c.format for c in cells} == set(FORMATS)
        per_model = sum(len(FORMAT_LOADERS[f]) for f in FORMATS)
        assert len(cells) == (100 + 4 * 6 + 5) * len(MODELS) * per_model
    else:
        assert {c.load_device for c in cells} == {"cpu", "cpu-noonednn", "gpu"}


@pytest.mark.parametrize("text, msg", [
    ("[matrix\nsave = 1", "bad TOML"),
    ("[matrix]\nload = ['2.16']", "matrix.save must list at least one TF version"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\nmodels = ['resnet']", "unknown model resnet"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\nformats = ['hd5']", "unknown format hd5"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\ndevices = ['tpu']", "unknown device tpu"),
    ("[matrix]\nsave = ['v2.16']\nload = ['2.16']", "bad TF version spec 'v2.16'"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\nmodel = ['mlp']", "unknown key(s) in [matrix]"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\n[[exclude]]\nformat = 'hd5'",
     "[[exclude]] #1 format: unknown format 'hd5'"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\n[[exclude]]\nversion = '2.12'",
     "unknown cell field 'version'"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\n[[include]]\nmodel = ['mlp']",
     "[[include]] #1: unknown key 'model'"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\n[tolerances]\nfloat33 = [1, 1]",
     "'float33' is neither a dtype"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\n[tolerances]\nfloat32 = [1]",
     "expected { rtol = R, atol = A }"),
    ("[matrix]\nsave = ['2.16']\nload = ['2.16']\n[[exclude]]\nsave_tf = '2.16'",
     "the spec leaves no cells"),
])
def test_bad_specs_fail_in_one_line(tmp_path, text, msg):
    with pytest.raises(MatrixError) as err:
        Matrix.load(spec(tmp_path, text)).cells()
    assert msg in str(err.value) and "\n" not in str(err.value)
    assert str(tmp_path / "m.toml") in str(err.value)


@pytest.mark.parametrize("argv, msg", [
    (["--matrix", "{missing}"], "does not exist"),
    (["--matrix", "{bad}"], "bad TOML"),
    (["--save", "2.12", "--load", "2.16", "--shard", "3/2"], "bad --shard '3/2'"),
    (["--save", "2.12", "--load", "2.16", "--shard", "x"], "bad --shard 'x'"),
    (["--save", "2.12", "--load", "2.16", "--devices", "tpu"], "unknown device tpu"),
    (["--save", "2.12"], "give --save and --load, or --matrix FILE, or --resume RUN"),
    (["--resume", "{missing}"], "not a run folder"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, msg):
    bad = tmp_path / "bad.toml"
    bad.write_text("[matrix\n")
    argv = [a.format(missing=tmp_path / "nope", bad=bad) for a in argv]
    rc = cli_main(["run", *argv, "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("harness: error: ") and msg in err and err.count("\n") == 1
    assert not (tmp_path / "results").exists()  # nothing started, nothing written
