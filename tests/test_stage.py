"""The stage entry point: which variant a stage runs for, and how errors end a stage."""

from __future__ import annotations

import pytest

from ganbench.config import ParamsError
from ganbench.stage import stage_target


@pytest.mark.parametrize("addressing, argv, expected", [
    ("train@cgan", [], "cgan"),
    ("sub/dvc.yaml:train@my-gan", [], "my-gan"),
    ("train@cgan", ["cgan"], "cgan"),
    ("", ["cgan"], "cgan"),            # a manual run: python stages/train.py cgan
    ("sample@other", ["cgan"], "cgan"),  # another stage's name is not ours
])
def test_the_variant_comes_from_dvc_stage_or_the_argument(monkeypatch, addressing, argv,
                                                          expected):
    monkeypatch.setenv("DVC_STAGE", addressing)
    assert stage_target("train", argv) == expected


@pytest.mark.parametrize("addressing, argv, pattern", [
    ("", [], r"usage: python stages/train.py <variant>"),
    ("train@cgan", ["dcgan"], r"DVC runs this as 'train@cgan'"),
    ("train@x;touch pwned", [], r"the variant name 'x;touch pwned' is not allowed"),
    ("", ["../../etc"], r"the variant name '../../etc' is not allowed"),
    ("", ["a", "b"], r"usage"),
])
def test_bad_targets_are_params_errors(monkeypatch, addressing, argv, pattern):
    monkeypatch.setenv("DVC_STAGE", addressing)
    with pytest.raises(ParamsError, match=pattern):
        stage_target("train", argv)
