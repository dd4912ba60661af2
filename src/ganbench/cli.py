"""The ``ganbench`` command: check-params, params-doc, gate, smoke, push, distribute."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganbench.config import PARAMS_FILE, ParamsError, load_all, params_reference_markdown


def check_params(path: str, quiet: bool = False) -> int:
    """Validate the whole params file; print a one-line summary per section."""
    try:
        params = load_all(path)
    except ParamsError as exc:
        print(f"ganbench check-params: error: {exc}", file=sys.stderr)
        return 2
    if quiet:
        return 0
    data = params["data"]
    print(f"{path}: OK")
    print(f"  data: {data.source}, {data.channels}x{data.image_size}x{data.image_size}, "
          f"seed {data.seed}")
    print(f"  seeds: {params['seeds']} (each variant trains once per seed)")
    for name, variant in params["variants"].items():
        flags = ([variant.task] if variant.is_translation else []) + \
            [variant.arch, variant.objective] + (["conditional"] if variant.conditional else [])
        print(f"  variants.{name}: {', '.join(flags)}, {variant.epochs} epochs, "
              f"device {variant.device}")
    print(f"  eval: backbones {', '.join(params['eval'].backbones)}; "
          f"report ranks by {params['report'].primary_metric}")
    return 0


def _names(text: str) -> list[str]:
    """``a,b`` -> ``["a", "b"]`` (blanks dropped)."""
    return [n.strip() for n in text.split(",") if n.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="ganbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-params", help="validate params.yaml against the schema")
    check.add_argument("--params", default=PARAMS_FILE)
    check.add_argument("--quiet", action="store_true", help="print nothing when the file is valid")
    sub.add_parser("params-doc", help="print the params reference (Markdown) from the schema")
    sub.add_parser("gate", help="CI regression gate (see `ganbench gate --help`)", add_help=False)
    smoke = sub.add_parser("smoke", help="the whole pipeline on tiny settings (smoke.yaml), "
                           "in a temporary copy of the project")
    smoke.add_argument("--out", default="smoke-reports", help="where the reports are copied")
    smoke.add_argument("--keep", action="store_true", help="keep the temporary copy")
    smoke.add_argument("--profile", metavar="FILE", default=None,
                       help="the overrides file (default smoke.yaml; full.yaml: every variant "
                            "of the lectures on the default budget)")
    which = smoke.add_mutually_exclusive_group()
    which.add_argument("--variants", type=_names, metavar="NAME[,NAME...]",
                       help="run these variants instead of smoke.yaml's only_variants")
    which.add_argument("--all-variants", action="store_true",
                       help="run every variant of params.yaml (slower: ~25 s each on 2 cores)")
    push = sub.add_parser("push", help="dvc push --run-cache, and the `cache: false` outputs the "
                          "run cache needs, so other clones restore every stage (README, "
                          "\"Scaling out\")")
    push.add_argument("--remote", default=None, help="DVC remote (default: the default remote)")
    push.add_argument("targets", nargs="*", help="stages or outputs (default: all)")
    from ganbench.distribute import add_arguments as distribute_arguments
    distribute_arguments(sub.add_parser(
        "distribute", help="run the stale chains on a Ray cluster, then aggregate and report "
        "here (README, \"Scaling out\")"))

    if argv and argv[0] == "gate":
        from ganbench import gate
        return gate.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "check-params":
        return check_params(args.params, args.quiet)
    if args.command == "params-doc":
        sys.stdout.write(params_reference_markdown())
        return 0
    if args.command == "smoke":
        from ganbench.errors import InputError
        from ganbench.smoke import run_smoke
        try:
            return run_smoke(Path.cwd(), Path(args.out), keep=args.keep, only=args.variants,
                             all_variants=args.all_variants, profile=args.profile)
        except (ParamsError, InputError) as exc:
            print(f"ganbench smoke: error: {exc}", file=sys.stderr)
            return 2
    if args.command == "push":
        from ganbench.share import push
        from ganbench.tracking import project_root
        return push(project_root(), args.remote, args.targets)
    if args.command == "distribute":
        from ganbench.distribute import main as distribute
        from ganbench.tracking import project_root
        return distribute(project_root(), args)
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2


if __name__ == "__main__":
    sys.exit(main())
