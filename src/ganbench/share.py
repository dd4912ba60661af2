"""Results shared through a DVC remote: ``ganbench push``.

Another clone (a teammate, CI, a ``ganbench distribute`` worker or its coordinator) gets a
stage's outputs without running it when the remote holds them *and* the stage's run-cache
entry (``dvc push --run-cache``): ``dvc repro --pull`` then restores the stage ("Stage ... is
cached - skipping run"). That works for a stage whose outputs are all cached. The pipeline's
small ``cache: false`` outputs (per-chain metrics, ``train_log.tsv``, ``reports/judge.json``,
``reports/metrics.json``) are committed to git instead; DVC keeps a copy of them in the local
cache for the run cache, but ``dvc push --run-cache`` (DVC 3.67, measured) uploads only the
entries and not those copies, so a clone at a commit that lacks them (a fresh checkout of a
commit whose results were not committed, a distribute worker) finds the entry, misses the
file ("Missing cache files: name: reports/judge.json") and runs the stage again.

``ganbench push [--remote NAME] [TARGET ...]`` is ``dvc push --run-cache`` followed by the
upload of those copies (``push_uncached_outputs``), so that ``dvc repro --pull`` elsewhere
restores every stage that ran here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence


def dvc_executable() -> str:
    """The dvc beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("dvc")
    return str(beside) if beside.exists() else "dvc"


def push_uncached_outputs(root: Path, remote: str | None = None) -> tuple[int, int]:
    """Upload the ``cache: false`` outputs of ``root``'s stages (as dvc.lock records them) whose
    copy is in the local cache (DVC puts it there when it saves a run-cache entry) to
    ``remote`` (default: the default remote); objects already there are skipped. Returns
    (outputs found, objects uploaded)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        found = set()
        for stage in repo.index.stages:
            for out in stage.outs:
                if out.use_cache or not out.is_in_repo or not out.hash_info:
                    continue
                if out.hash_info.value and out.cache.exists(out.hash_info.value):
                    found.add(out.hash_info)
        uploaded = len(repo.cloud.push(found, remote=remote).transferred) if found else 0
    return len(found), uploaded


def push(root: Path, remote: str | None = None, targets: Sequence[str] = (),
         env: dict[str, str] | None = None) -> int:
    """``dvc push --run-cache [-r remote] [targets]`` (in ``env``, default this process's)
    then ``push_uncached_outputs``; returns dvc's exit code (0 when both worked)."""
    argv = [dvc_executable(), "push", "--run-cache"]
    if remote:
        argv += ["--remote", remote]
    code = subprocess.run([*argv, *targets], cwd=root, env=env,
                          stdin=subprocess.DEVNULL).returncode
    if code != 0:
        return code
    try:
        found, uploaded = push_uncached_outputs(root, remote)
    except Exception as exc:  # noqa: BLE001 - DVC's errors (remote unreachable, ...): one line
        from ganbench.errors import describe

        print(f"ganbench push: error: uploading the run cache's `cache: false` outputs to the "
              f"DVC remote failed: {describe(exc, with_type=True)}", file=sys.stderr)
        return 1
    print(f"ganbench push: {uploaded} of {found} `cache: false` outputs uploaded for the run "
          "cache (dvc push --run-cache leaves them out)", flush=True)
    return 0
