"""``ganbench gate``: the CI regression gate.

Compares the current ``reports/metrics.json`` (``--metrics``) with a baseline, either a file
(``--baseline PATH``) or the same file at a git revision (``--rev REV``, read through
``dvc.api.read`` with a ``git show`` fallback). Every gated metric of every variant in the
baseline is compared in its better direction (``ganbench.config.BACKBONE_METRICS`` /
``VARIANT_METRICS``): it regresses when it is worse than the baseline by more than
``abs + rel * |baseline|``. The tolerances come from the ``gate`` section of params.yaml
(``--params``, default ``params.yaml`` when the file exists, else the schema defaults):
``gate.tolerances.<metric>`` when the metric has an entry there, else ``gate.rel``/``gate.abs``;
``--tolerance METRIC=REL,ABS`` overrides one metric (``fid`` or ``judge.fid``) on the command
line. The gate also fails when a variant or a metric of the baseline is missing, or when a
variant that was ``ok`` is now ``diverged``.

Prints a Markdown table (variant, metric, old, new, change, verdict); ``--output FILE`` writes
it too (for a PR comment). Exit status: 0 pass, 1 regression, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ganbench.config import (BACKBONE_METRICS, PARAMS_FILE, VARIANT_METRICS, GateParams,
                             ParamsError, load_section)
from ganbench.errors import InputError
from ganbench.report.collect import direction, flat_metrics

DEFAULT_METRICS = "reports/metrics.json"
PASS, BETTER, NEW, NA = "ok", "better", "new", "n/a"
REGRESSION, MISSING, DIVERGED = "regression", "missing", "diverged"
FAILURES = (REGRESSION, MISSING, DIVERGED)
ICONS = {PASS: "✅", BETTER: "✅", NEW: "🆕", NA: "➖", REGRESSION: "❌", MISSING: "❌",
         DIVERGED: "❌"}


@dataclass(frozen=True)
class Tolerance:
    rel: float
    abs: float

    def allowed(self, old: float) -> float:
        """How much worse than ``old`` a value may be before it counts as a regression."""
        return self.abs + self.rel * abs(old)


@dataclass
class Check:
    variant: str
    metric: str                 # "judge.fid", "tstr_accuracy", or "status"
    old: Any
    new: Any
    verdict: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict in FAILURES


# --------------------------------------------------------------------------- inputs


def base_metric(metric: str) -> str:
    """``judge.fid`` -> ``fid``; ``tstr_accuracy`` stays."""
    return metric if metric in VARIANT_METRICS else metric.rsplit(".", 1)[-1]


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (metrics are finite numbers or null)")


def parse_metrics(text: str, source: str) -> dict[str, dict]:
    """Parse and check a ``reports/metrics.json`` document: ``{variant: metrics object}``.

    Every gated metric must be a finite number or null (not applicable), and every variant
    must hold at least one number: a gate that compares nothing must not pass.
    """
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InputError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: must be a JSON object keyed by variant "
                         "(reports/metrics.json, written by the report stage)")
    for name, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("backbones"), dict):
            raise InputError(f"{source}: variant {name!r} is not a metrics object (no "
                             "'backbones' mapping); is this reports/metrics.json?")
        flat = flat_metrics(entry)
        for metric, value in flat.items():
            if value is not None and _number(value) is None:
                raise InputError(f"{source}: variant {name!r} has {metric} = {value!r}, not a "
                                 "number (a metric is a finite number, or null when it does "
                                 "not apply)")
        if not any(_number(v) is not None for v in flat.values()):
            raise InputError(f"{source}: variant {name!r} holds no metric to compare (its "
                             "backbones hold no fid, kid_mean, ... values); is the file "
                             "complete?")
    return data


def read_metrics_file(path: str | Path, what: str) -> dict[str, dict]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what} metrics file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the {what} metrics file ({exc})") from None
    return parse_metrics(text, str(path))


def read_metrics_at_rev(rev: str, path: str = DEFAULT_METRICS,
                        repo: str | Path | None = None) -> dict[str, dict]:
    """``path`` as of git revision ``rev``: ``dvc.api.read`` first, then ``git show``."""
    errors = []
    try:
        import dvc.api

        text = dvc.api.read(path, repo=str(repo) if repo else None, rev=rev)
        return parse_metrics(text, f"{path}@{rev}")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any DVC failure falls back to git
        errors.append(f"dvc: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    result = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True,
                            text=True)
    if result.returncode == 0:
        return parse_metrics(result.stdout, f"{path}@{rev}")
    errors.append(f"git: {result.stderr.strip().splitlines()[0] if result.stderr.strip() else 'failed'}")
    raise InputError(f"{path} at revision {rev!r}: cannot read it ({'; '.join(errors)})")


def load_gate_params(path: str | None) -> GateParams:
    """The ``gate`` section of ``path`` (default params.yaml in cwd, if it exists)."""
    if path is None:
        if not Path(PARAMS_FILE).is_file():
            return GateParams()
        path = PARAMS_FILE
    return load_section("gate", path)


def parse_tolerance(text: str) -> tuple[str, Tolerance]:
    """``fid=0.25,1.0`` / ``judge.fid=0.25`` / ``fid=rel:0.25,abs:1`` -> (metric, Tolerance)."""
    metric, sep, rest = text.partition("=")
    known = list(BACKBONE_METRICS) + list(VARIANT_METRICS)
    if not sep or base_metric(metric.strip()) not in known:
        raise ValueError(f"--tolerance {text!r}: expected METRIC=REL[,ABS] with METRIC one of "
                         f"{', '.join(known)} (optionally <backbone>.<metric>)")
    values = {"rel": 0.0, "abs": 0.0}
    for i, part in enumerate(p.strip() for p in rest.split(",")):
        key, colon, number = part.partition(":")
        if not colon:
            key, number = ("rel", "abs")[min(i, 1)], part
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if key not in values or i > 1 or not math.isfinite(value) or value < 0:
            raise ValueError(f"--tolerance {text!r}: expected METRIC=REL[,ABS] with numbers >= 0")
        values[key] = value
    return metric.strip(), Tolerance(values["rel"], values["abs"])


class Tolerances:
    """Per-metric tolerances: command line, then ``gate.tolerances``, then ``gate.rel/abs``."""

    def __init__(self, params: GateParams, overrides: Mapping[str, Tolerance] | None = None):
        self.params = params
        self.overrides = dict(overrides or {})

    def __call__(self, metric: str) -> Tolerance:
        base = base_metric(metric)
        for key in (metric, base):
            if key in self.overrides:
                return self.overrides[key]
        if base in self.params.tolerances:
            tol = self.params.tolerances[base]
            return Tolerance(float(tol.get("rel", 0.0)), float(tol.get("abs", 0.0)))
        return Tolerance(self.params.rel, self.params.abs)


# --------------------------------------------------------------------------- comparison


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def compare_metric(variant: str, metric: str, old, new, tolerance: Tolerance) -> Check:
    sign = direction(metric)
    old_n, new_n = _number(old), _number(new)
    if old_n is None:
        if new_n is None:
            return Check(variant, metric, old, new, NA, "not applicable in both")
        return Check(variant, metric, old, new, NEW, "no baseline value")
    if new_n is None:
        return Check(variant, metric, old, new, MISSING,
                     "null now" if new is None else f"not a finite number: {new!r}")
    worse_by = (old_n - new_n) * sign          # > 0: worse
    allowed = tolerance.allowed(old_n)
    if worse_by > allowed:
        return Check(variant, metric, old, new, REGRESSION,
                     f"worse by {_fmt(worse_by)}, more than the {_fmt(allowed)} allowed")
    if worse_by < -allowed:
        return Check(variant, metric, old, new, BETTER, "")
    return Check(variant, metric, old, new, PASS,
                 f"within {_fmt(allowed)}" if worse_by > 0 else "")


def compare(baseline: Mapping[str, Mapping], current: Mapping[str, Mapping],
            tolerances: Tolerances) -> list[Check]:
    """Every check, baseline variants in baseline order, then variants new in ``current``."""
    checks: list[Check] = []
    for variant, old_entry in baseline.items():
        new_entry = current.get(variant)
        if new_entry is None:
            checks.append(Check(variant, "(variant)", "present", None, MISSING,
                                "variant missing from the current metrics"))
            continue
        old_status = str(old_entry.get("status") or "ok")
        new_status = str(new_entry.get("status") or "ok")
        if old_status == "ok" and new_status == "diverged":
            step = new_entry.get("diverged_step")
            checks.append(Check(variant, "status", old_status, new_status, DIVERGED,
                                "training diverged" + (f" at step {step}" if step is not None
                                                       else "")))
        elif old_status != new_status:
            checks.append(Check(variant, "status", old_status, new_status, PASS,
                                "status changed"))
        old_flat, new_flat = flat_metrics(old_entry), flat_metrics(new_entry)
        for metric, old in old_flat.items():
            if metric not in new_flat:
                if _number(old) is None:
                    checks.append(Check(variant, metric, old, None, NA, "not in either"))
                else:
                    checks.append(Check(variant, metric, old, None, MISSING,
                                        "metric missing from the current metrics"))
                continue
            checks.append(compare_metric(variant, metric, old, new_flat[metric],
                                         tolerances(metric)))
    for variant in current:
        if variant not in baseline:
            checks.append(Check(variant, "(variant)", None, "present", NEW,
                                "not in the baseline (not gated)"))
    return checks


# --------------------------------------------------------------------------- rendering


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def _change(check: Check) -> str:
    old, new = _number(check.old), _number(check.new)
    if old is None or new is None:
        return ""
    diff = new - old
    if not diff:
        return "0"
    text = ("+" if diff > 0 else "") + _fmt(diff)
    if old:
        text += f" ({diff / abs(old):+.1%})"
    return text


def _cell(text: str) -> str:
    for old, new in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"),
                     ("\n", " "), ("*", "\\*"), ("`", "\\`")):
        text = text.replace(old, new)
    return text


def render_markdown(checks: list[Check], *, baseline: str, current: str,
                    only_failures: bool = False) -> str:
    failed = [c for c in checks if c.failed]
    verdict = "❌ FAIL" if failed else "✅ PASS"
    gated = [c for c in checks if c.verdict not in (NA, NEW)]
    lines = [f"### ganbench gate: {verdict}", "",
             f"{len(failed)} of {len(gated)} checks failed; current `{_cell(current)}` against "
             f"baseline `{_cell(baseline)}`. A metric fails when it is worse than the baseline "
             "by more than abs + rel × |baseline| (params `gate`).", "",
             "| variant | metric | old | new | change | verdict |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    shown = failed if only_failures else checks
    for c in shown:
        verdict_text = _cell(f"{ICONS[c.verdict]} {c.verdict}" +
                             (f": {c.detail}" if c.detail else ""))
        if c.failed:
            verdict_text = f"**{verdict_text}**"
        lines.append("| " + " | ".join([_cell(c.variant), _cell(c.metric), _cell(_fmt(c.old)),
                                         _cell(_fmt(c.new)), _cell(_change(c)),
                                         verdict_text]) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganbench gate", description=__doc__.split("\n\n")[0] + " Exit 0 pass, "
        "1 regression, 2 usage or input error.")
    parser.add_argument("--metrics", default=DEFAULT_METRICS,
                        help=f"current metrics (default {DEFAULT_METRICS})")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--baseline", help="baseline metrics.json file")
    source.add_argument("--rev", help="git revision whose reports/metrics.json is the baseline "
                        "(dvc.api.read, else git show)")
    parser.add_argument("--params", default=None,
                        help=f"params file with the gate section (default {PARAMS_FILE} when "
                        "it exists, else the built-in defaults)")
    parser.add_argument("--tolerance", action="append", default=[], metavar="METRIC=REL[,ABS]",
                        help="override one metric's tolerance, e.g. fid=0.25,1.0 (repeatable)")
    parser.add_argument("--output", help="also write the Markdown table to this file")
    parser.add_argument("--only-failures", action="store_true",
                        help="list only the failing checks in the table")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return int(exc.code or 0)
    try:
        overrides = dict(parse_tolerance(t) for t in args.tolerance)
    except ValueError as exc:
        print(f"ganbench gate: error: {exc}", file=sys.stderr)
        return 2
    try:
        tolerances = Tolerances(load_gate_params(args.params), overrides)
        current = read_metrics_file(args.metrics, "current")
        if args.baseline is not None:
            baseline = read_metrics_file(args.baseline, "baseline")
            baseline_name = args.baseline
        else:
            rel_path = args.metrics if not Path(args.metrics).is_absolute() else DEFAULT_METRICS
            baseline = read_metrics_at_rev(args.rev, Path(rel_path).as_posix())
            baseline_name = f"{Path(rel_path).as_posix()}@{args.rev}"
    except (InputError, ParamsError) as exc:
        print(f"ganbench gate: error: {exc}", file=sys.stderr)
        return 2
    if not baseline:
        print(f"ganbench gate: error: {baseline_name}: holds no variant to compare",
              file=sys.stderr)
        return 2
    checks = compare(baseline, current, tolerances)
    if not any(c.verdict not in (NA, NEW) for c in checks):
        print(f"ganbench gate: error: {baseline_name} and {args.metrics} share no metric to "
              "compare, so the gate cannot pass or fail", file=sys.stderr)
        return 2
    text = render_markdown(checks, baseline=baseline_name, current=args.metrics,
                           only_failures=args.only_failures)
    sys.stdout.write(text)
    if args.output:
        try:
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
        except OSError as exc:
            print(f"ganbench gate: error: cannot write {args.output}: {exc}", file=sys.stderr)
            return 2
    return 1 if any(c.failed for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
