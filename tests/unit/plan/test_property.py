"""Property tests (hypothesis) of the readers of files a user or a CI job hands us: the matrix
TOML and an artifact's manifest.json.  Any input either parses or fails with a HarnessError of
one line, never another exception.  And the one glob dialect: matrix rules and expectations
agree on every value and pattern."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.digests import read_manifest
from harness.errors import HarnessError
from harness.findings.expectations import parse as parse_expectations
from harness.plan import globs
from harness.plan.matrix import AXES, Matrix, Rule
from harness.vocab import DEVICES, FORMATS, MODELS

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

WORDS = st.sampled_from(["2.12", "2.16", "2.16.1", "2.16+tf_keras", "2.99", "x", "", "*",
                         "2.1[2-5]", "tf_keras", "keras==3.3.3", *MODELS, *FORMATS, *DEVICES,
                         "keras.models.load_model[compile=False]", "float32", "rtol"])
KEYS = st.sampled_from([*AXES, "name", "description", "as_of", "matrix", "include", "exclude",
                        "tolerances", "save_tf", "load_tf", "model", "format", "loader",
                        "float32", "rtol", "atol", "modle", ""])
SCALARS = st.one_of(WORDS, st.text(max_size=8), st.integers(), st.floats(), st.booleans(),
                    st.dates(), st.none())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)


def one_line(exc: BaseException) -> None:
    assert isinstance(exc, HarnessError), f"{type(exc).__name__}: {exc}"
    assert str(exc) and "\n" not in str(exc), repr(str(exc))


def build(data) -> None:
    try:
        Matrix.from_toml(data, "m.toml").cells()
    except Exception as exc:  # noqa: BLE001 - the property: only one-line HarnessErrors
        one_line(exc)


@SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_any_toml_structure_parses_or_fails_in_one_line(data):
    build(data)


@SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=5), st.dictionaries(KEYS, VALUES, max_size=5))
def test_any_matrix_table_parses_or_fails_in_one_line(matrix, rest):
    build({"matrix": {"save": ["2.16"], "load": ["2.16"]} | matrix} | {
        k: v for k, v in rest.items() if k in ("include", "exclude", "tolerances")})


@SETTINGS
@given(st.lists(st.dictionaries(KEYS, VALUES, max_size=4), max_size=3),
       st.lists(st.dictionaries(KEYS, VALUES, max_size=4), max_size=3))
def test_any_include_and_exclude_entries(includes, excludes):
    build({"matrix": {"save": ["2.16"], "load": ["2.16"], "models": ["mlp"]},
           "include": includes, "exclude": excludes})


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("m") / "m.toml"
    path.write_bytes(raw)
    try:
        Matrix.load(path).cells()
    except Exception as exc:  # noqa: BLE001
        one_line(exc)


@SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_stored_matrix(d):
    try:
        Matrix.from_dict(d).cells()
    except Exception as exc:  # noqa: BLE001
        one_line(exc)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                    st.text(max_size=70), lambda inner: st.lists(inner, max_size=3) |
                    st.dictionaries(st.sampled_from(["files", "sha256", "a", "../b", "/c", ""]) |
                                    st.text(max_size=5), inner, max_size=3), max_leaves=10)


@SETTINGS
@given(JSON)
def test_any_manifest_json(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("a") / "manifest.json"
    path.write_text(json.dumps(data))
    try:
        files = read_manifest(path)
    except Exception as exc:  # noqa: BLE001
        one_line(exc)
        return
    assert all(isinstance(k, str) and len(v) == 64 for k, v in files.items())


@SETTINGS
@given(st.binary(max_size=300))
def test_any_manifest_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("a") / "manifest.json"
    path.write_bytes(raw)
    try:
        read_manifest(path)
    except Exception as exc:  # noqa: BLE001
        one_line(exc)


def test_a_deeply_nested_manifest():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "manifest.json"
        path.write_text("[" * 100000 + "]" * 100000)
        try:
            read_manifest(path)
        except Exception as exc:  # noqa: BLE001
            one_line(exc)


# --- one glob dialect -------------------------------------------------------------------------

VALUES_TO_MATCH = st.sampled_from(["2.12", "2.15", "2.16", "2.16.1", "2.16+tf_keras", "2.21",
                                   "keras.models.load_model",
                                   "keras.models.load_model[compile=False]", "mlp", "h5"])
PATTERNS = st.sampled_from(["2.1[2-5]", "2.1[2-5].*", "2.1?", "2.2?", "*", "2.16*", "2.16",
                            "keras.models.load_model[compile=False]", "keras.models.load_model*",
                            "keras.models.load_model[*", "keras.models.load_model[*]",
                            "[!2]*", "m?p", "h5"])


@SETTINGS
@given(VALUES_TO_MATCH, PATTERNS)
def test_matrix_rules_and_expectations_agree(value, pattern):
    rule = Rule((("save_tf", (pattern,)),))
    exp = parse_expectations({"expect": [{"save_tf": pattern, "status": "pass",
                                          "reason": "r"}]}).entries[0]
    cell = {"save_tf": value}
    assert rule.matches(cell) == exp.matches(cell) == globs.match(value, pattern)


def test_the_dialect():
    assert globs.match("2.13", "2.1[2-5]") and not globs.match("2.16", "2.1[2-5]")
    assert globs.match("keras.models.load_model[compile=False]",
                       "keras.models.load_model[compile=False]")
    # ... and, read as a class, matches "load_model" + one of its letters: harmless, since a
    # loader pattern must match a known loader name and no known name looks like that
    assert globs.match("keras.models.load_modele", "keras.models.load_model[compile=False]")
    assert globs.match("keras.models.load_model[custom_objects]", "keras.models.load_model[*")
    assert globs.match("2.16+tf_keras", "2.16*") and not globs.match("2.16+tf_keras", "2.16")
    m = Matrix.from_toml({"matrix": {"save": ["2.12", "2.13"], "load": ["2.16"],
                                     "models": ["mlp"], "formats": ["h5"]},
                          "exclude": [{"save_tf": "2.1[2-2]"}]})
    assert {c.save_tf for c in m.cells()} == {"2.13"}  # a class now works as a matrix exclude
    m = Matrix.from_toml({"matrix": {"save": ["2.12"], "load": ["2.16"], "models": ["mlp"],
                                     "as_of": dt.date(2024, 5, 1)}})  # TOML's unquoted date
    assert m.as_of == "2024-05-01"
