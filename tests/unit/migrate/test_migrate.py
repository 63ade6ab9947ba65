"""`harness migrate`: the command's input checks and --plan (no TF), and real Keras 2 -> Keras 3
migrations of zoo artifacts frozen under TF 2.13, each proven by the ordinary comparison under
TF 2.16 (every parameter bit-identical, predictions within tolerance), plus an artifact no route
can migrate, which must fail honestly (exit 1, each route's message, nothing written)."""

from __future__ import annotations

import pytest
from support.paths import REPO

from harness import cli
from harness.commands.migrate import default_dest
from harness.migrate.routes import ROUTES

PRODUCER = "2.13"

SEQ_H5 = REPO / "fixtures" / "seq-h5-tf2.12.1"


# -- no TF --------------------------------------------------------------------------------------
def test_default_output_sits_beside_the_input(tmp_path):
    (tmp_path / "exported" / "1").mkdir(parents=True)
    assert default_dest(tmp_path / "model.h5", "2.16") == tmp_path / "model.migrated-2.16.keras"
    assert default_dest(tmp_path / "exported" / "1", "2.21") == \
        tmp_path / "exported" / "1.migrated-2.21.keras"
    assert default_dest(tmp_path / "model.weights.h5", "2.16") == \
        tmp_path / "model.migrated-2.16.keras"


@pytest.mark.skipif(not SEQ_H5.is_dir(), reason="the repository's fixtures are not there")
def test_plan_lists_the_routes_and_writes_nothing(tmp_path, capsys):
    before = sorted(p.name for p in SEQ_H5.parent.iterdir())
    rc = cli.main(["migrate", str(SEQ_H5), "--to", "2.16", "--plan",
                   "--results-dir", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert rc == 0
    keras_routes = [r.name for r in ROUTES if r.output == "keras"]
    assert [line.split(".", 1)[1].split(":")[0].strip() for line in out.splitlines()
            if line.strip()[:2] in ("1.", "2.", "3.")] == keras_routes
    assert "under 2.16+tf_keras" in out and "under 2.12" in out and "nothing written" in out
    assert not (tmp_path / "results").exists()
    assert sorted(p.name for p in SEQ_H5.parent.iterdir()) == before


@pytest.mark.skipif(not SEQ_H5.is_dir(), reason="the repository's fixtures are not there")
@pytest.mark.parametrize("argv, says", [
    (["--to", ""], "--to is empty"),
    (["--to", "banana"], "banana"),
    (["--to", "2.16", "--tf", "2.12"], "it brings its own"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, says):
    rc = cli.main(["migrate", str(SEQ_H5), *argv, "--out", str(tmp_path / "m.keras"),
                   "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1


def test_an_existing_output_is_never_written_over(tmp_path, capsys):
    art = tmp_path / "model.h5"
    art.write_bytes(b"\x89HDF\r\n\x1a\n")
    (tmp_path / "model.migrated-2.16.keras").write_text("mine")
    assert cli.main(["migrate", str(art), "--to", "2.16"]) == 2
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "model.migrated-2.16.keras").read_text() == "mine"


def test_missing_artifact_and_custom_objects(tmp_path, capsys):
    assert cli.main(["migrate", str(tmp_path / "nope.h5"), "--to", "2.16"]) == 2
    assert "no such file" in capsys.readouterr().err
    art = tmp_path / "model.h5"
    art.write_bytes(b"\x89HDF\r\n\x1a\n")
    assert cli.main(["migrate", str(art), "--to", "2.16", "--custom-objects",
                     str(tmp_path / "layers.py")]) == 2
    assert "--custom-objects" in capsys.readouterr().err


def test_try_points_at_migrate_where_a_route_is_known(tmp_path):
    """`harness try` names the `harness migrate` call when the native loader fails for a format
    a route is known to fix (no TF: its render on rows as a run writes them)."""
    from harness.commands.try_cmd import render
    from harness.migrate.hints import migrate_hint
    from harness.regression.model import Fixture

    fx = Fixture(tmp_path, {"name": "model", "format": "h5", "artifact": "artifact/model.h5",
                            "files": {}, "origin": {"source": "/data/model.h5"},
                            "producer": {"tf": "2.13"}})
    rows = [{"load_tf": "2.16", "loader": lo, "status": "load-error", "error_type": "TypeError",
             "error": "Could not deserialize class 'Functional'"} for lo in fx.loaders()]
    text, ok = render(fx, rows, ["2.16"])
    assert not ok
    assert "or migrate: `harness migrate /data/model.h5 --to 2.16` writes a .keras" in text
    assert migrate_hint("savedmodel", "2.9.3", "2.21", "x/").startswith(
        "`harness migrate x/ --to 2.21 --out DIR`")
    assert migrate_hint("tflite", "2.13", "2.16") is None
    assert migrate_hint("h5", "2.16.2", "2.15") is None  # Keras 3 -> 2: no route measured
    assert migrate_hint("h5", "2.13", "2.16+tf_keras") is None


def test_the_migrated_file_never_replaces_one_the_user_made_meanwhile(tmp_path):
    """--out X.keras is checked at the start; a file the user puts at X during the run is kept,
    and the migrated artifact stays beside it, named in the error."""
    from harness.errors import UserError
    from harness.migrate.runner import _install

    src = tmp_path / "candidate.keras"
    src.write_bytes(b"migrated")
    dest = tmp_path / "out" / "model.keras"
    _install(src, dest)
    assert dest.read_bytes() == b"migrated" and not (dest.parent / ".model.keras.partial").exists()
    dest.write_bytes(b"the user's own")
    with pytest.raises(UserError, match="appeared while the migration ran"):
        _install(src, dest)
    assert dest.read_bytes() == b"the user's own"
    assert (dest.parent / ".model.keras.partial").read_bytes() == b"migrated"
    folder_src = tmp_path / "export"
    folder_src.mkdir()
    (folder_src / "saved_model.pb").write_bytes(b"pb")
    folder_dest = tmp_path / "serving" / "1"
    folder_dest.mkdir(parents=True)
    (folder_dest / "theirs.txt").write_text("keep")
    with pytest.raises(UserError, match="appeared while the migration ran"):
        _install(folder_src, folder_dest)
    assert (folder_dest / "theirs.txt").read_text() == "keep"
