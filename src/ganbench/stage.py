"""The common entry point of the DVC stage scripts.

``run_stage`` gives every stage the same behaviour: user errors (params, inputs, devices,
the tracking store) print one line and exit 2; Ctrl-C and SIGTERM print one line and exit
130 / 143 after the stage has unwound (temp outputs removed, the MLflow run ended KILLED);
and the tracking store is checked before any work.

``stage_target`` tells a per-chain stage which (variant, seed) it runs for. dvc.yaml's
commands carry no value from params.yaml (``cmd: python stages/train.py``): DVC names the stage
in ``$DVC_STAGE`` (``train@cgan-0``), so no variant name can ever be read by a shell.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Callable, NamedTuple

from ganbench.config import ParamsError, check_variant_name, load_section
from ganbench.errors import DeviceError, InputError, Interrupted, TrackingError
from ganbench.io import clean_scratch

USER_ERRORS = (ParamsError, InputError, DeviceError, TrackingError)


def _raise_interrupted(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Interrupted(signal.Signals(signum).name)


def run_stage(name: str, body: Callable[[], None], *, tracking: bool = True) -> None:
    """Run ``body``; errors and interruptions become one line ``ganbench <name>: ...``.

    With ``tracking``, the MLflow store is checked first (``tracking.preflight``), so that a
    store that is down stops the pipeline in seconds, not after the expensive stages.
    """
    logging.basicConfig(level=logging.INFO, format=f"ganbench {name}: %(message)s")
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        clean_scratch(Path.cwd())  # temp outputs of killed runs (ganbench.io.scratch_dir)
        if tracking:
            from ganbench.tracking import preflight
            preflight()
        body()
    except USER_ERRORS as exc:
        print(f"ganbench {name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, Interrupted) as exc:
        what = exc.signal_name if isinstance(exc, Interrupted) else "Ctrl-C"
        print(f"ganbench {name}: interrupted ({what}); its outputs were left as they were, and "
              "`dvc repro` starts it again (training resumes from its last checkpoint)",
              file=sys.stderr)
        sys.exit(143 if isinstance(exc, Interrupted) else 130)


class Chain(NamedTuple):
    """One (variant, seed) chain of train -> sample -> evaluate."""

    variant: str
    seed: int


def stage_target(stage: str, argv: list[str] | None = None) -> Chain:
    """The chain a per-chain stage runs for: from ``$DVC_STAGE`` (``[dvc.yaml:]<stage>@<v>-<s>``,
    DVC's name of a matrix stage) under DVC, or the two arguments of a manual run
    (``python stages/train.py cgan 0``). The variant must be a safe name and the seed one of
    params.yaml's ``seeds``."""
    argv = sys.argv[1:] if argv is None else argv
    addressing = os.environ.get("DVC_STAGE", "")
    from_dvc = None
    if "@" in addressing:
        prefix, _, key = addressing.partition("@")
        if prefix.rsplit(":", 1)[-1] == stage:
            variant, _, seed = key.rpartition("-")
            from_dvc = [variant, seed]
    usage = (f"usage: python stages/{stage}.py <variant> <seed> (under DVC both come from "
             f"$DVC_STAGE, e.g. {stage}@cgan-0)")
    if argv and len(argv) != 2:
        raise ParamsError(usage)
    if not argv and from_dvc is None:
        raise ParamsError(usage)
    if argv and from_dvc is not None and list(argv) != from_dvc:
        raise ParamsError(f"stages/{stage}.py {' '.join(argv)}: DVC runs this as {addressing!r}")
    variant, seed = argv or from_dvc
    check_variant_name(variant)
    if not seed.isdigit():
        raise ParamsError(f"{stage}: seed {seed!r} is not an integer >= 0 ({usage})")
    seeds = load_section("seeds")
    if int(seed) not in seeds:
        raise ParamsError(f"{stage}: seed {int(seed)} is not in params.yaml's seeds {seeds}")
    return Chain(variant, int(seed))
