"""The docker backend's pure parts, without an engine: mounts, exit codes, wheel tags,
constraints, Dockerfile templates, and the `unsupported` answer of an environment that cannot run
here."""

from __future__ import annotations

import signal
from pathlib import Path

from harness.envs import BACKENDS
from harness.envs.docker.backend import constraints_for
from harness.envs.docker.build import Base, dockerfile
from harness.envs.docker.container import as_returncode, mount_roots
from harness.envs.docker.wheelhouse import pip_platforms, uv_platform, wheel_name_matches


def test_docker_is_a_registered_backend():
    assert BACKENDS["docker"] == "harness.envs.docker.backend:DockerEnvironment"


def test_one_mount_for_a_run_folder_and_several_when_paths_share_only_the_root(tmp_path):
    run = tmp_path / "results" / "run1"
    paths = [run / "work" / "save-x", run / "artifacts" / "k" / "mlp" / "h5", run / "artifacts"]
    assert mount_roots(paths) == [run.resolve()]
    assert mount_roots([Path("/a/b"), Path("/c"), Path("/a/b/c")]) == [Path("/c"), Path("/a/b")]


def test_container_exit_status_reads_like_a_subprocess_return_code():
    assert as_returncode(128 + signal.SIGABRT) == -signal.SIGABRT
    assert as_returncode(137) == -9
    assert as_returncode(3) == 3 and as_returncode(0) == 0


def test_manylinux_tags_reach_down_from_the_image_glibc():
    tags = pip_platforms("2.31")
    assert tags[0] == "manylinux_2_31_x86_64" and "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags and "manylinux_2_32_x86_64" not in tags
    assert uv_platform("2.31") == "x86_64-manylinux_2_31"
    assert uv_platform("2.30") == "x86_64-manylinux_2_28"
    assert uv_platform("2.41") == "x86_64-manylinux_2_40"


def test_wheel_names_match_pins_by_normalized_name_and_exact_version():
    assert wheel_name_matches("tensorflow_cpu-2.9.3-cp39-cp39-manylinux2010_x86_64.whl",
                              "tensorflow-cpu==2.9.3")
    assert wheel_name_matches("Keras_Preprocessing-1.1.2-py2.py3-none-any.whl",
                              "keras-preprocessing==1.1.2")
    assert not wheel_name_matches("keras-2.9.0-py2.py3-none-any.whl", "keras==2.9.1")
    assert not wheel_name_matches("keras_nlp-2.9.0-py3-none-any.whl", "keras==2.9.0")


def test_old_tf_gets_the_pins_its_metadata_lacks():
    assert constraints_for((2, 5)) == ["numpy<2", "protobuf<3.20"]
    assert constraints_for((2, 9)) == ["numpy<2"]
    assert constraints_for((2, 18)) == []


def test_offline_dockerfile_installs_only_from_the_context_and_imports_tf():
    base = Base("debian", "tf-compat-harness/base:bullseye", "3.9.2", "2.31", "/usr/bin/python3")
    text = dockerfile(base)
    assert "--no-index --find-links /wheels" in text
    assert "--mount" not in text  # the classic builder has no BuildKit
    assert text.count("FROM tf-compat-harness/base:bullseye") == 2  # wheels stay in stage 1
    final_stage = text.split("FROM tf-compat-harness/base:bullseye\n")[1]
    assert "import tensorflow" in final_stage  # a built image is one whose TF imports
    assert final_stage.strip().splitlines()[-1].startswith('LABEL "tf-compat-harness"="1"')


def test_official_image_dockerfile_adds_only_the_variant():
    base = Base("tensorflow", "tensorflow/tensorflow:2.16.2", "", "", "python3")
    assert "pip install" not in dockerfile(base)
    assert 'pip install --no-cache-dir "tf-keras==2.16.*"' in dockerfile(base,
                                                                         ["tf-keras==2.16.*"])
