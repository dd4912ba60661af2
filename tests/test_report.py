"""The report stage's outputs from the fake inputs of tests/report_fixtures.py."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import report_fixtures as rf

from ganbench.errors import InputError
from ganbench.report import build_report, load_inputs, metrics_document
from ganbench.report.collect import ReportInputs, VariantInputs
from ganbench.report import figures
from ganbench.report.figures import Figures
from ganbench.report.html import render_html
from ganbench.report.summary import render_summary

ROOT = Path(__file__).resolve().parents[1]
DATA = {"source": "mnist5k", "image_size": 28, "channels": 1}
GIT = {"git_commit": "0123456789abcdef0123", "git_dirty": "false"}
ORDER = ["gan", "dcgan", "cgan", "wgan"]   # params order of rf.DEFAULT
EVIL = "<script>alert(1)</script>"


def inputs_for(root: Path, variants=None, **report) -> ReportInputs:
    return load_inputs(root, rf.report_params(**report), rf.settings_of(variants), data=DATA,
                       git=GIT)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The report built once from the default fixture project: (root, inputs, reports dir)."""
    root = rf.write_project(tmp_path_factory.mktemp("project"))
    inputs = inputs_for(root)
    build_report(inputs, root / "reports")
    return root, inputs, root / "reports"


def summary_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows[2:]]


# --------------------------------------------------------------------------- files


def test_files_exist(built):
    _, _, reports = built
    for name in ("metrics.json", "summary.md", "index.html"):
        assert (reports / name).is_file(), name
    pngs = sorted(p.name for p in (reports / "figures").glob("*.png"))
    assert pngs == ["curves_cgan.png", "curves_dcgan.png", "curves_gan.png", "curves_wgan.png",
                    "metrics_judge.png", "tstr.png"]
    assert not list(reports.glob(".*")), "no temp files left behind"


def test_metrics_json_is_params_order_and_the_variant_objects(built):
    root, inputs, reports = built
    text = (reports / "metrics.json").read_text()
    data = json.loads(text)
    assert list(data) == ORDER                      # params order, stale old_variant left out
    for name in ORDER:
        source = json.loads((root / "reports" / "metrics" / f"{name}.json").read_text())
        assert data[name] == source
    assert data == metrics_document(inputs)
    assert "NaN" not in text and "Infinity" not in text


def test_metrics_json_non_finite_values_become_null(tmp_path):
    variants = {"a": ({}, dict(fid=float("inf")))}
    root = rf.write_project(tmp_path, variants)
    data = metrics_document(inputs_for(root, variants))
    assert data["a"]["backbones"]["judge"]["fid"] is None


# --------------------------------------------------------------------------- summary.md


def test_summary_ranking_bold_arrows_floor_diverged_provenance(built):
    _, _, reports = built
    text = (reports / "summary.md").read_text()
    assert text.startswith("## ganbench comparison\n")
    header = next(line for line in text.splitlines() if line.startswith("| #"))
    heads = [c.strip() for c in header.strip("|").split("|")]
    assert heads[:5] == ["#", "variant", "FID ↓", "KID ↓", "IS ↑"]
    assert heads[heads.index("TSTR ↑") + 1] == "TRTR"          # TSTR beside TRTR
    rows = summary_rows(text)
    names = [r[1] for r in rows]
    assert [r[0] for r in rows] == ["1", "2", "3", "4", ""]
    assert names[:3] == ["cgan", "dcgan", "gan"]
    assert names[3].startswith("wgan ⚠ diverged at step 60")
    assert names[4] == "*real (floor)*"                         # shown, not ranked, last
    fid = heads.index("FID ↓")
    assert rows[0][fid] == "**10.50**" and rows[1][fid] == "12.30"
    assert rows[4][fid] == "0.85"                                # the floor is never bold
    kid = heads.index("KID ↓")
    assert rows[0][kid] == "**0.0095 ± 0.0010**"                 # KID with its std
    assert rows[1][heads.index("IS ↑")] == "**8.00 ± 0.20**"     # ties all bold
    assert rows[1][heads.index("recall ↑")] == "**0.660**"       # best of a higher-is-better
    assert rows[0][heads.index("TSTR ↑")] == "0.912"
    assert rows[1][heads.index("TSTR ↑")] == "—¹"                # unconditional: footnote
    assert "¹ unconditional variant: samples carry no labels" in text
    assert "⚠ diverged" in text and "not ranked" in text
    prov = text.strip().splitlines()[-1]
    assert prov.startswith("<sub>") and prov.endswith("</sub>")
    for fact in ("mnist5k", "4000 generated per variant", "judge [judge-cnn sha256:1a2b3c4d]",
                 "seeds: train 0, samples 1234, metrics 0, judge 0", "commit: 0123456789ab"):
        assert fact in prov, fact


@pytest.mark.parametrize("metric,first", [("tstr_accuracy", "cgan"), ("judge.precision", "cgan"),
                                          ("judge.recall", "dcgan")])
def test_summary_ranks_by_the_primary_metric(built, metric, first):
    root, _, _ = built
    text = render_summary(inputs_for(root, primary_metric=metric))
    rows = summary_rows(text)
    assert rows[0][1] == first and rows[0][0] == "1"
    assert f"ranked by **{metric}** (higher is better)" in text
    if metric == "tstr_accuracy":   # only cgan has a value: the others are unranked
        assert [r[0] for r in rows[1:4]] == ["—", "—", "—"]


def test_summary_with_two_backbones_prefixes_the_columns(tmp_path):
    root = rf.write_project(tmp_path, inception=True)
    text = render_summary(inputs_for(root))
    assert "judge FID ↓" in text and "inception FID ↓" in text
    assert "inception [pt_inception-2015-12-05" in text
    assert "the offline TorchScript has pool3 features only, no logits" in text  # IS reason


def test_summary_escapes_user_strings(tmp_path):
    inputs = fake_inputs(EVIL, title="A | <b>title</b>")
    text = render_summary(inputs)
    assert EVIL not in text and "<b>" not in text
    assert "&lt;script&gt;" in text and "A \\| &lt;b&gt;title&lt;/b&gt;" in text


# --------------------------------------------------------------------------- index.html


def test_html_is_self_contained_and_complete(built):
    _, _, reports = built
    page = (reports / "index.html").read_text()
    assert "<script" not in page
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), \
        [r[:40] for r in refs if not r.startswith(("data:", "#"))]
    assert not re.search(r"https?://", page.replace("http://www.w3.org", ""))
    assert "@import" not in page and "@font-face" not in page
    assert "@media print" in page
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 2 * 4 + 2 + 4       # grid + strip per variant, 2 charts, 4 curves
    for name in ORDER:
        assert f'alt="sample grid of {name}"' in page
        assert f'alt="latent interpolation of {name}"' in page
    assert "Training curves of wgan" in page
    assert "TSTR against TRTR" in page and "Metrics on the judge backbone" in page
    assert "diverged at step 60" in page
    assert "real (floor)" in page
    # settings side by side, differences highlighted
    assert '<tr class=diff><th scope="row"><span class="ne"' in page
    assert re.search(r'<tr><th scope="row">seed</th>(<td>0</td>){4}</tr>', page)


def fake_inputs(name: str, title: str = "t") -> ReportInputs:
    """Inputs built by hand (no params validation): one hostile variant name and settings."""
    entry = rf.metrics_entry(name, status="diverged", diverged_step=3)
    entry["tstr_reason"] = f"reason {EVIL}"
    good = rf.metrics_entry("ok1", fid=20.0)
    return ReportInputs(
        title=title, primary_metric="judge.fid",
        variants=[VariantInputs(name, {"arch": f"dcgan{EVIL}", "loss": EVIL}, entry,
                                missing=[f"samples/{name}/grid.png"]),
                  VariantInputs("ok1", {"arch": "dcgan", "loss": "hinge"}, good)],
        floor=None, judge=rf.JUDGE, data={"source": f"folder{EVIL}"}, git=GIT)


def test_html_renderer_escapes_every_user_string():
    inputs = fake_inputs(EVIL, title="Cmp <b>bold</b> & \"quotes\"")
    page = render_html(inputs, Figures([], {}))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>Cmp &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quotes&quot;</title>" in page
    assert "<h1>Cmp &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<b>bold</b>" not in page


def test_html_title_with_angle_brackets_through_params(tmp_path):
    root = rf.write_project(tmp_path, {"dcgan": rf.DEFAULT["dcgan"]}, title="GANs <3 & <i>x</i>")
    inputs = inputs_for(root, {"dcgan": rf.DEFAULT["dcgan"]}, title="GANs <3 & <i>x</i>")
    page = render_html(inputs, Figures([], {}))
    assert "<title>GANs &lt;3 &amp; &lt;i&gt;x&lt;/i&gt;</title>" in page
    assert "<i>x</i>" not in page
    assert render_summary(inputs).startswith("## GANs &lt;3 & &lt;i&gt;x&lt;/i&gt;\n")


# --------------------------------------------------------------------------- figures


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = [], 8
    while i < len(data):
        (length,), kind = struct.unpack(">I", data[i:i + 4]), data[i + 4:i + 8]
        chunks.append(kind)
        i += 12 + length
    return chunks


def test_figures_are_deterministic_and_carry_no_metadata(built):
    """Rendering again gives the same bytes (a subset of the figures, to keep this fast)."""
    _, inputs, reports = built
    with matplotlib.rc_context(figures.RC):
        again = [figures._save(figures.metric_bars(inputs, "judge"), "metrics_judge", ""),
                 figures._save(figures.training_curves(inputs.variants[3]), "curves_wgan", "")]
    for fig in again:
        assert (reports / "figures" / f"{fig.stem}.png").read_bytes() == fig.png, fig.stem
        assert (reports / "figures" / f"{fig.stem}.svg").read_bytes() == fig.svg, fig.stem
    for path in (reports / "figures").glob("*.png"):
        chunks = png_chunks(path.read_bytes())
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(chunks), (path.name, chunks)
    for path in (reports / "figures").glob("*.svg"):
        assert b"<dc:date>" not in path.read_bytes() and b"Matplotlib v" not in path.read_bytes()


# --------------------------------------------------------------------------- errors


def test_missing_metrics_file_is_an_input_error_naming_it(tmp_path):
    root = rf.write_project(tmp_path)
    (root / "reports" / "metrics" / "dcgan.json").unlink()
    with pytest.raises(InputError, match=r"reports/metrics/dcgan\.json: missing; run "
                                         r"`dvc repro evaluate@dcgan`"):
        inputs_for(root)
    (root / "reports" / "metrics" / "dcgan.json").write_text("{oops")
    with pytest.raises(InputError, match=r"dcgan\.json: not valid JSON"):
        inputs_for(root)


def test_optional_inputs_missing_are_listed_not_fatal(tmp_path):
    root = rf.write_project(tmp_path, {"dcgan": rf.DEFAULT["dcgan"]})
    (root / "samples" / "dcgan" / "grid.png").unlink()
    (root / "data" / "reference" / "floor.json").unlink()
    inputs = inputs_for(root, {"dcgan": rf.DEFAULT["dcgan"]})
    assert inputs.variants[0].missing == ["samples/dcgan/grid.png"]
    page = render_html(inputs, Figures([], {}))
    assert "Not found: samples/dcgan/grid.png" in page and "real (floor)" not in page


# --------------------------------------------------------------------------- stage + MLflow


def test_stage_writes_the_report_and_logs_a_comparison_run(tmp_path, isolated_mlflow):
    """stages/report.py in a fixture project (one variant, to keep it fast), then the MLflow
    run in the session's store."""
    import mlflow

    variants = {"cgan": rf.DEFAULT["cgan"]}
    root = rf.write_project(tmp_path, variants)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MLFLOW_EXPERIMENT_NAME": "report-test"}
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "report.py")], cwd=root,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert list(json.loads((root / "reports" / "metrics.json").read_text())) == ["cgan"]
    client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("report-test")
    runs = client.search_runs([experiment.experiment_id], "tags.kind = 'comparison'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["dvc_stage"] == "report"
    assert run.data.tags["variants"] == "cgan"
    assert run.data.metrics["cgan.judge.fid"] == pytest.approx(10.5)
    assert run.data.metrics["cgan.tstr_accuracy"] == pytest.approx(0.912)
    assert run.data.params["report.primary_metric"] == "judge.fid"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.md", "index.html", "metrics.json", "figures"} <= artifacts
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/metrics_judge.png", "figures/curves_cgan.png"} <= logged


def test_stage_missing_input_exits_2_naming_the_file(tmp_path):
    root = rf.write_project(tmp_path)
    (root / "reports" / "metrics" / "wgan.json").unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "report.py")], cwd=root,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "ganbench report: error:" in done.stderr and "reports/metrics/wgan.json" in done.stderr
    assert not (root / "reports" / "metrics.json").exists()


def test_figures_survive_inf_nan_logs_null_metrics_and_dollars(tmp_path):
    """A diverged log with inf/nan cells, a backbone with IS null (reason with a $), TSTR null."""
    variants = {"wgan": rf.DEFAULT["wgan"]}
    root = rf.write_project(tmp_path, variants, inception=True)
    log = root / "models" / "wgan" / "train_log.tsv"
    lines = log.read_text().splitlines()
    cells = lines[-1].split("\t")
    cells[2], cells[3] = "inf", "nan"          # loss_d, loss_g
    log.write_text("\n".join(lines[:-1] + ["\t".join(cells)]) + "\n")
    inputs = inputs_for(root, variants)
    inputs.variants[0].metrics["backbones"]["inception"]["is_reason"] = "no logits ($5 model)"
    with matplotlib.rc_context(figures.RC):
        bars = figures.metric_bars(inputs, "inception")
        curves = figures.training_curves(inputs.variants[0])
        chart = figures.tstr_chart(inputs)
        for fig in (bars, curves, chart):
            fig.canvas.draw()                    # raises on a mathtext or non-finite problem
    texts = [t.get_text() for ax in bars.axes for t in ax.texts]
    assert any("$5" in t for t in texts)
