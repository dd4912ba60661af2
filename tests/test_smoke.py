"""The smoke configuration: overrides, the variant subset, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganbench.cli import main as cli_main
from ganbench.config import ParamsError, load_all, read_params
from ganbench.smoke import merge_overrides

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"data": {"source": "mnist5k", "seed": 3},
          "variants": {"a": {"epochs": 9}, "b": {}, "c": {"epochs": 2}}}


def test_overrides_merge_into_every_variant():
    merged = merge_overrides(PARAMS, {"data": {"source": "digits"},
                                      "every_variant": {"epochs": 1}})
    assert merged["data"] == {"source": "digits", "seed": 3}
    assert merged["variants"] == {"a": {"epochs": 1}, "b": {"epochs": 1}, "c": {"epochs": 1}}
    assert PARAMS["variants"]["a"] == {"epochs": 9}


def test_only_variants_keeps_the_listed_ones_in_params_order():
    overrides = {"only_variants": ["c", "a"], "every_variant": {"epochs": 1}}
    assert list(merge_overrides(PARAMS, overrides)["variants"]) == ["a", "c"]
    assert list(merge_overrides(PARAMS, overrides, only=["b"])["variants"]) == ["b"]
    assert list(merge_overrides(PARAMS, overrides, all_variants=True)["variants"]) == \
        ["a", "b", "c"]


@pytest.mark.parametrize("listed, pattern", [
    (["a", "nope"], r"only_variants names 'nope', not in params.yaml variants \(there: a, b, c\)"),
    ([], r"only_variants must be a non-empty list of variant names"),
    ("a", r"only_variants must be a non-empty list"),
])
def test_bad_only_variants_are_rejected(listed, pattern):
    with pytest.raises(ParamsError, match=pattern):
        merge_overrides(PARAMS, {"only_variants": listed})


def profile_params(tmp_path, profile: str) -> dict:
    """params.yaml with the repository's ``profile`` applied, validated as a stage would."""
    merged = merge_overrides(read_params(ROOT / "params.yaml"),
                             yaml.safe_load((ROOT / profile).read_text()))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(merged))
    return load_all(path)


def test_repository_smoke_config_is_valid_and_covers_every_architecture(tmp_path):
    smoke, full = profile_params(tmp_path, "smoke.yaml"), load_all(ROOT / "params.yaml")
    assert smoke["data"].source == "digits"
    kept = smoke["variants"].values()
    assert all(v.epochs <= 5 and v.width <= 16 for v in kept)  # tiny budgets
    assert 0 < len(kept) < len(full["variants"])
    assert {v.arch for v in kept} == {v.arch for v in full["variants"].values()}
    assert any(v.conditional for v in kept) and any(v.gradient_penalty for v in kept)
    assert {"minimax", "wasserstein", "elbo"} <= {v.objective for v in kept}


def test_cli_names_an_unknown_variant_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    assert cli_main(["smoke", "--variants", "gan,nope", "--out", str(out)]) == 2
    assert "--variants names 'nope'" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        cli_main(["smoke", "--variants", "gan", "--all-variants"])


def test_project_copy_has_the_sources_but_not_the_workspace_results(tmp_path):
    from ganbench.smoke import copy_project

    copy_project(ROOT, tmp_path)
    for rel in ("params.yaml", "dvc.yaml", "smoke.yaml", "stages/train.py",
                "src/ganbench/smoke.py"):
        assert (tmp_path / rel).is_file(), rel
    assert (ROOT / "dvc.lock").is_file() and (ROOT / "reports/metrics.json").is_file()
    assert not (tmp_path / "dvc.lock").exists()
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / ".venv").exists()


@pytest.mark.parametrize("text, pattern", [
    (None, r"smoke.yaml: no such file"),
    ("data: [unclosed", r"smoke.yaml: not valid YAML"),
    ("- a list", r"smoke.yaml: must be a mapping"),
])
def test_bad_smoke_file_is_a_clear_error(tmp_path, text, pattern):
    from ganbench.smoke import read_overrides

    path = tmp_path / "smoke.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ParamsError, match=pattern):
        read_overrides(path)


def test_smoke_outside_a_git_work_tree_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "smoke.yaml").write_text("{}")
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert cli_main(["smoke", "--out", str(tmp_path / "out")]) == 2
    assert "not a git work tree" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_repository_full_profile_runs_every_variant_of_the_lectures(tmp_path):
    """full.yaml keeps params.yaml's data, budget and seeds and adds the rest of the family."""
    full, default = profile_params(tmp_path, "full.yaml"), load_all(ROOT / "params.yaml")
    assert full["seeds"] == default["seeds"] and full["data"] == default["data"]
    assert set(default["variants"]) < set(full["variants"])
    assert {v.arch for v in full["variants"].values()} == {"mlp", "dcgan", "vae", "progan",
                                                            "stylegan", "unet", "resnet"}
    assert {v.task for v in full["variants"].values()} == {"generate", "edges2image",
                                                            "digits2mnist"}
    assert any(v.semi_supervised for v in full["variants"].values())
    assert any(v.normalization_d == "spectral" for v in full["variants"].values())


def test_a_profile_outside_the_project_is_refused(tmp_path):
    from ganbench.smoke import profile_path
    with pytest.raises(ParamsError, match="inside the project"):
        profile_path(tmp_path / "project", "../elsewhere.yaml")
    assert profile_path(ROOT, None) == (ROOT / "smoke.yaml").resolve()
