"""harness.plan.specs (what a version spec means) and harness.plan.cells (which cells a run has)."""

from __future__ import annotations

import pytest

from harness.plan.cells import PlanError, plan_cells
from harness.plan.specs import EnvSpec, SpecError
from harness.vocab import FORMAT_LOADERS, MODELS


@pytest.mark.parametrize("text, tf, variant", [
    ("2.16", "2.16", None),
    ("2.16.1", "2.16.1", None),
    (" 2.16+tf_keras ", "2.16", "tf_keras"),
    ("2.16+keras==3.3.3", "2.16", "keras==3.3.3"),
])
def test_parse(text, tf, variant):
    spec = EnvSpec.parse(text)
    assert (spec.tf, spec.variant, spec.device) == (tf, variant, "cpu")
    assert spec.label == text.strip()
    assert spec.minor == (2, 16)


@pytest.mark.parametrize("text", ["", "2", "v2.16", "2.16.1.0", "2.16+jax", "2.16+keras>=3",
                                  "2.16+tf_keras+keras==3.3.3", "latest"])
def test_bad_spec(text):
    with pytest.raises(SpecError) as err:
        EnvSpec.parse(text)
    msg = str(err.value)
    assert f"bad TF version spec {text!r}" in msg
    assert "2.16+keras==3.3.3" in msg and "\n" not in msg


@pytest.mark.parametrize("text, device, want", [
    ("2.16", "cpu", ["tensorflow-cpu==2.16.*", "h5py"]),
    ("2.16.1", "cpu", ["tensorflow-cpu==2.16.1", "h5py"]),
    ("2.16+tf_keras", "cpu", ["tensorflow-cpu==2.16.*", "h5py", "tf-keras==2.16.*"]),
    ("2.16.1+tf_keras", "cpu", ["tensorflow-cpu==2.16.1", "h5py", "tf-keras==2.16.*"]),
    ("2.16+keras==3.3.3", "cpu", ["tensorflow-cpu==2.16.*", "h5py", "keras==3.3.3"]),
    ("2.16", "gpu", ["tensorflow[and-cuda]==2.16.*", "h5py"]),
])
def test_requirements(text, device, want):
    assert EnvSpec.parse(text, device=device).requirements() == want


def test_env_vars():
    assert EnvSpec.parse("2.16+tf_keras").env_vars() == {"TF_USE_LEGACY_KERAS": "1"}
    assert EnvSpec.parse("2.16").env_vars() == {}
    assert EnvSpec.parse("2.16+keras==3.3.3").env_vars() == {}


def test_check_python_ok():
    EnvSpec.parse("2.12").check_python("3.11.7")
    EnvSpec.parse("2.16.1+tf_keras").check_python("3.12")


def test_check_python_no_wheels():
    with pytest.raises(SpecError, match=r"TF 2\.11: no wheels for Python 3\.11 "
                                        r"\(it has 3\.7, 3\.8, 3\.9, 3\.10\)"):
        EnvSpec.parse("2.11").check_python("3.11.4")


def test_check_python_unknown_release():
    with pytest.raises(SpecError, match=r"TF 2\.99: not a TensorFlow 2 release"):
        EnvSpec.parse("2.99").check_python("3.11.4")


def test_check_python_tf_keras_needs_216():
    with pytest.raises(SpecError, match=r"2\.15\+tf_keras: tf_keras is for TF >= 2\.16"):
        EnvSpec.parse("2.15+tf_keras").check_python("3.11.4")


# -- plan -----------------------------------------------------------------------------------

S = [EnvSpec.parse("2.12"), EnvSpec.parse("2.16+tf_keras")]
L = [EnvSpec.parse("2.16")]


def test_plan_all_cells():
    cells = plan_cells(S, L)
    per_model = sum(len(v) for v in FORMAT_LOADERS.values())
    assert per_model >= 12  # the five core formats alone have 12 loaders
    assert len(cells) == len(S) * len(L) * len(MODELS) * per_model
    assert len({c.key() for c in cells}) == len(cells)
    assert {c.save_tf for c in cells} == {"2.12", "2.16+tf_keras"}


def test_plan_selection():
    cells = plan_cells(S, L, models=["mlp", "cnn", "mlp"], formats=["keras", "tf-checkpoint"])
    per_model = len(FORMAT_LOADERS["keras"]) + len(FORMAT_LOADERS["tf-checkpoint"])
    assert len(cells) == 2 * 1 * 2 * per_model  # the repeated mlp counts once
    cells = plan_cells(S[:1], L, models=["mlp"], loaders=["keras.models.load_model"])
    assert sorted(c.format for c in cells) == sorted(
        f for f, loaders in FORMAT_LOADERS.items() if "keras.models.load_model" in loaders)
    assert {"h5", "keras", "savedmodel"} <= {c.format for c in cells}
    assert cells[0].as_dict() == {"save_tf": "2.12", "save_device": "cpu", "load_tf": "2.16",
                                  "load_device": "cpu", "model": "mlp",
                                  "format": "savedmodel", "loader": "keras.models.load_model"}


@pytest.mark.parametrize("kw, msg", [
    ({"models": ["resnet"]}, "unknown model resnet"),
    ({"formats": ["torchscript"]}, "unknown format torchscript"),
    ({"loaders": ["torch.load"]}, "unknown loader torch.load"),
    ({"formats": ["weights-h5"], "loaders": ["tf.saved_model.load"]}, "leaves no cells"),
])
def test_plan_errors(kw, msg):
    with pytest.raises(PlanError, match=msg):
        plan_cells(S, L, **kw)


def test_plan_needs_save_and_load():
    with pytest.raises(PlanError, match="at least one --save"):
        plan_cells([], L)
    with pytest.raises(PlanError, match="at least one --save"):
        plan_cells(S, [])


def test_an_as_of_variant_is_an_environment_of_its_own_day():
    spec = EnvSpec.parse("2.16+as_of=2024-04-01")
    assert spec.as_of == "2024-04-01" and spec.label == "2.16+as_of=2024-04-01"
    assert spec.requirements() == EnvSpec.parse("2.16").requirements()  # same pins, other day
    for bad in ("2.16+as_of=2024-13-01", "2.16+as_of=2999-01-01"):
        with pytest.raises(SpecError):
            EnvSpec.parse(bad)
