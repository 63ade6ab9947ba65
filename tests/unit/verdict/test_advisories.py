"""Keras versions with published safe_mode bypasses say so (issue 27): in the run's header and in
every row loaded with a Keras loader; a patched Keras says nothing."""

from __future__ import annotations

from support.runs import VERSIONS, make_run, row

from harness.cli import main
from harness.plan.cells import Cell
from harness.verdict.advisories import advisory_note, keras_advisories, loads_with_keras
from harness.verdict.rows import Side, build_row


def test_each_keras_version_gets_the_advisories_it_is_older_than():
    assert keras_advisories("3.1.1") == ["CVE-2025-1550", "CVE-2025-8747", "CVE-2025-9906",
                                         "CVE-2025-9905", "CVE-2026-1462"]
    assert keras_advisories("3.10.0") == ["CVE-2025-8747", "CVE-2025-9906", "CVE-2025-9905",
                                          "CVE-2026-1462"]
    assert keras_advisories("3.11.3") == ["CVE-2026-1462"]
    assert keras_advisories("3.15.1") == []
    assert keras_advisories("2.12.0") == ["CVE-2024-3660"]
    assert keras_advisories("2.15.0") == []
    assert keras_advisories(None) == [] and advisory_note("stub") is None


def test_a_keras_loader_row_under_an_affected_keras_names_the_advisories():
    old = {"tf": "2.16.1", "keras": "3.1.1"}
    cell = Cell("2.12", "cpu", "2.16+as_of=2024-04-01", "cpu", "mlp", "h5",
                "keras.models.load_model")
    from harness.verdict.rows import LoadOutcome

    load = LoadOutcome({"status": "load-error", "error_type": "ValueError", "error": "x"}, None,
                       None)
    saved = {"status": "ok"}
    got = build_row(cell, saved, Side("2.12", {"keras": "2.12.0"}, {}), Side("2.16", old, {}),
                    load=load)
    assert "CVE-2025-1550" in got["notes"]["keras_advisories"]
    new = build_row(cell, saved, Side("2.12", {"keras": "2.12.0"}, {}),
                    Side("2.16", {"keras": "3.15.1"}, {}), load=load)
    assert "keras_advisories" not in (new["notes"] or {})
    assert loads_with_keras("keras.layers.TFSMLayer[call_endpoint=serving_default]")
    assert not loads_with_keras("tf.saved_model.load")


def test_show_names_an_environment_whose_keras_has_bypasses(tmp_path, capsys):
    versions = dict(VERSIONS["2.16"], keras="3.1.1")
    rows = [row("2.12", "2.16", "mlp", "h5", "keras.models.load_model", "pass",
                load_versions=versions)]
    envs = {label: {"key": f"{label}-cpu-0000", "backend": "uv", "resolved": v,
                    "requested": {"spec": label, "device": "cpu"}}
            for label, v in (("2.12", VERSIONS["2.12"]), ("2.16", versions))}
    run = make_run(tmp_path, rows=rows, info={"environments": envs})
    assert main(["show", str(run), "--width", "80"]) == 0
    out = capsys.readouterr().out
    assert "Keras 3.1.1 has published safe_mode bypasses (CVE-2025-1550" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 80
