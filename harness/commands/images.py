"""`harness images list | base --suite S | build SPEC... | prune`: the docker backend's images."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import add_env_options


def add_parser(sub) -> None:
    img = sub.add_parser("images", help="Docker images of the docker backend: list, make a "
                         "base, build, prune")
    img_sub = img.add_subparsers(dest="images_command", required=True)
    img_sub.add_parser("list", help="base and TF images on the engine")
    base = img_sub.add_parser("base", help="make a Debian base image offline (debootstrap + "
                              "docker import)")
    base.add_argument("--suite", required=True, choices=["bullseye", "bookworm", "trixie"],
                      help="bullseye: Python 3.9 (TF 2.5+), bookworm: 3.11, trixie: 3.13")
    base.add_argument("--force", action="store_true", help="make it anew even if it exists")
    build = img_sub.add_parser("build", help="build (or reuse) the TF image of each spec")
    build.add_argument("specs", nargs="+")
    build.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    probe = img_sub.add_parser("probe", help="does each TF spec install and import on a base? "
                               "(a throw-away container, no image kept)")
    probe.add_argument("specs", nargs="+")
    probe.add_argument("--suite", required=True, choices=["bullseye", "bookworm", "trixie"])
    probe.add_argument("--cache-dir", type=Path, default=None)
    probe.add_argument("--as-of", metavar="DATE")
    prune = img_sub.add_parser("prune", help="remove stale TF images, build leftovers and "
                               "stopped harness containers")
    prune.add_argument("--all", action="store_true",
                       help="also every TF image (base images stay)")
    prune.add_argument("--bases", action="store_true", help="also the base images")
    for p in (build,):
        add_env_options(p)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(args) -> int:
    from ..envs.docker import images

    images.client()  # one line where there is no engine
    cmd = args.images_command
    if cmd == "base":
        from ..envs.docker.base import make_base

        t0 = time.monotonic()
        image = make_base(args.suite, _progress, force=args.force)
        labels = image.labels or {}
        size = images.human_size(image.attrs["Size"])
        print(f"{image.tags[0]}  {images.short_id(image)}  {size}  "
              f"python {labels.get(images.L_PYTHON)}, glibc {labels.get(images.L_GLIBC)}  "
              f"({time.monotonic() - t0:.0f}s)")
        return 0
    if cmd == "build":
        return _build(args)
    if cmd == "list":
        return _list()
    if cmd == "probe":
        return _probe(args)
    return _prune(args)


def _build(args) -> int:
    from ..envs.docker import images
    from ..envs.docker.backend import DockerEnvironment
    from ..plan.specs import EnvSpec

    envs = [DockerEnvironment(EnvSpec.parse(s, device=args.device), args.cache_dir,
                              as_of=args.as_of, python=args.python) for s in args.specs]
    for env in envs:
        env.check()
    for env in envs:
        t0 = time.monotonic()
        reason = env.prepare(progress=_progress)
        if reason:
            print(f"{env.spec.label:<18} not built: {reason}")
            continue
        info = env.info
        image = images.local_image(env.tag)
        how = "built" if env.build_seconds is not None else "reused"
        print(f"{env.spec.label:<18} tf {info.get('tf')}, keras {info.get('keras')}, numpy "
              f"{info.get('numpy')}, python {info.get('python')}  {env.tag}  "
              f"{images.short_id(image)}  "
              f"{images.human_size(image.attrs['Size'])}  {how} in {time.monotonic() - t0:.0f}s")
    return 0


def _probe(args) -> int:
    from ..envs import default_cache_dir
    from ..envs.docker.backend import choose_base
    from ..envs.docker.probe import probe
    from ..plan.specs import EnvSpec, SpecError

    cache_dir = args.cache_dir or default_cache_dir()
    failed = 0
    for text in args.specs:
        spec = EnvSpec.parse(text)
        base = choose_base(spec.minor, args.suite)
        try:
            spec.check_python(base.python)
        except SpecError as exc:
            print(f"{spec.label:<10} {args.suite}: no wheels ({exc})", flush=True)
            failed += 1
            continue
        r = probe(spec, base, cache_dir, args.as_of)
        failed += not r["ok"]
        what = (f"imports: tf {r['tf']}, keras {r['keras']}, numpy {r['numpy']}" if r["ok"]
                else "FAILS:\n    " + r["why"].replace("\n", "\n    "))
        print(f"{spec.label:<10} {args.suite} (Python {base.python}): {what}  "
              f"({r['seconds']:.0f}s)", flush=True)
    return 1 if failed else 0


def _list() -> int:
    import json

    from ..envs.docker import images

    c = images.client()
    rows = c.images.list(filters={"label": f"{images.LABEL}=1"})
    if not rows:
        print("no harness images: `harness images base --suite bullseye` makes the first")
    for img in sorted(rows, key=lambda i: (i.labels.get(images.L_KIND, ""), i.tags)):
        labels = img.labels or {}
        kind = labels.get(images.L_KIND, "?")
        what = labels.get(images.L_SUITE, "")
        if kind == "tf":
            req = json.loads(labels.get(images.L_REQUESTED, "{}"))
            what = f"{req.get('spec')} {req.get('device')} on {req.get('base', {}).get('ref')}"
        tag = img.tags[0] if img.tags else "<none>"
        print(f"{kind:<12} {tag:<52} {images.short_id(img)}  "
              f"{images.human_size(img.attrs['Size']):>9}  python {labels.get(images.L_PYTHON)}"
              f"  {what}")
    return 0


def _prune(args) -> int:
    import json

    from ..envs.docker import images

    c = images.client()
    gone = 0
    for ct in c.containers.list(all=True, filters={"label": f"{images.LABEL}=1"}):
        if ct.status != "running":  # a running one belongs to a run in progress
            ct.remove(force=True)
            gone += 1
    print(f"removed {gone} stopped harness container(s)")
    base_ids = {b.id for b in c.images.list(filters={"label": f"{images.L_KIND}=base"})}
    everything = c.images.list(filters={"label": f"{images.LABEL}=1"})
    # Of several images for one spec on one base (older harness versions asked for other
    # things: another key), only the newest is still what a run would build.
    newest: dict[tuple, str] = {}
    for img in sorted(everything, key=lambda i: i.attrs.get("Created", "")):
        req = json.loads((img.labels or {}).get(images.L_REQUESTED, "{}"))
        if req:
            newest[(req.get("spec"), req.get("device"), req.get("as_of"),
                    req.get("base", {}).get("id"))] = img.id
    removed = []
    for img in everything:
        labels = img.labels or {}
        kind = labels.get(images.L_KIND)
        stale = False
        if kind == "build-stage" and not img.tags:
            stale = True
        elif kind == "tf":
            req = json.loads(labels.get(images.L_REQUESTED, "{}"))
            base_id = req.get("base", {}).get("id")
            group = (req.get("spec"), req.get("device"), req.get("as_of"), base_id)
            stale = (args.all or (bool(base_id) and base_id not in base_ids) or not img.tags
                     or newest.get(group) != img.id)
        elif kind == "base":
            stale = args.bases
        if stale:
            c.images.remove(img.id, force=True)
            removed.append(f"{(img.tags or [images.short_id(img)])[0]} "
                           f"({images.human_size(img.attrs['Size'])})")
    for r in removed:
        print(f"removed {r}")
    print(f"removed {len(removed)} image(s)")
    return 0


