"""Profiles: the whole pipeline under other settings, in a throw-away copy.

A profile is an overrides file applied on top of ``params.yaml``: ``smoke.yaml`` (the
default: tiny settings, every stage in about 100 s) and ``full.yaml`` (every variant of the
lectures, old and new, on the default data and budget; ``make full``).

``ganbench smoke [--profile FILE]`` copies the project (the files git tracks, plus untracked files it does not
ignore, minus the committed results ``dvc.lock`` and ``reports/``) into a temporary git
repository, applies the profile on top of ``params.yaml``, runs
``dvc repro`` there with MLflow pointed at that copy's own store, and copies the reports back into
``--out`` (default ``smoke-reports/``). The user's workspace outputs, DVC cache, ``dvc.lock``
and MLflow database are never touched.

Every stage costs a Python process that imports torch and MLflow (5-10 s on a 2-core CPU,
whatever the settings), so ``only_variants`` in ``smoke.yaml`` keeps a few variants that
together reach every architecture and conditioning; ``--all-variants`` keeps them all.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ganbench.config import ParamsError, load_all, read_params, read_yaml_mapping
from ganbench.errors import InputError

SMOKE_FILE = "smoke.yaml"
EVERY_VARIANT = "every_variant"
ONLY_VARIANTS = "only_variants"
REPORT_FILES = ("metrics.json", "comparisons.json", "summary.md", "index.html", "judge.json", "figures")


def project_files(root: Path) -> list[str]:
    """Paths git would put in a commit of the working tree (tracked + untracked, not ignored)."""
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=root, capture_output=True)
    if done.returncode != 0:
        raise InputError(f"{root}: not a git work tree ({done.stderr.decode().strip()}); "
                         "ganbench smoke copies the files git would commit")
    out = done.stdout
    return sorted({p for p in out.decode().split("\0") if p and (root / p).is_file()})


def copy_project(root: Path, dest: Path) -> None:
    """Copy the project's source tree into ``dest``: no outputs, venv or caches, and none of
    the workspace's committed results (``dvc.lock``, ``reports/``), so the copy starts clean."""
    for rel in project_files(root):
        if rel == "dvc.lock" or rel.startswith("reports/"):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def read_overrides(path: Path) -> dict:
    """A profile's overrides file as a mapping; missing or malformed is a ParamsError."""
    return read_yaml_mapping(path, "no such file (ganbench smoke reads its overrides from it; "
                             "an empty file runs params.yaml as it is)",
                             "a mapping of params sections to override")


def profile_path(root: Path, profile: str | None) -> Path:
    """The overrides file of ``--profile`` (default ``smoke.yaml``), inside the project."""
    path = (root / (profile or SMOKE_FILE)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ParamsError(f"--profile {profile}: must be a file inside the project ({root})")
    return path


def merge_overrides(params: dict, overrides: dict, only: list[str] | None = None,
                    all_variants: bool = False) -> dict:
    """Deep-merge ``overrides`` into ``params``; ``every_variant`` applies to each variant.

    The variants kept are ``only`` when given, else every one with ``all_variants``, else the
    overrides' ``only_variants`` list (every one when it is absent).
    """
    merged = copy.deepcopy(params)
    overrides = dict(overrides)
    every = overrides.pop(EVERY_VARIANT, None) or {}
    listed = overrides.pop(ONLY_VARIANTS, None)
    _deep_update(merged, overrides)
    if only is not None:
        merged["variants"] = _select(merged.get("variants") or {}, only, "--variants")
    elif listed is not None and not all_variants:
        merged["variants"] = _select(merged.get("variants") or {}, listed,
                                     f"{SMOKE_FILE}: {ONLY_VARIANTS}")
    for spec in (merged.get("variants") or {}).values():
        if isinstance(spec, dict):
            _deep_update(spec, every)
    return merged


def _select(variants: dict, keep, where: str) -> dict:
    """The variants named in ``keep`` (in params order); unknown or no names are an error."""
    if not isinstance(keep, list) or not keep or not all(isinstance(k, str) for k in keep):
        raise ParamsError(f"{where} must be a non-empty list of variant names, got {keep!r}")
    unknown = [k for k in keep if k not in variants]
    if unknown:
        raise ParamsError(f"{where} names {', '.join(map(repr, unknown))}, not in params.yaml "
                          f"variants (there: {', '.join(variants) or 'none'})")
    return {name: spec for name, spec in variants.items() if name in keep}


def _deep_update(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def init_repo(path: Path) -> None:
    """Make ``path`` a git repository with one commit (DVC needs an SCM)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "ganbench", "GIT_AUTHOR_EMAIL": "ganbench@localhost",
           "GIT_COMMITTER_NAME": "ganbench", "GIT_COMMITTER_EMAIL": "ganbench@localhost"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "ganbench copy"]):
        subprocess.run(["git", *args], cwd=path, check=True, env=env, capture_output=True)


def run_smoke(root: Path, out: Path, keep: bool = False, only: list[str] | None = None,
              all_variants: bool = False, profile: str | None = None) -> int:
    """Run a profile's pipeline (``smoke.yaml`` by default); returns dvc's exit code.
    ``only``/``all_variants``: see :func:`merge_overrides`."""
    source = profile_path(root, profile)
    overrides = read_overrides(source)
    params = merge_overrides(read_params(root / "params.yaml"), overrides, only, all_variants)
    print(f"ganbench smoke: profile {source.name}, seeds {params.get('seeds')}, variants "
          f"{', '.join(params.get('variants') or {})}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="ganbench-smoke-"))
    try:
        copy_project(root, work)
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        try:
            load_all(work / "params.yaml")
        except ParamsError as exc:
            raise ParamsError(f"{source.name} applied to params.yaml: {exc}") from None
        init_repo(work)
        # MLflow logs into the copy's own store: smoke runs never reach the user's runs.
        env = {k: v for k, v in os.environ.items()
               if k not in ("DVC_ROOT", "DVC_EXP_NAME", "MLFLOW_TRACKING_URI")}
        env["MLFLOW_EXPERIMENT_NAME"] = f"ganbench-{source.stem}"
        # stages run `python ...` through the shell: make that this interpreter
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        dvc = Path(sys.executable).with_name("dvc")
        start = time.monotonic()
        code = subprocess.run([str(dvc) if dvc.exists() else "dvc", "repro"], cwd=work,
                              env=env).returncode
        print(f"ganbench smoke: dvc repro exited {code} after {time.monotonic() - start:.0f} s "
              f"in {work}", file=sys.stderr)
        if code == 0:
            _collect(work / "reports", out)
            print(f"ganbench smoke: reports in {out}/", file=sys.stderr)
        return code
    finally:
        if keep:
            print(f"ganbench smoke: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _collect(reports: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        src = reports / name
        if src.is_dir():
            shutil.copytree(src, out / name, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, out / name)
