"""``ganbench gate``: directions, tolerances, missing things, divergence, output, errors, --rev.

Helpers for an end-to-end test (real tiny pipeline, then a deliberately worse variant):

    from test_gate import run_gate, worsen
    result = run_gate(baseline_path, current_path, cwd=repo)   # GateResult(code, out, err, table)
    assert result.code == 0
    write_metrics(worse_path, worsen(read(current_path), "plain", factor=3.0))
    assert run_gate(current_path, worse_path).code == 1

``run_gate`` runs the real command line (``python -m ganbench gate``) in a subprocess when
``subprocess=True``, else ``ganbench.gate.main`` in-process (fast); both give the exit code, the
printed Markdown and the ``--output`` file's text.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from report_fixtures import SEEDS, metrics_document

from ganbench import gate
from ganbench.results import BACKBONE_METRICS, TRANSLATION_METRICS, VARIANT_METRICS, direction

# --------------------------------------------------------------------------- helpers


@dataclass
class GateResult:
    code: int
    out: str
    err: str
    table: str | None  # the --output file's text


def write_metrics(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def run_gate(baseline: Path | None, current: Path, *extra: str, cwd: Path | None = None,
             subprocess_: bool = False, capsys=None) -> GateResult:
    """Run the gate on two metrics.json files; ``--output`` goes to a file beside ``current``.

    ``extra``: more arguments (``--rev``, ``--params``, ``--tolerance``); pass ``baseline=None``
    with ``"--rev", REV`` to read the baseline from git.
    """
    where = Path(cwd or Path.cwd()) / current   # current may be relative to cwd
    output = where.with_name(where.stem + ".gate.md")
    if output.exists():
        output.unlink()
    args = ["--metrics", str(current), "--output", str(output), *extra]
    if baseline is not None:
        args += ["--baseline", str(baseline)]
    if subprocess_:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
        done = subprocess.run([sys.executable, "-m", "ganbench", "gate", *args], cwd=cwd,
                              capture_output=True, text=True, env=env)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        old = Path.cwd()
        os.chdir(cwd or old)
        try:
            if capsys is not None:
                capsys.readouterr()
            code = gate.main(args)
            out, err = capsys.readouterr() if capsys is not None else ("", "")
        finally:
            os.chdir(old)
    table = output.read_text() if output.is_file() else None
    return GateResult(code, out, err, table)


def worsen(document: dict, variant: str, factor: float = 3.0) -> dict:
    """A copy of a metrics.json document where ``variant`` is clearly worse on every metric,
    in every seed: lower-is-better values times ``factor`` (plus a little, for zeros),
    higher-is-better values divided by it."""
    document = copy.deepcopy(document)
    for name, summary in document[variant]["metrics"].items():
        sign = direction(name)
        summary["values"] = [None if v is None else v * factor + 0.1 if sign < 0 else v / factor
                             for v in summary["values"]]
        refresh(summary)
    return document


def refresh(summary: dict) -> None:
    """Recompute a summary's mean from its values (the gate reads the values)."""
    present = [v for v in summary["values"] if v is not None]
    summary["mean"] = sum(present) / len(present) if present else None
    summary["n"] = len(present)


def doc(seeds=SEEDS, rel: float = 0.05, **entries) -> dict:
    """A metrics.json document over ``seeds``: name -> seed_entry kwargs, each metric spread
    by ``rel`` between seeds (report_fixtures.metrics_document, the real aggregation)."""
    return metrics_document(entries, seeds, rel)


BASE = dict(a=dict(fid=10.0, precision=0.7),
            b=dict(fid=20.0, conditional=True, tstr=0.9, ssl=0.9))
TRANSLATOR = dict(fid=15.0, task="edges2image", modes=None, noise=None,
                  translation={"class_preservation": 0.9, "l1": 0.05, "psnr": 20.0, "ssim": 0.8,
                               "cycle_l1": 0.07, "sharpness": 0.9, "paired": True})


@pytest.fixture
def files(tmp_path):
    """(write, baseline path): ``write(doc)`` writes the current metrics and returns its path;
    params.yaml in ``tmp_path`` is absent, so the schema's default tolerances apply."""
    baseline = write_metrics(tmp_path / "base.json", doc(**BASE))

    def write(current: dict, name: str = "current.json") -> Path:
        return write_metrics(tmp_path / name, current)
    return write, baseline


def check(table: str, variant: str, metric: str) -> str:
    """The verdict cell of one row of the Markdown table."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] == variant and cells[1] == metric:
            return cells[5]
    raise AssertionError(f"no row {variant} {metric} in\n{table}")


def flat(metric: str, backbone: str = "judge") -> str:
    return metric if metric in VARIANT_METRICS else f"{backbone}.{metric}"


def edit(document: dict, variant: str, metric: str, value, backbone: str = "judge") -> dict:
    """Move every seed's value of one metric so that their mean becomes ``value``."""
    document = copy.deepcopy(document)
    summary = document[variant]["metrics"][flat(metric, backbone)]
    shift = value - summary["mean"]
    summary["values"] = [v + shift for v in summary["values"]]
    refresh(summary)
    return document


# --------------------------------------------------------------------------- tests


def test_identical_metrics_pass_and_table_is_written(files, tmp_path, capsys):
    write, baseline = files
    result = run_gate(baseline, write(doc(**BASE)), cwd=tmp_path, capsys=capsys)
    assert result.code == 0, result.out + result.err
    assert "ganbench gate: ✅ PASS" in result.out
    assert result.table == result.out
    assert "| variant | metric | old | new | change | verdict |" in result.table
    assert check(result.table, "a", "judge.fid").startswith("✅ ok")
    assert check(result.table, "a", "tstr_accuracy").startswith("➖ n/a")  # unconditional
    assert "| a | judge.fid | 10.000 (n=3) | 10.000 (n=3) | 0 |" in result.table


@pytest.mark.parametrize("metric", [m for m in (*BACKBONE_METRICS, *VARIANT_METRICS)
                                    if direction(m)])
def test_each_direction(files, tmp_path, capsys, metric):
    """Worse in the metric's direction, far beyond tolerance and noise, fails; the same step
    in the other direction passes."""
    write, baseline = files
    base = doc(**BASE)
    variant = "b"
    if metric in TRANSLATION_METRICS:  # a translator's scores
        base = doc(**BASE, t=TRANSLATOR)
        variant, baseline = "t", write(base, "base_t.json")
    sign = direction(flat(metric))
    old = base[variant]["metrics"][flat(metric)]["mean"]
    step = max(abs(old), 1.0)
    worse = run_gate(baseline, write(edit(base, variant, metric, old - sign * step)),
                     cwd=tmp_path, capsys=capsys)
    assert worse.code == 1, worse.out
    assert "regression" in check(worse.table, variant, flat(metric))
    better = run_gate(baseline, write(edit(base, variant, metric, old + sign * step)),
                      cwd=tmp_path, capsys=capsys)
    assert better.code == 0, better.out
    assert "better" in check(better.table, variant, flat(metric))


def test_a_metric_without_a_better_direction_is_never_gated(tmp_path, capsys):
    """Sharpness has none (1 is the data's; blur is below, noise above): halving it is no
    regression, and the gate table has no row for it."""
    base = doc(**BASE, t=TRANSLATOR)
    baseline = write_metrics(tmp_path / "base.json", base)
    result = run_gate(baseline, write_metrics(tmp_path / "cur.json",
                                              edit(base, "t", "sharpness", 0.45)),
                      cwd=tmp_path, capsys=capsys)
    assert result.code == 0, result.out
    assert "| t | judge.fid |" in result.table and "sharpness" not in result.table


def test_beyond_tolerance_but_within_seed_noise_is_inconclusive(tmp_path, capsys):
    """FID 10 -> 13 is beyond the default 15% + 1 tolerance (2.5), but the seeds spread by
    50%: the change is not significant. Exit 0, flagged; --strict fails it."""
    baseline = write_metrics(tmp_path / "base.json", doc(rel=0.5, a=dict(fid=10.0)))
    current = write_metrics(tmp_path / "cur.json", doc(rel=0.5, a=dict(fid=13.0)))
    result = run_gate(baseline, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 0, result.out
    verdict = check(result.table, "a", "judge.fid")
    assert verdict.startswith("**⚠️ inconclusive") and "within seed noise" in verdict
    assert "1 inconclusive" in result.out
    strict = run_gate(baseline, current, "--strict", cwd=tmp_path, capsys=capsys)
    assert strict.code == 1 and "FAIL" in strict.out
    # the same means with tight seeds: significant, so a regression
    tight = write_metrics(tmp_path / "tight.json", doc(rel=0.01, a=dict(fid=13.0)))
    base_tight = write_metrics(tmp_path / "bt.json", doc(rel=0.01, a=dict(fid=10.0)))
    assert run_gate(base_tight, tight, cwd=tmp_path, capsys=capsys).code == 1


def test_pure_seed_noise_passes(tmp_path, capsys):
    """Two runs of the same variant with different seeds (values drawn from one normal
    distribution): the gate passes whatever the draw, in nearly every draw (seeded)."""
    rng = np.random.default_rng(0)
    failures = 0
    for _ in range(40):
        base, cur = doc(a=dict(fid=10.0)), doc(a=dict(fid=10.0))
        for document in (base, cur):
            summary = document["a"]["metrics"]["judge.fid"]
            summary["values"] = list(rng.normal(10.0, 1.0, 3))
            refresh(summary)
        code = run_gate(write_metrics(tmp_path / "b.json", base),
                        write_metrics(tmp_path / "c.json", cur), cwd=tmp_path,
                        capsys=capsys).code
        failures += code != 0
    assert failures <= 2  # a 5% false-alarm rate, and then only beyond the tolerance too


def test_single_seed_falls_back_to_the_tolerance_rule_and_says_so(tmp_path, capsys):
    baseline = write_metrics(tmp_path / "base.json", doc(seeds=(0,), a=dict(fid=10.0)))
    current = write_metrics(tmp_path / "cur.json", doc(seeds=(0,), a=dict(fid=13.0)))
    result = run_gate(baseline, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 1
    verdict = check(result.table, "a", "judge.fid")
    assert "regression" in verdict and "single seed: tolerance rule only" in verdict
    same = run_gate(baseline, baseline, cwd=tmp_path, capsys=capsys)
    assert same.code == 0
    assert "single seed" in check(same.table, "a", "judge.fid")


def test_tolerance_abs_and_rel(tmp_path, capsys):
    """Allowed worsening = abs + rel * |old mean|: FID 10 with rel 0.1, abs 0.5 allows 1.5
    (tight seeds, so every step beyond the tolerance is significant)."""
    baseline = write_metrics(tmp_path / "base.json", doc(rel=0.001, **BASE))
    base = doc(rel=0.001, **BASE)

    def write(document):
        return write_metrics(tmp_path / "current.json", document)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"seeds": [0], "variants": {"a": {}}, "gate": {
        "tolerances": {"fid": {"rel": 0.1, "abs": 0.5}}}}))
    inside = run_gate(baseline, write(edit(base, "a", "fid", 11.49)), cwd=tmp_path,
                      capsys=capsys)
    assert inside.code == 0, inside.out
    assert "within 1.500" in check(inside.table, "a", "judge.fid")
    outside = run_gate(baseline, write(edit(base, "a", "fid", 11.51)), cwd=tmp_path,
                       capsys=capsys)
    assert outside.code == 1
    assert "regression" in check(outside.table, "a", "judge.fid")
    # rel only: 0.2 * 10 = 2 allowed; abs only: 0.5 allowed
    params.write_text(yaml.safe_dump({"seeds": [0], "variants": {"a": {}}, "gate": {
        "tolerances": {"fid": {"rel": 0.2}}}}))
    assert run_gate(baseline, write(edit(base, "a", "fid", 11.9)), cwd=tmp_path,
                    capsys=capsys).code == 0
    params.write_text(yaml.safe_dump({"seeds": [0], "variants": {"a": {}}, "gate": {
        "tolerances": {"fid": {"abs": 0.5}}}}))
    assert run_gate(baseline, write(edit(base, "a", "fid", 11.9)), cwd=tmp_path,
                    capsys=capsys).code == 1


def test_section_defaults_apply_to_metrics_without_their_own_entry(tmp_path, files, capsys):
    write, baseline = files
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"seeds": [0], "variants": {"a": {}},
         "gate": {"rel": 0.5, "abs": 0.0, "tolerances": {"fid": {"abs": 0.1}}}}))
    base = doc(**BASE)
    # precision 0.7 -> 0.4: within rel 0.5 (0.35 allowed) since precision has no entry
    result = run_gate(baseline, write(edit(base, "a", "precision", 0.4)), cwd=tmp_path,
                      capsys=capsys)
    assert result.code == 0, result.out


def test_default_tolerances_pass_seed_noise_and_fail_real_regression(files, tmp_path, capsys):
    """Schema defaults (no params.yaml): a few percent of drift passes, 3x worse fails."""
    write, baseline = files
    noisy = doc(**BASE)
    for name, factor in (("judge.fid", 1.1), ("judge.kid_mean", 1.2), ("judge.is_mean", 0.97)):
        for variant in noisy:
            summary = noisy[variant]["metrics"][name]
            summary["values"] = [v * factor for v in summary["values"]]
            refresh(summary)
    result = run_gate(baseline, write(noisy), cwd=tmp_path, capsys=capsys)
    assert result.code == 0, result.out
    worse = run_gate(baseline, write(worsen(doc(**BASE), "a")), cwd=tmp_path, capsys=capsys)
    assert worse.code == 1
    assert "regression" in check(worse.table, "a", "judge.fid")


def test_per_metric_override_on_the_command_line(tmp_path, capsys):
    baseline = write_metrics(tmp_path / "base.json", doc(rel=0.001, **BASE))
    current = write_metrics(tmp_path / "cur.json", edit(doc(rel=0.001, **BASE), "a", "fid",
                                                          14.0))
    assert run_gate(baseline, current, cwd=tmp_path, capsys=capsys).code == 1
    assert run_gate(baseline, current, "--tolerance", "fid=0.5", cwd=tmp_path,
                    capsys=capsys).code == 0
    assert run_gate(baseline, current, "--tolerance", "judge.fid=rel:0,abs:4.5", cwd=tmp_path,
                    capsys=capsys).code == 0
    assert run_gate(baseline, current, "--tolerance", "inception.fid=0.5", cwd=tmp_path,
                    capsys=capsys).code == 1   # another backbone's override does not apply
    bad = run_gate(baseline, current, "--tolerance", "fidd=0.5", cwd=tmp_path, capsys=capsys)
    assert bad.code == 2 and "fidd" in bad.err


def test_missing_metric_fails(files, tmp_path, capsys):
    write, baseline = files
    current = doc(**BASE)
    del current["a"]["metrics"]["judge.recall"]
    current["b"]["metrics"]["judge.coverage"]["values"] = [None, None, None]
    result = run_gate(baseline, write(current), cwd=tmp_path, capsys=capsys)
    assert result.code == 1
    assert "missing" in check(result.table, "a", "judge.recall")
    assert "missing" in check(result.table, "b", "judge.coverage")


def test_missing_tstr_fails(files, tmp_path, capsys):
    write, baseline = files
    current = doc(**BASE)
    current["b"]["metrics"]["tstr_accuracy"]["values"] = [None] * 3
    result = run_gate(baseline, write(current), cwd=tmp_path, capsys=capsys)
    assert result.code == 1
    assert "missing" in check(result.table, "b", "tstr_accuracy")


def test_missing_variant_fails_and_new_variant_is_listed(files, tmp_path, capsys):
    write, baseline = files
    current = doc(a=BASE["a"], c=dict(fid=5.0))
    result = run_gate(baseline, write(current), cwd=tmp_path, capsys=capsys)
    assert result.code == 1
    assert "missing" in check(result.table, "b", "(variant)")
    assert "new" in check(result.table, "c", "(variant)")


def test_a_diverged_seed_fails(files, tmp_path, capsys):
    write, baseline = files
    current = doc(a=dict(BASE["a"], status="diverged", diverged_step=40), b=BASE["b"])
    result = run_gate(baseline, write(current), cwd=tmp_path, capsys=capsys)
    assert result.code == 1
    assert "training diverged for seed(s) 2" in check(result.table, "a", "status")
    # diverged in both: not a new failure
    both = write_metrics(tmp_path / "both.json", current)
    assert run_gate(both, write(current), cwd=tmp_path, capsys=capsys).code == 0


def test_input_errors_exit_2(files, tmp_path, capsys):
    write, baseline = files
    current = write(doc(**BASE))
    missing = run_gate(tmp_path / "nope.json", current, cwd=tmp_path, capsys=capsys)
    assert missing.code == 2 and "nope.json" in missing.err and missing.table is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run_gate(bad, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 2 and "bad.json" in result.err and "not valid JSON" in result.err
    shape = write_metrics(tmp_path / "shape.json", {"a": {"fid": 1}})
    result = run_gate(shape, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 2 and "shape.json" in result.err
    result = run_gate(baseline, tmp_path / "absent.json", cwd=tmp_path, capsys=capsys)
    assert result.code == 2 and "absent.json" in result.err
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seeds": [0], "variants": {"a": {}},
                                                          "gate": {"rell": 0.1}}))
    result = run_gate(baseline, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 2 and "gate.rell" in result.err
    # usage: neither --baseline nor --rev
    assert run_gate(None, current, cwd=tmp_path, capsys=capsys).code == 2


def _variant(metrics: dict) -> dict:
    """A minimal aggregate entry holding ``metrics`` (flat name -> MetricSummary dict)."""
    return {"variant": "dcgan", "conditional": False, "arch": "dcgan", "loss": "x",
            "seeds": [0], "statuses": ["ok"], "failures": 0, "failure_rate": 0.0,
            "interval": {}, "metrics": metrics}


def _summary(values) -> dict:
    return {"values": values, "n": 1, "mean": None, "std": None, "ci_low": None,
            "ci_high": None}


@pytest.mark.parametrize("baseline_doc, expected", [
    ({"dcgan": {"backbones": {}}}, "variant 'dcgan': not a ganbench results object"),
    ({"dcgan": _variant({})}, "variant 'dcgan' holds no metric to compare"),
    ({"dcgan": _variant({"judge.fid": _summary([None])})}, "variant 'dcgan' holds no metric"),
    ({"dcgan": _variant({"judge.fid": _summary(["12.5"])})}, "holds '12.5', not a number"),
    ({"dcgan": _variant({"judge.fid": _summary([True])})}, "holds True, not a number"),
])
def test_a_baseline_that_compares_nothing_or_holds_non_numbers_is_an_input_error(
        files, tmp_path, capsys, baseline_doc, expected):
    """Such a baseline used to pass with "0 of 0 checks"; it must not pass or fail silently."""
    write, _ = files
    current = write(doc(**BASE))
    bad = write_metrics(tmp_path / "odd.json", baseline_doc)
    result = run_gate(bad, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 2, result.out
    assert expected in result.err and "odd.json" in result.err and result.table is None


def test_non_finite_json_constants_are_an_input_error(files, tmp_path, capsys):
    write, baseline = files
    current = tmp_path / "nan.json"
    current.write_text(json.dumps(doc(**BASE)).replace("10.0", "NaN", 1))
    result = run_gate(baseline, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 2 and "NaN is not valid JSON" in result.err


@pytest.mark.parametrize("section", ["gates", "gate_", "Gate"])
def test_a_misspelled_gate_section_is_an_input_error_not_the_defaults(files, tmp_path, capsys,
                                                                       section):
    """A 10% FID regression passes the default 15% tolerance; the misspelled section meant
    1%, so falling back to the defaults silently would pass what the user wanted failed."""
    write, baseline = files
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"variants": {"a": {}}, section: {"tolerances": {"fid": {"rel": 0.01}}}}))
    current = write(edit(doc(**BASE), "a", "fid", 11.0))
    result = run_gate(baseline, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 2 and f"unknown section '{section}'" in result.err


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def test_rev_reads_the_baseline_from_git(tmp_path):
    """--rev through a real git repository (no DVC there: the git show fallback), in a
    subprocess through the real command line."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    write_metrics(repo / "reports" / "metrics.json", doc(**BASE))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "baseline")
    base_rev = _git(repo, "rev-parse", "HEAD")
    write_metrics(repo / "reports" / "metrics.json", worsen(doc(**BASE), "b"))
    result = run_gate(None, Path("reports/metrics.json"), "--rev", base_rev, cwd=repo,
                      subprocess_=True)
    table = result.table
    assert result.code == 1, result.out + result.err
    assert f"reports/metrics.json@{base_rev}" in result.out
    assert "regression" in check(table, "b", "judge.fid")
    assert check(table, "a", "judge.fid").startswith("✅")
    unknown = run_gate(None, Path("reports/metrics.json"), "--rev", "no-such-rev", cwd=repo,
                       subprocess_=True)
    assert unknown.code == 2 and "no-such-rev" in unknown.err


def test_cli_routes_gate():
    from ganbench.cli import main

    assert main(["gate", "--help"]) == 0
