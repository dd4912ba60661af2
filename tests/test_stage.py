"""The stage entry point: which (variant, seed) chain a stage runs for."""

from __future__ import annotations

import pytest
import yaml

from ganbench.config import ParamsError
from ganbench.stage import Chain, stage_target


@pytest.fixture(autouse=True)
def project(tmp_path, monkeypatch):
    """A params.yaml with seeds 0 and 3 in the working directory."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seeds": [0, 3],
                                                          "variants": {"cgan": {}}}))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("addressing, argv, expected", [
    ("train@cgan-0", [], ("cgan", 0)),
    ("sub/dvc.yaml:train@my-gan-3", [], ("my-gan", 3)),   # a '-' in the name: last one splits
    ("train@cgan-3", ["cgan", "3"], ("cgan", 3)),
    ("", ["cgan", "0"], ("cgan", 0)),            # a manual run: python stages/train.py cgan 0
    ("sample@other-0", ["cgan", "0"], ("cgan", 0)),  # another stage's name is not ours
])
def test_the_chain_comes_from_dvc_stage_or_the_arguments(monkeypatch, addressing, argv,
                                                         expected):
    monkeypatch.setenv("DVC_STAGE", addressing)
    assert stage_target("train", argv) == Chain(*expected)


@pytest.mark.parametrize("addressing, argv, pattern", [
    ("", [], r"usage: python stages/train.py <variant> <seed>"),
    ("", ["cgan"], r"usage"),
    ("train@cgan-0", ["dcgan", "0"], r"DVC runs this as 'train@cgan-0'"),
    ("train@x;touch pwned-0", [], r"the variant name 'x;touch pwned' is not allowed"),
    ("", ["../../etc", "0"], r"the variant name '../../etc' is not allowed"),
    ("", ["cgan", "x"], r"seed 'x' is not an integer"),
    ("", ["cgan", "5"], r"seed 5 is not in params.yaml's seeds \[0, 3\]"),
])
def test_bad_targets_are_params_errors(monkeypatch, addressing, argv, pattern):
    monkeypatch.setenv("DVC_STAGE", addressing)
    with pytest.raises(ParamsError, match=pattern):
        stage_target("train", argv)
