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

import pytest
import yaml
from report_fixtures import metrics_entry

from ganbench import gate
from ganbench.config import BACKBONE_METRICS, VARIANT_METRICS

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


def worsen(doc: dict, variant: str, factor: float = 3.0) -> dict:
    """A copy of a metrics.json document where ``variant`` is clearly worse on every gated
    metric: lower-is-better values times ``factor`` (plus a little, for zeros), higher-is-better
    values divided by it."""
    doc = copy.deepcopy(doc)
    entry = doc[variant]
    for values in entry["backbones"].values():
        for metric, sign in BACKBONE_METRICS.items():
            value = values.get(metric)
            if isinstance(value, (int, float)):
                values[metric] = value * factor + 0.1 if sign < 0 else value / factor
    if isinstance(entry.get("tstr"), dict):
        for key in ("accuracy", "ratio"):
            if isinstance(entry["tstr"].get(key), (int, float)):
                entry["tstr"][key] /= factor
    return doc


def doc(**entries) -> dict:
    """A metrics.json document: name -> metrics_entry kwargs."""
    return {name: metrics_entry(name, **kwargs) for name, kwargs in entries.items()}


BASE = dict(a=dict(fid=10.0, precision=0.7), b=dict(fid=20.0, conditional=True, tstr=0.9))


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


def edit(document: dict, variant: str, metric: str, value, backbone: str = "judge") -> dict:
    document = copy.deepcopy(document)
    if metric in VARIANT_METRICS:
        document[variant]["tstr"][metric.split("_", 1)[1]] = value
    else:
        document[variant]["backbones"][backbone][metric] = value
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


@pytest.mark.parametrize("metric,sign", [*BACKBONE_METRICS.items(), *VARIANT_METRICS.items()])
def test_each_direction(files, tmp_path, capsys, metric, sign):
    """Worse in the metric's direction fails; the same step in the other direction passes."""
    write, baseline = files
    base = doc(**BASE)
    variant = "b"
    old = (base[variant]["tstr"][metric.split("_", 1)[1]] if metric in VARIANT_METRICS
           else base[variant]["backbones"]["judge"][metric])
    step = max(abs(old), 1.0)   # far beyond any default tolerance
    name = f"judge.{metric}" if metric in BACKBONE_METRICS else metric
    worse = run_gate(baseline, write(edit(base, variant, metric, old - sign * step)),
                     cwd=tmp_path, capsys=capsys)
    assert worse.code == 1, worse.out
    assert "regression" in check(worse.table, variant, name)
    better = run_gate(baseline, write(edit(base, variant, metric, old + sign * step)),
                      cwd=tmp_path, capsys=capsys)
    assert better.code == 0, better.out
    assert "better" in check(better.table, variant, name)


def test_tolerance_abs_and_rel(tmp_path, files, capsys):
    """Allowed worsening = abs + rel * |old|: FID 10 with rel 0.1, abs 0.5 allows 1.5."""
    write, baseline = files
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"variants": {"a": {}}, "gate": {"tolerances": {"fid": {"rel": 0.1, "abs": 0.5}}}}))
    base = doc(**BASE)
    inside = run_gate(baseline, write(edit(base, "a", "fid", 11.49)), cwd=tmp_path,
                      capsys=capsys)
    assert inside.code == 0, inside.out
    assert "within 1.500" in check(inside.table, "a", "judge.fid")
    outside = run_gate(baseline, write(edit(base, "a", "fid", 11.51)), cwd=tmp_path,
                       capsys=capsys)
    assert outside.code == 1
    assert "regression" in check(outside.table, "a", "judge.fid")
    # rel only: 0.2 * 10 = 2 allowed; abs only: 0.5 allowed
    params.write_text(yaml.safe_dump({"variants": {"a": {}}, "gate": {"tolerances": {"fid": {"rel": 0.2}}}}))
    assert run_gate(baseline, write(edit(base, "a", "fid", 11.9)), cwd=tmp_path,
                    capsys=capsys).code == 0
    params.write_text(yaml.safe_dump({"variants": {"a": {}}, "gate": {"tolerances": {"fid": {"abs": 0.5}}}}))
    assert run_gate(baseline, write(edit(base, "a", "fid", 11.9)), cwd=tmp_path,
                    capsys=capsys).code == 1


def test_section_defaults_apply_to_metrics_without_their_own_entry(tmp_path, files, capsys):
    write, baseline = files
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"variants": {"a": {}}, "gate": {"rel": 0.5, "abs": 0.0, "tolerances": {"fid": {"abs": 0.1}}}}))
    base = doc(**BASE)
    # precision 0.7 -> 0.4: within rel 0.5 (0.35 allowed) since precision has no entry
    result = run_gate(baseline, write(edit(base, "a", "precision", 0.4)), cwd=tmp_path,
                      capsys=capsys)
    assert result.code == 0, result.out


def test_default_tolerances_pass_seed_noise_and_fail_real_regression(files, tmp_path, capsys):
    """Schema defaults (no params.yaml): a few percent of noise passes, 3x worse fails."""
    write, baseline = files
    noisy = doc(**BASE)
    for name in noisy:
        judge = noisy[name]["backbones"]["judge"]
        judge["fid"] *= 1.1
        judge["kid_mean"] *= 1.2
        judge["is_mean"] *= 0.97
        judge["precision"] -= 0.03
        judge["recall"] -= 0.03
    noisy["b"]["tstr"]["accuracy"] -= 0.02
    noisy["b"]["tstr"]["ratio"] -= 0.02
    result = run_gate(baseline, write(noisy), cwd=tmp_path, capsys=capsys)
    assert result.code == 0, result.out
    worse = run_gate(baseline, write(worsen(doc(**BASE), "a")), cwd=tmp_path, capsys=capsys)
    assert worse.code == 1
    assert "regression" in check(worse.table, "a", "judge.fid")


def test_per_metric_override_on_the_command_line(files, tmp_path, capsys):
    write, baseline = files
    current = write(edit(doc(**BASE), "a", "fid", 14.0))
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
    del current["a"]["backbones"]["judge"]["recall"]
    current["b"]["backbones"]["judge"]["coverage"] = None
    result = run_gate(baseline, write(current), cwd=tmp_path, capsys=capsys)
    assert result.code == 1
    assert "missing" in check(result.table, "a", "judge.recall")
    assert "missing" in check(result.table, "b", "judge.coverage")


def test_missing_backbone_and_tstr_fail(files, tmp_path, capsys):
    write, baseline = files
    current = doc(**BASE)
    current["b"]["tstr"] = None
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


def test_ok_to_diverged_fails(files, tmp_path, capsys):
    write, baseline = files
    current = doc(**BASE)
    current["a"].update(status="diverged", diverged_step=40)
    result = run_gate(baseline, write(current), cwd=tmp_path, capsys=capsys)
    assert result.code == 1
    assert "diverged at step 40" in check(result.table, "a", "status")
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
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"variants": {"a": {}}, "gate": {"rell": 0.1}}))
    result = run_gate(baseline, current, cwd=tmp_path, capsys=capsys)
    assert result.code == 2 and "gate.rell" in result.err
    # usage: neither --baseline nor --rev
    assert run_gate(None, current, cwd=tmp_path, capsys=capsys).code == 2


@pytest.mark.parametrize("baseline_doc, expected", [
    ({"dcgan": {"backbones": {}}}, "variant 'dcgan' holds no metric to compare"),
    ({"dcgan": {"backbones": {"judge": {"fid": None}}}}, "variant 'dcgan' holds no metric"),
    ({"a": {"backbones": {"judge": {"fid": "12.5"}}}}, "has judge.fid = '12.5', not a number"),
    ({"a": {"backbones": {"judge": {"fid": True}}}}, "has judge.fid = True, not a number"),
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
