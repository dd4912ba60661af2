"""``ganbench gate``: the CI regression gate, honest about seed noise.

Compares the current ``reports/metrics.json`` (``--metrics``) with a baseline, either a file
(``--baseline PATH``) or the same file at a git revision (``--rev REV``, read through
``dvc.api.read`` with a ``git show`` fallback). Both hold, per variant and metric, the
values of every training seed (``ganbench.results.VariantAggregate``). Every metric of every
variant in the baseline is compared in its better direction (``ganbench.results.METRICS``):

- worse by more than the tolerance ``abs + rel * |baseline mean|`` (means over seeds) *and*
  significantly worse (the 95% Welch interval of current - baseline excludes 0 on the bad
  side, ``ganbench.stats``): **regression**, the gate fails;
- worse by more than the tolerance but not significantly: **inconclusive**; the gate passes
  (exit 0) and flags it, and ``--strict`` fails on it;
- when the baseline or the current run has a single seed there is no measure of seed noise:
  the gate falls back to the tolerance rule alone, and says so in the table.

The tolerances come from the ``gate`` section of params.yaml (``--params``, default
``params.yaml`` when the file exists, else the schema defaults): ``gate.tolerances.<metric>``
when the metric has an entry there, else ``gate.rel``/``gate.abs``; ``--tolerance
METRIC=REL,ABS`` overrides one metric (``fid`` or ``judge.fid``) on the command line. The gate
also fails when a variant or a metric of the baseline is missing, or when a variant whose
seeds all trained without diverging now has a diverged seed.

Prints a Markdown table (variant, metric, old, new, change, verdict); ``--output FILE`` writes
it too (for a PR comment). Exit status: 0 pass, 1 regression, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ganbench import stats
from ganbench.config import PARAMS_FILE, GateParams, ParamsError, load_section
from ganbench.errors import InputError
from ganbench.markdown import md_escape
from ganbench.paths import AGGREGATE_FILE
from ganbench.results import (METRICS, VariantAggregate, direction, metric, parse_aggregate,
                              parse_json_strict, read_json_strict)

DEFAULT_METRICS = str(AGGREGATE_FILE)
PASS, BETTER, NEW, NA = "ok", "better", "new", "n/a"
INCONCLUSIVE = "inconclusive"
REGRESSION, MISSING, DIVERGED = "regression", "missing", "diverged"
FAILURES = (REGRESSION, MISSING, DIVERGED)
ICONS = {PASS: "✅", BETTER: "✅", NEW: "🆕", NA: "➖", INCONCLUSIVE: "⚠️", REGRESSION: "❌",
         MISSING: "❌", DIVERGED: "❌"}
SINGLE_SEED = "single seed: tolerance rule only, no measure of seed noise"


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
    old: list[float] | str | None
    new: list[float] | str | None
    verdict: str
    detail: str = ""

    def failed(self, strict: bool = False) -> bool:
        return self.verdict in FAILURES or (strict and self.verdict == INCONCLUSIVE)


# --------------------------------------------------------------------------- inputs


def parse_metrics(data, source: str) -> dict[str, VariantAggregate]:
    """Check a ``reports/metrics.json`` document (``ganbench.results.parse_aggregate``):
    every variant must hold at least one number, so a gate that compares nothing cannot pass."""
    aggregates = parse_aggregate(data, source)
    for name, agg in aggregates.items():
        if not any(agg.values(key) for key in agg.metrics):
            raise InputError(f"{source}: variant {name!r} holds no metric to compare (no "
                             "value for any metric); is the file complete?")
    return aggregates


def read_metrics_file(path: str | Path, what: str) -> dict[str, VariantAggregate]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what} metrics file")
    return parse_metrics(read_json_strict(path, f"the {what} metrics"), str(path))


def read_metrics_at_rev(rev: str, path: str = DEFAULT_METRICS,
                        repo: str | Path | None = None) -> dict[str, VariantAggregate]:
    """``path`` as of git revision ``rev``: ``dvc.api.read`` first, then ``git show``."""
    if not rev or rev.startswith("-"):
        raise InputError(f"--rev {rev!r}: a git revision (a branch, tag or commit), not an "
                         "option")
    errors = []
    text = None
    try:
        import dvc.api

        text = dvc.api.read(path, repo=str(repo) if repo else None, rev=rev)
    except Exception as exc:  # noqa: BLE001 - any DVC failure falls back to git
        errors.append(f"dvc: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if text is None:
        result = subprocess.run(["git", "show", "--end-of-options", f"{rev}:{path}"], cwd=repo,
                                capture_output=True, text=True)
        if result.returncode != 0:
            errors.append("git: " + (result.stderr.strip().splitlines() or ["failed"])[0])
            raise InputError(f"{path} at revision {rev!r}: cannot read it "
                             f"({'; '.join(errors)})")
        text = result.stdout
    where = f"{path}@{rev}"
    return parse_metrics(parse_json_strict(text, where), where)


def load_gate_params(path: str | None) -> GateParams:
    """The ``gate`` section of ``path`` (default params.yaml in cwd, if it exists), after
    validating the whole file: an unknown section (``gates:``) is an error, not a default."""
    if path is None:
        if not Path(PARAMS_FILE).is_file():
            return GateParams()
        path = PARAMS_FILE
    return load_section("gate", path)


def parse_tolerance(text: str) -> tuple[str, Tolerance]:
    """``fid=0.25,1.0`` / ``judge.fid=0.25`` / ``fid=rel:0.25,abs:1`` -> (metric, Tolerance)."""
    name, sep, rest = text.partition("=")
    known = list(METRICS)
    try:
        metric(name.strip())
    except KeyError:
        sep = ""
    if not sep:
        raise ValueError(f"--tolerance {text!r}: expected METRIC=REL[,ABS] with METRIC one of "
                         f"{', '.join(known)} (optionally <backbone>.<metric>)")
    values = {"rel": 0.0, "abs": 0.0}
    for i, part in enumerate(p.strip() for p in rest.split(",")):
        key, colon, number_text = part.partition(":")
        if not colon:
            key, number_text = ("rel", "abs")[min(i, 1)], part
        try:
            value = float(number_text)
        except ValueError:
            value = math.nan
        if key not in values or i > 1 or not math.isfinite(value) or value < 0:
            raise ValueError(f"--tolerance {text!r}: expected METRIC=REL[,ABS] with numbers >= 0")
        values[key] = value
    return name.strip(), Tolerance(values["rel"], values["abs"])


class Tolerances:
    """Per-metric tolerances: command line, then ``gate.tolerances``, then ``gate.rel/abs``."""

    def __init__(self, params: GateParams, overrides: Mapping[str, Tolerance] | None = None):
        self.params = params
        self.overrides = dict(overrides or {})

    def __call__(self, flat_name: str) -> Tolerance:
        base = metric(flat_name).name
        for key in (flat_name, base):
            if key in self.overrides:
                return self.overrides[key]
        if base in self.params.tolerances:
            tol = self.params.tolerances[base]
            return Tolerance(float(tol.get("rel", 0.0)), float(tol.get("abs", 0.0)))
        return Tolerance(self.params.rel, self.params.abs)


# --------------------------------------------------------------------------- comparison


def compare_metric(variant: str, metric: str, old: list[float], new: list[float],
                   tolerance: Tolerance) -> Check:
    """One metric of one variant: per-seed values of the baseline and of the current run."""
    sign = direction(metric)
    if not old:
        if not new:
            return Check(variant, metric, old, new, NA, "not applicable in both")
        return Check(variant, metric, old, new, NEW, "no baseline value")
    if not new:
        return Check(variant, metric, old, new, MISSING, "null now")
    old_mean, new_mean = sum(old) / len(old), sum(new) / len(new)
    worse_by = (old_mean - new_mean) * sign          # > 0: worse
    allowed = tolerance.allowed(old_mean)
    single = len(old) < 2 or len(new) < 2
    if worse_by > allowed:
        if single:
            return Check(variant, metric, old, new, REGRESSION,
                         f"worse by {_fmt(worse_by)}, more than the {_fmt(allowed)} allowed; "
                         + SINGLE_SEED)
        diff = stats.difference_interval(new, old)
        if stats.verdict(diff, sign) == stats.WORSE:
            return Check(variant, metric, old, new, REGRESSION,
                         f"worse by {_fmt(worse_by)} (95% interval of the change "
                         f"[{_fmt(diff.low)}, {_fmt(diff.high)}]), more than the "
                         f"{_fmt(allowed)} allowed")
        return Check(variant, metric, old, new, INCONCLUSIVE,
                     f"worse by {_fmt(worse_by)}, more than the {_fmt(allowed)} allowed, but "
                     f"within seed noise (95% interval of the change [{_fmt(diff.low)}, "
                     f"{_fmt(diff.high)}] holds 0); more seeds would tell")
    note = f"; {SINGLE_SEED}" if single else ""
    if worse_by < -allowed:
        return Check(variant, metric, old, new, BETTER, note.lstrip("; "))
    return Check(variant, metric, old, new, PASS,
                 (f"within {_fmt(allowed)}" if worse_by > 0 else "") + note)


def compare(baseline: Mapping[str, VariantAggregate], current: Mapping[str, VariantAggregate],
            tolerances: Tolerances) -> list[Check]:
    """Every check, baseline variants in baseline order, then variants new in ``current``."""
    checks: list[Check] = []
    for variant, old_entry in baseline.items():
        new_entry = current.get(variant)
        if new_entry is None:
            checks.append(Check(variant, "(variant)", "present", None, MISSING,
                                "variant missing from the current metrics"))
            continue
        if old_entry.failures == 0 and new_entry.failures > 0:
            diverged = [s for s, st in zip(new_entry.seeds, new_entry.statuses) if st != "ok"]
            checks.append(Check(variant, "status", "ok", f"{new_entry.failures} diverged",
                                DIVERGED, f"training diverged for seed(s) "
                                f"{', '.join(map(str, diverged))}"))
        elif old_entry.failures != new_entry.failures:
            checks.append(Check(variant, "status", f"{old_entry.failures} diverged",
                                f"{new_entry.failures} diverged", PASS, "failures changed"))
        for name in old_entry.metrics:
            if not direction(name):
                continue
            old = old_entry.values(name)
            if name not in new_entry.metrics:
                if not old:
                    checks.append(Check(variant, name, old, None, NA, "not in either"))
                else:
                    checks.append(Check(variant, name, old, None, MISSING,
                                        "metric missing from the current metrics"))
                continue
            checks.append(compare_metric(variant, name, old, new_entry.values(name),
                                         tolerances(name)))
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


def _mean(values) -> float | None:
    if not isinstance(values, list) or not values:
        return None
    return sum(values) / len(values)


def _shown(values) -> str:
    """A cell: the mean and, for several seeds, how many (``12.30 (n=3)``)."""
    if isinstance(values, list):
        if not values:
            return "—"
        return _fmt(_mean(values)) + (f" (n={len(values)})" if len(values) > 1 else "")
    return _fmt(values)


def _change(check: Check) -> str:
    old, new = _mean(check.old), _mean(check.new)
    if old is None or new is None:
        return ""
    diff = new - old
    if not diff:
        return "0"
    text = ("+" if diff > 0 else "") + _fmt(diff)
    if old:
        text += f" ({diff / abs(old):+.1%})"
    return text


def render_markdown(checks: list[Check], *, baseline: str, current: str,
                    only_failures: bool = False, strict: bool = False) -> str:
    failed = [c for c in checks if c.failed(strict)]
    doubtful = [c for c in checks if c.verdict == INCONCLUSIVE]
    verdict = "❌ FAIL" if failed else "✅ PASS"
    gated = [c for c in checks if c.verdict not in (NA, NEW)]
    lines = [f"### ganbench gate: {verdict}", "",
             f"{len(failed)} of {len(gated)} checks failed"
             + (f", {len(doubtful)} inconclusive" if doubtful else "")
             + f"; current `{md_escape(current)}` against baseline `{md_escape(baseline)}`. Values are "
             "means over training seeds. A metric fails when it is worse than the baseline by "
             "more than abs + rel × |baseline| (params `gate`) and the change is significant "
             "at 95% (Welch interval over seeds); worse beyond the tolerance but within seed "
             "noise is inconclusive" + (" (failing, --strict)" if strict else " (passing; "
             "--strict fails it)") + ".", "",
             "| variant | metric | old | new | change | verdict |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    shown = [c for c in checks if c.failed(strict) or c.verdict == INCONCLUSIVE] \
        if only_failures else checks
    for c in shown:
        verdict_text = md_escape(f"{ICONS[c.verdict]} {c.verdict}" +
                             (f": {c.detail}" if c.detail else ""))
        if c.failed(strict) or c.verdict == INCONCLUSIVE:
            verdict_text = f"**{verdict_text}**"
        lines.append("| " + " | ".join([md_escape(c.variant), md_escape(c.metric), md_escape(_shown(c.old)),
                                         md_escape(_shown(c.new)), md_escape(_change(c)),
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
    parser.add_argument("--strict", action="store_true",
                        help="fail on inconclusive checks too (worse beyond the tolerance, "
                        "within seed noise)")
    parser.add_argument("--output", help="also write the Markdown table to this file")
    parser.add_argument("--only-failures", action="store_true",
                        help="list only the failing and inconclusive checks in the table")
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
                           only_failures=args.only_failures, strict=args.strict)
    sys.stdout.write(text)
    if args.output:
        try:
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
        except OSError as exc:
            print(f"ganbench gate: error: cannot write {args.output}: {exc}", file=sys.stderr)
            return 2
    return 1 if any(c.failed(args.strict) for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
