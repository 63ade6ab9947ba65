"""The Docker backend: environments as locally built images (no registry).

backend.py (DockerEnvironment, the backend the rest of the code sees), images.py (labels,
the engine client, errors), base.py (the Debian base images, built with debootstrap), build.py
(a TF image), container.py (running the worker in one), probe.py and wheelhouse.py (what an
image can install, offline).  It may import harness.envs.base and envs.uv, never a wing above."""
