"""dvc.yaml and ganbench.paths name the same output paths (one owner: paths.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ganbench import paths

ROOT = Path(__file__).resolve().parents[1]


def outputs(stage: dict) -> list[str]:
    out = []
    for kind in ("outs", "metrics", "plots"):
        for entry in stage.get(kind) or []:
            out.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return out


def test_dvc_yaml_writes_where_paths_says():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def resolved(name: str) -> set[str]:
        return {p.replace("${item.variant}", "my-gan").replace("${item.seed}", "3")
                for p in outputs(stages[name])}
    assert resolved("train") == {str(paths.weights_dir("my-gan", 3)),
                                 str(paths.train_log("my-gan", 3))}
    assert resolved("sample") == {str(paths.samples_dir("my-gan", 3))}
    assert resolved("evaluate") == {str(paths.seed_metrics("my-gan", 3))}
    assert resolved("aggregate") == {str(paths.AGGREGATE_FILE), str(paths.COMPARISONS_FILE)}
    assert set(outputs(stages["judge"])) == {str(paths.JUDGE_DIR), str(paths.JUDGE_REPORT)}
    assert set(outputs(stages["reference"])) == {str(paths.REFERENCE_DIR)}
    assert set(outputs(stages["prepare"])) == {str(paths.PREPARED_DIR)}
    for name in ("train", "sample", "evaluate"):
        assert stages[name]["matrix"] == {"variant": "${variants}", "seed": "${seeds}"}
        assert "${" not in stages[name]["cmd"]  # no params value is ever read by a shell


def test_chain_names_are_dvc_matrix_keys():
    assert paths.chain_name("my-gan", 3) == "my-gan-3"
    assert paths.chain_of(paths.weights_dir("my-gan", 3)) == "my-gan-3"
