"""The docker backend for real: a Debian base image made offline, TF images built from wheels
fetched on the host, the worker in containers, TF 2.9 (which the host's Python cannot install)
saving models that TF 2.16 loads, and a dying or hanging container contained.

Without a Docker engine the module is skipped, with the engine's own reason.  Images stay on the
engine, tagged by the hash of their spec, so a second run reuses them (minutes, not tens)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from harness.envs.docker import images
from harness.envs.docker.backend import DockerEnvironment
from harness.plan.specs import EnvSpec
from harness.run import batch as execute
from harness.run.runner import Run, RunOptions

REASON = images.engine_reason()
if REASON:
    pytest.skip(f"no Docker engine: {REASON}", allow_module_level=True)

pytestmark = [pytest.mark.tf]
SUITE = "bullseye"  # Python 3.9: the one base that reaches TF 2.9 and 2.16 alike
FORMATS = ["savedmodel", "h5", "weights-h5", "tf-checkpoint"]


def _still_there(ids):
    """Containers started by this process (other runs may use the engine meanwhile)."""
    import docker

    left = []
    for cid in ids:
        try:
            left.append(images.client().containers.get(cid).name)
        except docker.errors.NotFound:
            pass
    return left


@pytest.fixture(scope="session")
def base_image():
    from harness.envs.docker.base import base_ref, make_base

    if images.local_image(base_ref(SUITE)) is None:
        why = None
        if not shutil.which("debootstrap"):
            why = "debootstrap is not installed (apt-get install debootstrap)"
        elif os.geteuid() != 0:
            why = "debootstrap needs root"
        if why:  # CI must install it: a skip there would hide the whole backend
            if os.environ.get("CI"):
                pytest.fail(f"cannot make the {SUITE} base image: {why}")
            pytest.skip(f"cannot make the {SUITE} base image: {why}")
        make_base(SUITE, progress=print)
    return images.local_image(base_ref(SUITE))


@pytest.fixture(autouse=True)
def no_container_left_behind():
    from harness.envs.docker import container

    before = len(container.started)
    yield
    left = _still_there(container.started[before:])
    assert not left, f"containers left behind: {left}"


def _run(backend, save, load, tmp_path_factory, cache_dir):
    # docker: pin the base (by default a run takes the newest local base that fits each TF)
    opts = RunOptions(load_cache=False,
                      save=save, load=load, models=["mlp"], formats=FORMATS, backend=backend,
                      results_dir=tmp_path_factory.mktemp(f"results-{backend}"),
                      cache_dir=cache_dir, jobs=1, save_cache=False,  # really save, each time
                      python=SUITE if backend == "docker" else None)
    run = Run(opts).execute()
    return run, run.rows()


@pytest.fixture(scope="module")
def old_tf_rows(base_image, tmp_path_factory, cache_dir):
    return _run("docker", ["2.9"], ["2.16"], tmp_path_factory, cache_dir)


def test_base_image_is_debian_python_made_offline(base_image):
    labels = base_image.labels
    assert labels[images.L_KIND] == "base" and labels[images.L_SUITE] == SUITE
    assert labels[images.L_PYTHON].startswith("3.9.")


def test_tf_2_9_saves_in_a_container_and_2_16_loads(old_tf_rows):
    run, rows = old_tf_rows
    assert rows and all(r["save_versions"]["tf"].startswith("2.9.") for r in rows)
    assert all(r["save_versions"]["python"].startswith("3.9.") for r in rows)
    assert all(r["load_versions"]["tf"].startswith("2.16.") for r in rows)
    got = {(r["format"], r["loader"]): r for r in rows}
    for cell in [("h5", "keras.models.load_model[compile=False]"),
                 ("tf-checkpoint", "tf.train.load_checkpoint")]:
        r = got[cell]
        assert r["status"] == "pass", r
        assert r["params_equal"] == r["params_total"] > 0
    # Found by running: a TF 2.9 SavedModel carries its Keras 2 optimizer's slot variables, and
    # TF 2.16's tf.saved_model.load fails to revive them (TF 2.12's SavedModel loads fine).
    r = got[("savedmodel", "tf.saved_model.load")]
    assert (r["status"], r["error_type"]) == ("load-error", "AttributeError")
    assert "add_slot" in r["error"]
    assert got[("h5", "keras.models.load_model")]["status"] == "load-error"  # Keras 2 -> 3
    assert {r["status"] for r in rows} <= {"pass", "mismatch", "load-error", "unsupported"}


def test_rows_record_the_image_each_side_ran_in(old_tf_rows):
    run, rows = old_tf_rows
    info = json.loads((run.path / "run.json").read_text())
    for r in rows:
        for side in ("save_env", "load_env"):
            env = r[side]
            assert env["backend"] == "docker" and env["image"].startswith(images.TF_REPO)
            assert env["image_id"].startswith("sha256:") and env["python"].startswith("3.9.")
    assert info["environments"]["2.9"]["resolved"]["image_id"] == rows[0]["save_env"]["image_id"]
    assert info["environments"]["2.9"]["requested"]["constraints"] == ["numpy<2"]


def test_files_written_in_containers_belong_to_the_host_user(old_tf_rows):
    run, _ = old_tf_rows
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in run.path.rglob("*")}
    assert owners == {(os.getuid(), os.getgid())}


def test_same_cells_as_the_uv_backend(base_image, tmp_path_factory, cache_dir, uv_available):
    """The same small cell set through uv (host Python) and docker (Python 3.9 images)."""
    _, uv_rows = _run("uv", ["2.12"], ["2.16"], tmp_path_factory, cache_dir)
    _, dk_rows = _run("docker", ["2.12"], ["2.16"], tmp_path_factory, cache_dir)

    def key(r):
        return (r["model"], r["format"], r["loader"])

    uv_by, dk_by = {key(r): r for r in uv_rows}, {key(r): r for r in dk_rows}
    assert uv_by.keys() == dk_by.keys() and len(uv_by) > 10
    diffs = []
    for k, u in uv_by.items():
        d = dk_by[k]
        fields = ("status", "params_total", "params_equal", "params_missing", "params_extra",
                  "params_value")
        for f in fields:
            if u[f] != d[f]:
                diffs.append(f"{k} {f}: uv {u[f]!r} docker {d[f]!r} ({d.get('error')})")
        if u["status"] == "pass" and d["max_abs_diff"] is not None:
            assert d["max_abs_diff"] <= d["atol"] + d["rtol"] * 100, (k, d)
    assert not diffs, "\n".join(diffs)
    assert all(r["load_env"]["backend"] == "docker" for r in dk_rows)
    assert all(r["load_env"]["backend"] == "uv" for r in uv_rows)


def test_a_dying_or_hanging_container_is_a_crash_or_timeout_cell(base_image, cache_dir,
                                                                  hooked_saves):
    env = DockerEnvironment(EnvSpec.parse("2.16"), cache_dir, python=SUITE)
    env.create()
    results = hooked_saves(env, [("savedmodel", None), ("tf-checkpoint", "abort"),
                                 ("savedmodel", "hang"), ("tf-checkpoint", None)],
                           cell_timeout=30)
    assert {k: v["status"] for k, v in results.items()} == {
        "s0": "ok", "s1": "crash", "s2": "timeout", "s3": "ok"}
    assert "SIGABRT" in results["s1"]["error"]
    assert not execute._live


def test_gpu_cells_are_unsupported_where_the_engine_has_no_gpu(base_image, cache_dir, tmp_path):
    from harness.envs.docker.backend import gpu_unavailable_reason

    reason = gpu_unavailable_reason()
    if reason is None:
        pytest.skip("this engine has an NVIDIA runtime: the unsupported path does not apply")
    env = DockerEnvironment(EnvSpec.parse("2.16", device="gpu"), cache_dir, python=SUITE)
    # the environment says why it cannot run, before anything is built
    assert env.prepare() == reason and "NVIDIA" in reason
    assert images.local_image(env.tag) is None


def test_a_failed_build_names_the_step_and_its_last_lines(base_image, tmp_path):
    from harness.envs.docker.build import Base, build_image
    from harness.envs.docker.images import ImageBuildError

    labels = base_image.labels
    base = Base("debian", base_image.tags[0], labels[images.L_PYTHON], labels[images.L_GLIBC],
                labels[images.L_INTERP], base_image.id)
    with pytest.raises(ImageBuildError) as info:
        build_image(f"{images.TF_REPO}:test-failed-build", base, {"test": True},
                    pins=["no-such-package-tfh==1.0"], wheels=[], work_dir=tmp_path)
    msg = str(info.value)
    assert "failed at Step 5/" in msg and "pip install" in msg
    assert "no-such-package-tfh" in msg  # pip's own line, from the tail
    assert images.local_image(f"{images.TF_REPO}:test-failed-build") is None


def test_images_commands_list_and_reuse(base_image, cache_dir, capsys):
    from harness.cli import main

    assert main(["images", "build", "2.16", "--python", SUITE, "--cache-dir",
                 str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "tf 2.16." in out and "reused" in out  # built by the tests above
    assert main(["images", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{images.BASE_REPO}:{SUITE}" in out and "2.16 cpu on" in out


def test_every_container_the_tests_started_is_gone():
    from harness.envs.docker import container

    assert len(container.started) >= 6  # the runs above really used containers
    assert not _still_there(container.started)
