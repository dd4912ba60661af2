"""The report stage's outputs from the fake inputs of tests/report_fixtures.py: every number a
mean over seeds with its interval, ranks with ties, the ranking in words, the pairwise
matrix, every seed in the charts, provenance; escaping; determinism; the stage and MLflow."""

from __future__ import annotations

import copy
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

from ganbench import paths
from ganbench.aggregate import aggregate_variant, compare
from ganbench.markdown import md_escape
from ganbench.errors import InputError
from ganbench.report import build_report, load_inputs
from ganbench.report import figures
from ganbench.report.collect import ReportInputs, VariantInputs, representative_seed
from ganbench.report.figures import Figures
from ganbench.report.html import render_html
from ganbench.report.summary import render_summary
from ganbench.results import SeedResult

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


def table_rows(text: str) -> list[list[str]]:
    """The ranking table of summary.md (the first table), without its header."""
    block = text.split("\n\n")
    table = next(b for b in block if b.startswith("| # |"))
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows[2:]]


# --------------------------------------------------------------------------- files


def test_files_exist(built):
    _, _, reports = built
    for name in ("summary.md", "index.html"):
        assert (reports / name).is_file(), name
    pngs = sorted(p.name for p in (reports / "figures").glob("*.png"))
    assert pngs == ["curves_cgan.png", "curves_dcgan.png", "curves_gan.png", "curves_wgan.png",
                    "metrics_judge.png", "modes.png", "tstr.png"]
    assert not list(reports.glob(".*")), "no temp files left behind"


def test_representative_seed_is_the_median_of_the_primary_metric(built):
    _, inputs, _ = built
    by_name = {v.name: v for v in inputs.variants}
    # rf.spread makes seed 1 the middle value of every variant
    assert {v.seed for v in inputs.variants} == {1}
    agg = copy.deepcopy(by_name["dcgan"].aggregate)
    agg.metrics["judge.fid"].values = [5.0, 1.0, 9.0]
    assert representative_seed(agg, "judge.fid") == 0
    agg.metrics["judge.fid"].values = [5.0, 1.0, 9.0, 7.0]  # even: the lower middle
    agg.seeds = [0, 1, 2, 3]
    assert representative_seed(agg, "judge.fid") == 0


# --------------------------------------------------------------------------- summary.md


def test_summary_mean_and_interval_ranks_floor_failures_provenance(built):
    _, _, reports = built
    text = (reports / "summary.md").read_text()
    assert text.startswith("## ganbench comparison\n")
    assert "over 3 training seeds: mean and 95% interval" in text
    header = next(line for line in text.splitlines() if line.startswith("| # |"))
    heads = [c.strip() for c in header.strip("|").split("|")]
    assert heads[:5] == ["#", "variant", "FID ↓", "KID ↓", "IS ↑"]
    assert heads[heads.index("TSTR ↑") + 1] == "TRTR"          # TSTR beside TRTR
    assert heads[-2:] == ["modes ↑", "mode KL ↓"]               # mode collapse, every variant
    rows = table_rows(text)
    names = [r[1] for r in rows]
    # cgan (11.5) and dcgan (12.3) are within their seed noise (5%): they share rank 1
    assert [r[0] for r in rows] == ["1", "1", "3", "4", ""]
    assert names[:3] == ["cgan", "dcgan", "gan"]
    assert names[3].startswith("wgan ⚠ 1 of 3 seeds diverged (seed 2)")
    assert names[4] == "*real (floor)*"                         # shown, not ranked, last
    fid = heads.index("FID ↓")
    assert re.fullmatch(r"\*\*11\.50 ± \d+\.\d\d\*\*", rows[0][fid])  # mean ± half-interval
    assert rows[1][fid].startswith("**12.30 ±")  # rank 1 too: both bold, both beat gan, wgan
    assert not rows[2][fid].startswith("**")
    assert rows[4][fid] == "0.85"                                # the floor: one evaluation
    assert rows[1][heads.index("TSTR ↑")] == "—¹"                # unconditional: footnote
    assert "¹ unconditional variant: samples carry no labels" in text
    assert "counts in the mean and the failure rate (never dropped)" in text
    prov = text.strip().splitlines()[-1]
    assert prov.startswith("<sub>") and prov.endswith("</sub>")
    for fact in ("mnist5k", "training seeds: [0, 1, 2] (n = 3 per variant)",
                 "95% Student t interval of the mean over training seeds",
                 "not corrected for multiple comparisons",
                 "final weights", "never the best checkpoint on the test split",
                 "4000 generated per chain", "evaluation noise from 2 latent draws",
                 "the representative seed of each variant",
                 "judge [judge-cnn sha256:1a2b3c4d]", "commit: 0123456789ab"):
        assert md_escape(fact) in prov, fact  # facts are escaped as Markdown text


def test_summary_says_the_ranking_in_words_and_shows_the_matrix(built):
    _, _, reports = built
    text = (reports / "summary.md").read_text()
    words = text.split("**In words.** ", 1)[1].split("\n", 1)[0]
    assert ("cgan and dcgan are indistinguishable on judge FID at 3 seeds; both beat gan and "
            "wgan.") in words
    assert "gan beats wgan on judge FID." in words
    matrix = text.split("**Pairwise on judge.fid**", 1)[1]
    lines = [line for line in matrix.splitlines() if line.startswith("| ")]
    assert lines[0] == "| row vs column | cgan | dcgan | gan | wgan |"
    cgan = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cgan[0] == "cgan" and cgan[1] == "·" and cgan[2].startswith("≈")
    assert cgan[3] == "▲ 1.00" and cgan[4] == "▲ 1.00"
    wgan = [c.strip() for c in lines[5].strip("|").split("|")]
    assert wgan[1] == "▼ 0.00"


def test_a_clear_win_is_bold_and_ranked_alone(tmp_path):
    variants = {"good": ({}, dict(fid=5.0)), "bad": ({}, dict(fid=50.0))}
    root = rf.write_project(tmp_path, variants, rel=0.02)
    text = render_summary(inputs_for(root, variants))
    rows = table_rows(text)
    assert [(r[0], r[1]) for r in rows[:2]] == [("1", "good"), ("2", "bad")]
    assert rows[0][2].startswith("**5.00 ±")
    assert "good beats bad on judge FID." in text


def test_single_seed_makes_no_claim(tmp_path):
    variants = {"a": ({}, dict(fid=5.0)), "b": ({}, dict(fid=50.0))}
    root = rf.write_project(tmp_path, variants, seeds=(0,))
    text = render_summary(inputs_for(root, variants))
    rows = table_rows(text)
    assert [r[0] for r in rows[:2]] == ["1", "1"]          # nothing tells them apart
    assert rows[0][2] == "5.00" and "±" not in rows[0][2]  # no interval from one seed
    assert "with a single seed there is no measure of seed noise" in text


@pytest.mark.parametrize("metric,first", [("tstr_accuracy", "cgan"),
                                          ("judge.recall", "dcgan")])
def test_summary_ranks_by_the_primary_metric(tmp_path, metric, first):
    root = rf.write_project(tmp_path, primary_metric=metric)
    text = render_summary(inputs_for(root, primary_metric=metric))
    rows = table_rows(text)
    assert rows[0][1] == first and rows[0][0] == "1"
    assert f"ranked by **{metric}** (higher is better)" in text
    if metric == "tstr_accuracy":   # only cgan has a value: the others are unranked
        assert [r[0] for r in rows[1:4]] == ["—", "—", "—"]


def test_summary_with_two_backbones_prefixes_the_columns(tmp_path):
    root = rf.write_project(tmp_path, inception=True)
    text = render_summary(inputs_for(root))
    assert "judge FID ↓" in text and "inception FID ↓" in text
    assert r"inception \[pt_inception-2015-12-05" in text
    assert "the offline TorchScript has pool3 features only, no logits" in text  # IS reason


def fake_inputs(name: str, title: str = "t") -> ReportInputs:
    """Inputs built by hand (no params validation): one hostile variant name and settings."""
    entries = {s: SeedResult.from_json(rf.seed_entry(name, s, status="diverged",
                                                     diverged_step=3), name) for s in (0, 1)}
    entries[0].tstr_reason = f"reason {EVIL}"
    good = {s: SeedResult.from_json(rf.seed_entry("ok1", s, fid=20.0 + s), "ok1")
            for s in (0, 1)}
    aggregates = {name: aggregate_variant(name, [0, 1], entries),
                  "ok1": aggregate_variant("ok1", [0, 1], good)}
    return ReportInputs(
        title=title, primary_metric="judge.fid",
        variants=[VariantInputs(name, {"arch": f"dcgan{EVIL}", "loss": EVIL}, aggregates[name],
                                0, missing=[f"samples/{name}/seed0/grid.png"]),
                  VariantInputs("ok1", {"arch": "dcgan", "loss": "hinge"}, aggregates["ok1"],
                                0)],
        comparisons=compare(aggregates, "judge.fid"), floor=None, judge=rf.JUDGE,
        data={"source": f"folder{EVIL}"}, git=GIT)


def test_summary_escapes_user_strings():
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
    assert len(images) == 2 * 4 + 3 + 4       # grid + strip per variant, 3 charts, 4 curves
    for name in ORDER:
        assert f'alt="sample grid of {name}"' in page
        assert f'alt="latent interpolation of {name}"' in page
    assert "Samples of training seed 1 (the representative seed" in page
    assert "Training curves of wgan (seed 1)" in page
    assert "TSTR against TRTR, every seed" in page and "every seed" in page
    assert "1 of 3 seeds diverged (seed 2)" in page
    assert "real (floor)" in page
    # every seed's value in each cell's tooltip, the evaluation noise on the cards
    assert 'title="per seed: 10.92, 11.50, 12.08"' in page
    assert "evaluation noise ± 1.15" in page
    # the ranking in words and the pairwise matrix
    assert "<section id=\"words\">" in page and "cgan and dcgan are indistinguishable" in page
    assert '<table class="matrix">' in page and 'class="num better"' in page
    # settings side by side, differences highlighted
    assert '<tr class=diff><th scope="row"><span class="ne"' in page


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
        again = [figures._save(figures.metric_strips(inputs, "judge"), "metrics_judge", ""),
                 figures._save(figures.training_curves(inputs.variants[3]), "curves_wgan", "")]
    for fig in again:
        assert (reports / "figures" / f"{fig.stem}.png").read_bytes() == fig.png, fig.stem
        assert (reports / "figures" / f"{fig.stem}.svg").read_bytes() == fig.svg, fig.stem
    for path in (reports / "figures").glob("*.png"):
        chunks = png_chunks(path.read_bytes())
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(chunks), (path.name, chunks)
    for path in (reports / "figures").glob("*.svg"):
        assert b"<dc:date>" not in path.read_bytes() and b"Matplotlib v" not in path.read_bytes()


def test_strip_plots_show_every_seed(built):
    _, inputs, _ = built
    with matplotlib.rc_context(figures.RC):
        fig = figures.metric_strips(inputs, "judge")
    fid_axes = fig.axes[0]
    dots = sum(len(c.get_offsets()) for c in fid_axes.collections)
    assert dots == 3 * 4  # three seeds of four variants, the diverged one hollow


# --------------------------------------------------------------------------- errors


def test_missing_aggregate_is_an_input_error_naming_it(tmp_path):
    root = rf.write_project(tmp_path)
    (root / paths.AGGREGATE_FILE).unlink()
    with pytest.raises(InputError, match=r"reports/metrics\.json: missing; run "
                                         r"`dvc repro aggregate`"):
        inputs_for(root)
    (root / paths.AGGREGATE_FILE).write_text("{oops")
    with pytest.raises(InputError, match=r"metrics\.json: not valid JSON"):
        inputs_for(root)


def test_optional_inputs_missing_are_listed_not_fatal(tmp_path):
    root = rf.write_project(tmp_path, {"dcgan": rf.DEFAULT["dcgan"]})
    (root / paths.samples_dir("dcgan", 1) / "grid.png").unlink()
    (root / "data" / "reference" / "floor.json").unlink()
    inputs = inputs_for(root, {"dcgan": rf.DEFAULT["dcgan"]})
    assert inputs.variants[0].missing == ["samples/dcgan/seed1/grid.png"]
    page = render_html(inputs, Figures([], {}))
    assert "Not found: samples/dcgan/seed1/grid.png" in page and "real (floor)" not in page


# --------------------------------------------------------------------------- stage + MLflow


def test_stage_writes_the_report_and_logs_runs(tmp_path, isolated_mlflow):
    """stages/report.py in a fixture project (one variant, to keep it fast): the comparison
    run, and the variant's parent run holding the aggregate."""
    import mlflow

    variants = {"cgan": rf.DEFAULT["cgan"]}
    root = rf.write_project(tmp_path, variants)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MLFLOW_EXPERIMENT_NAME": "report-test"}
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "report.py")], cwd=root,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("report-test")
    runs = client.search_runs([experiment.experiment_id], "tags.kind = 'comparison'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["dvc_stage"] == "report"
    assert run.data.tags["variants"] == "cgan"
    assert run.data.metrics["cgan.judge.fid"] == pytest.approx(11.5)
    assert run.data.metrics["cgan.tstr_accuracy"] == pytest.approx(0.912)
    assert run.data.params["report.primary_metric"] == "judge.fid"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.md", "index.html", "metrics.json", "comparisons.json",
            "figures"} <= artifacts
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/metrics_judge.png", "figures/curves_cgan.png"} <= logged
    parents = client.search_runs([experiment.experiment_id], "tags.kind = 'variant'")
    assert [p.data.tags["variant"] for p in parents] == ["cgan"]
    assert parents[0].data.metrics["judge.fid.mean"] == pytest.approx(11.5)
    assert parents[0].data.metrics["failure_rate"] == 0.0


def test_stage_missing_input_exits_2_naming_the_file(tmp_path):
    root = rf.write_project(tmp_path)
    (root / paths.COMPARISONS_FILE).unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "report.py")], cwd=root,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "ganbench report: error:" in done.stderr and "reports/comparisons.json" in done.stderr
    assert not (root / "reports" / "summary.md").exists()


def test_figures_survive_inf_nan_logs_null_metrics_and_dollars(tmp_path):
    """A diverged log with inf/nan cells, a backbone with IS null (reason with a $), TSTR null."""
    variants = {"wgan": rf.DEFAULT["wgan"]}
    root = rf.write_project(tmp_path, variants, inception=True)
    log = root / paths.train_log("wgan", 1)
    lines = log.read_text().splitlines()
    cells = lines[-1].split("\t")
    cells[2], cells[3] = "inf", "nan"          # loss_d, loss_g
    log.write_text("\n".join(lines[:-1] + ["\t".join(cells)]) + "\n")
    inputs = inputs_for(root, variants)
    inputs.variants[0].aggregate.metrics["judge.fid"].values[0] = None
    with matplotlib.rc_context(figures.RC):
        strips = figures.metric_strips(inputs, "inception")
        curves = figures.training_curves(inputs.variants[0])
        chart = figures.tstr_strip(inputs)
        judge = figures.metric_strips(inputs, "judge")
        for fig in (strips, curves, chart, judge):
            fig.canvas.draw()                    # raises on a mathtext or non-finite problem
    texts = [t.get_text() for ax in strips.axes for t in ax.texts]
    assert any("n/a" in t for t in texts)  # inception IS: none in any seed


def test_aggregate_stage_output_matches_the_results_format(tmp_path):
    """stages/aggregate.py: metrics.json in params order, per-seed values, interval, method,
    failures; comparisons.json with every pair; stale variants ignored."""
    root = rf.write_project(tmp_path)
    for name in (paths.AGGREGATE_FILE, paths.COMPARISONS_FILE):
        (root / name).unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "aggregate.py")], cwd=root,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "cgan and dcgan are indistinguishable on judge FID at 3 seeds" in done.stdout
    text = (root / paths.AGGREGATE_FILE).read_text()
    data = json.loads(text)
    assert list(data) == ORDER and "NaN" not in text
    fid = data["cgan"]["metrics"]["judge.fid"]
    assert fid["n"] == 3 and len(fid["values"]) == 3 and fid["ci_low"] < fid["mean"] < \
        fid["ci_high"]
    assert data["cgan"]["interval"] == {"level": 0.95, "method": "student-t",
                                        "over": "training seeds"}
    assert data["wgan"]["failures"] == 1 and data["wgan"]["failure_rate"] == pytest.approx(1 / 3)
    assert data["wgan"]["metrics"]["judge.fid"]["n"] == 3  # the diverged seed counts
    comparisons = json.loads((root / paths.COMPARISONS_FILE).read_text())
    assert comparisons["primary"] == "judge.fid"
    assert len(comparisons["metrics"]["judge.fid"]["pairs"]) == 6
    before = (root / paths.AGGREGATE_FILE).read_bytes()
    subprocess.run([sys.executable, str(ROOT / "stages" / "aggregate.py")], cwd=root, env=env,
                   check=True, capture_output=True)
    assert (root / paths.AGGREGATE_FILE).read_bytes() == before  # byte-identical rerun


def test_translation_tasks_get_their_own_ranked_sections(tmp_path):
    """Generators and translators in one project: the generators' ranking holds generators
    only; each translation task has its own table (with its metrics), words, matrix, strip
    figure and cards with the triplet grids."""
    root = rf.write_project(tmp_path / "p", rf.TRANSLATORS, stale=False)
    inputs = inputs_for(root, rf.TRANSLATORS)
    assert [v.name for v in inputs.variants] == ["dcgan", "cgan"]
    assert [(t.task, [v.name for v in t.variants]) for t in inputs.translations] == \
        [("edges2image", ["p2p", "l1u"]), ("digits2mnist", ["cyc"])]
    build_report(inputs, root / "reports")
    summary = (root / "reports/summary.md").read_text()
    generators, paired, unpaired = re.split(r"### Translation: \S+", summary)
    assert "p2p" not in table_rows(generators)[0][1] and len(table_rows(generators)) == 3
    assert "class kept" in paired and "SSIM" in paired and "cycle L1" not in paired
    assert table_rows(paired)[0][:2] == ["1", "p2p"] and table_rows(paired)[1][:2] == ["2", "l1u"]
    assert "p2p beats l1u on judge FID." in paired
    assert "cycle L1" in unpaired and "SSIM" not in unpaired
    page = (root / "reports/index.html").read_text()
    assert page.count('class="card"') == 5 and "Input | translation | target" in page
    assert "A→B→A" in page
    for task in ("edges2image", "digits2mnist"):
        assert (root / f"reports/figures/translation_{task}.svg").is_file()


def test_a_translation_only_project_renders_without_generators(tmp_path):
    variants = {k: v for k, v in rf.TRANSLATORS.items() if k in ("p2p", "cyc")}
    root = rf.write_project(tmp_path / "p", variants, stale=False)
    inputs = inputs_for(root, variants)
    assert not inputs.variants and len(inputs.translations) == 2
    build_report(inputs, root / "reports")
    summary = (root / "reports/summary.md").read_text()
    assert summary.count("### Translation:") == 2 and "Variants ranked by" not in summary
    assert 'id="ranking"' not in (root / "reports/index.html").read_text()
