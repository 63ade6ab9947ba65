"""`harness envs list | create SPEC... | remove SPEC...`."""

from __future__ import annotations

import sys

from .common import add_env_options


def add_parser(sub) -> None:
    envs = sub.add_parser("envs", help="list, create or remove environments")
    envs_sub = envs.add_subparsers(dest="envs_command", required=True)
    lst = envs_sub.add_parser("list", help="environments in the cache")
    create = envs_sub.add_parser("create", help="create (or reuse) environments")
    create.add_argument("specs", nargs="+")
    remove = envs_sub.add_parser("remove", help="remove environments")
    remove.add_argument("specs", nargs="+")
    for p in (lst, create, remove):
        add_env_options(p)


def _envs_for(args):
    from ..envs import get_backend
    from ..plan.specs import EnvSpec

    backend = get_backend(args.backend)
    return [backend(EnvSpec.parse(s), args.cache_dir, as_of=args.as_of, python=args.python)
            for s in args.specs]


def main(args) -> int:
    from ..envs import get_backend

    if args.envs_command == "list":
        rows = get_backend(args.backend).list_installed(args.cache_dir)
        if not rows:
            print(f"no environments in {args.cache_dir}")
        for r in rows:
            print(f"{r['spec']:<18} tf {r.get('resolved_tf')}, keras {r.get('resolved_keras')}, "
                  f"numpy {r.get('resolved_numpy')}, python {r.get('resolved_python')}"
                  f"{', as of ' + r['as_of'] if r.get('as_of') else ''}  {r['path']}")
        return 0
    envs = _envs_for(args)
    for env in envs:
        env.check()
    for env in envs:
        if args.envs_command == "create":
            info = env.create(progress=lambda m: print(m, file=sys.stderr))
            print(f"{env.spec.label:<18} tf {info['tf']}, keras {info.get('keras')}, "
                  f"numpy {info.get('numpy')}  {env.location}")
        else:
            print(f"{'removed' if env.remove() else 'not present'}: {env.spec.label} "
                  f"({env.location})")
    return 0
