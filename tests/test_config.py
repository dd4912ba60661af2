"""The params schema: defaults, clear errors, cross-field checks, and docs that match."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from ganbench import config
from ganbench.cli import main as cli_main
from ganbench.config import ParamsError, VariantParams, load_all, load_section, validate_section

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, data) -> Path:
    """A params file; one default variant is added when ``data`` names none (a whole file is
    always validated, and it needs a variant)."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"seeds": [0], "variants": {"a": {}}, **data}))
    return path


def variant(**spec):
    return validate_section(VariantParams, spec, "variants.t")


def test_repository_params_are_valid():
    params = load_all(ROOT / "params.yaml")
    assert set(params["variants"]) == {"gan", "dcgan", "cgan", "wgan", "wgan_gp", "vae"}


def test_defaults_fill_missing_keys(tmp_path):
    data = load_section("data", write(tmp_path, {"data": {"source": "digits"}}))
    assert (data.source, data.image_size, data.channels, data.seed) == ("digits", 28, 1, 0)


def test_unknown_source_names_key_and_allowed_values(tmp_path):
    with pytest.raises(ParamsError) as err:
        load_section("data", write(tmp_path, {"data": {"source": "nope"}}))
    message = str(err.value)
    assert "data.source" in message and "'nope'" in message
    for source in config.SOURCES:
        assert source in message


def test_unknown_key_suggests_nearest(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown key 'variants.a.lr_gg'.*did you mean 'lr_g'"):
        load_section("variants", write(tmp_path, {"variants": {"a": {"lr_gg": 0.1}}}))


def test_unknown_section_suggests_nearest(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown section 'variant'.*did you mean 'variants'"):
        load_all(write(tmp_path, {"variant": {}, "variants": {"a": {}}}))


@pytest.mark.parametrize("spec, pattern", [
    ({"lr_g": -1}, r"variants.t.lr_g = -1: must be a number > 0"),
    ({"lr_g": "fast"}, r"variants.t.lr_g = 'fast': must be a number"),
    ({"epochs": 2.5}, r"variants.t.epochs = 2.5: must be an integer >= 1"),
    ({"conditional": "yes"}, r"variants.t.conditional = 'yes': must be true or false"),
    ({"betas": [0.5]}, r"variants.t.betas = \[0.5\]: must be a pair of numbers"),
    ({"betas": [0.5, 1.0]}, r"variants.t.betas\[1\] = 1.0: must be a pair of numbers \[a, b\] >= 0 and < 1"),
    ({"arch": "transformer"}, r"variants.t.arch = 'transformer' is not allowed.*mlp, dcgan, vae"),
    ({"ema": 1.0}, r"variants.t.ema = 1.0: must be a number > 0 and < 1, or null"),
    ({"label_smoothing": 0.7}, r"label_smoothing = 0.7: must be a number >= 0 and < 0.5"),
])
def test_bad_values_name_key_value_and_range(spec, pattern):
    with pytest.raises(ParamsError, match=pattern):
        variant(**spec)


@pytest.mark.parametrize("spec, pattern", [
    ({"weight_clip": 0.01}, r"weight_clip needs loss: wasserstein"),
    ({"arch": "vae", "loss": "hinge"}, r"a vae is trained on the ELBO"),
    ({"arch": "vae", "gradient_penalty": 10}, r"gradient_penalty need a discriminator"),
    ({"loss": "elbo"}, r"'elbo' needs arch: vae"),
    ({"loss": "wasserstein"}, r"needs a Lipschitz constraint"),
    ({"loss": "wasserstein", "weight_clip": 0.01, "gradient_penalty": 10}, r"use one"),
    ({"loss": "hinge", "label_smoothing": 0.1}, r"label_smoothing applies to the cross-entropy"),
])
def test_nonsense_combinations_are_rejected(spec, pattern):
    with pytest.raises(ParamsError, match=pattern):
        variant(**spec)


def test_loss_default_resolves_per_arch():
    assert variant(arch="vae").objective == "elbo"
    assert variant(arch="dcgan").objective == "nonsaturating"


@pytest.mark.parametrize("name", ["9lives", "<script>", "my gan", "..", "x;touch pwned;echo",
                                  "v>Makefile", "a" * 65, "é", "a/b", "-a", "_a", "a\nb"])
def test_variant_names_must_be_safe(tmp_path, name):
    with pytest.raises(ParamsError) as err:
        load_section("variants", write(tmp_path, {"variants": {name: {}}}))
    message = str(err.value)
    assert repr(name) in message and config.SAFE_NAME_PATTERN in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["judge", "real", "reference"])
def test_reserved_variant_names_are_refused(tmp_path, name):
    with pytest.raises(ParamsError, match=f"variants.{name}: the name is reserved"):
        load_section("variants", write(tmp_path, {"variants": {name: {}}}))


@pytest.mark.parametrize("name", ["a", "my-gan", "wgan_gp", "A1-b_2", "a" * 64])
def test_safe_variant_names_are_accepted(tmp_path, name):
    assert list(load_section("variants", write(tmp_path, {"variants": {name: {}}}))) == [name]


def test_gate_tolerances_validated(tmp_path):
    path = write(tmp_path, {"gate": {"tolerances": {"fidd": {"rel": 0.1}}}})
    with pytest.raises(ParamsError, match=r"unknown metric 'fidd'.*did you mean 'fid'"):
        load_section("gate", path)
    gate = load_section("gate", write(tmp_path, {"gate": {"tolerances": {"fid": {"abs": 2}}}}))
    assert gate.tolerances == {"fid": {"rel": 0.0, "abs": 2.0}}


def test_primary_metric_checked(tmp_path):
    with pytest.raises(ParamsError, match=r"report.primary_metric = 'judge.fdi'.*judge.fid"):
        load_section("report", write(tmp_path, {"report": {"primary_metric": "judge.fdi"}}))


def test_readme_set_param_examples_name_keys_dvc_can_set():
    """Every `dvc exp run -S key=value` in the README names a key of params.yaml (DVC rejects
    others with "not in struct") or adds one with `+`, and every key is in the schema."""
    params = config.read_params(ROOT / "params.yaml")
    keys = re.findall(r"-S '?(\+?)([A-Za-z_][\w.]*)=", (ROOT / "README.md").read_text())
    assert len(keys) >= 5
    for plus, key in keys:
        node, *rest = key.split(".")
        value = params.get(node)
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        if plus:
            assert value is None, f"+{key}: already in params.yaml, drop the +"
            section = "variants" if node == "variants" else node
            fields = {f.name for f in dataclasses.fields(
                config.VariantParams if section == "variants" else config.SECTIONS[section])}
            assert rest[-1] in fields, f"+{key}: not a schema key"
        else:
            assert value is not None, f"-S {key}: not in params.yaml, DVC needs +{key}"


def test_exponent_floats_read_as_numbers_like_dvc(tmp_path):
    """YAML 1.2 (DVC's ruamel) reads 1e-4 as a float; PyYAML's YAML 1.1 would give a string."""
    path = tmp_path / "params.yaml"
    path.write_text("seeds: [0]\nvariants:\n  g:\n    arch: dcgan\n    lr_g: 1e-4\n    lr_d: 2E-04\n"
                    "    ema: 9.99e-1\n    label_smoothing: '1e-1'\n")
    with pytest.raises(ParamsError, match=r"label_smoothing = '1e-1'"):
        load_all(path)  # a quoted value stays a string
    path.write_text(path.read_text().replace("    label_smoothing: '1e-1'\n", ""))
    spec = load_all(path)["variants"]["g"]
    assert (spec.lr_g, spec.lr_d, spec.ema) == (1e-4, 2e-4, 0.999)


def test_malformed_yaml_is_a_params_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_all(path)


def test_check_params_cli(tmp_path, capsys):
    assert cli_main(["check-params", "--params", str(ROOT / "params.yaml")]) == 0
    assert "OK" in capsys.readouterr().out
    bad = write(tmp_path, {"data": {"source": "nope"}, "variants": {"a": {}}})
    assert cli_main(["check-params", "--params", str(bad)]) == 2
    assert "data.source" in capsys.readouterr().err


def test_readme_params_reference_is_generated_from_schema():
    """The README's reference section must equal `ganbench params-doc` (docs that match)."""
    readme = (ROOT / "README.md").read_text()
    assert config.params_reference_markdown() in readme, \
        "README params reference is stale: paste the output of `ganbench params-doc`"


def test_duplicate_keys_are_refused_as_dvc_refuses_them(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seeds: [0]\nvariants:\n  g:\n    lr_g: 0.1\n    epochs: 2\n    lr_g: 0.2\n")
    with pytest.raises(ParamsError) as err:
        load_all(path)
    message = str(err.value)
    assert "duplicate key 'lr_g' on lines 4 and 6" in message and "\n" not in message
    # merge keys may still be overridden by the mapping's own keys, as in DVC's ruamel
    path.write_text("seeds: [0]\nvariants:\n  g: &g {epochs: 2, lr_g: 0.1}\n  h:\n    <<: *g\n"
                    "    epochs: 3\n")
    assert load_all(path)["variants"]["h"].epochs == 3


@pytest.mark.parametrize("extra, pattern", [
    ({"report": {"primary_metric": "inception.fid"}},
     r"report.primary_metric = 'inception.fid' needs the inception backbone, but "
     r"eval.backbones = \['judge'\]"),
    ({"report": {"primary_metric": "tstr_accuracy"}},
     r"ranks by TSTR, which only conditional variants have"),
    ({"report": {"primary_metric": "tstr_accuracy"}, "eval": {"tstr": False},
      "variants": {"c": {"conditional": True}}}, r"eval.tstr is false"),
    ({"eval": {"prdc_k": 500}, "sample": {"n_samples": 100}},
     r"eval.prdc_k = 500: .*sample.n_samples = 100; use eval.prdc_k < 100"),
    ({"eval": {"is_splits": 1000}, "sample": {"n_samples": 100}},
     r"eval.is_splits = 1000: .*use eval.is_splits <= 100"),
])
def test_sections_must_agree_with_each_other(tmp_path, extra, pattern):
    with pytest.raises(ParamsError, match=pattern):
        load_all(write(tmp_path, extra))


def test_keys_dvc_yaml_declares_must_be_there(tmp_path):
    """DVC refuses to run a stage whose declared params are missing; check-params and the
    stages say so first, naming the key and the stage (dvc.yaml read beside params.yaml)."""
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    full = config.read_params(ROOT / "params.yaml")
    path = write(tmp_path, full)
    load_all(path)
    evall = {("evall" if k == "eval" else k): v for k, v in full.items()}
    with pytest.raises(ParamsError, match=r"unknown section 'evall' \(did you mean 'eval'\?\)"):
        load_all(write(tmp_path, evall))
    without = {k: v for k, v in full.items() if k != "eval"}
    with pytest.raises(ParamsError, match=r"'eval' is missing, and dvc.yaml's stage "
                                          r"'reference' declares it"):
        load_all(write(tmp_path, without))
    sample = {**full, "sample": {"seed": 3}}
    with pytest.raises(ParamsError, match=r"'sample.n_samples' is missing"):
        load_all(write(tmp_path, sample))


def test_every_stage_refuses_what_check_params_refuses(tmp_path, monkeypatch, capsys):
    """An unknown section used to be ignored by `dvc repro` (each stage read its own)."""
    import runpy
    import sys

    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"dataa": {"source": "digits"}})
    assert cli_main(["check-params"]) == 2
    expected = "unknown section 'dataa' (did you mean 'data'?)"
    assert expected in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["prepare.py"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "stages" / "prepare.py"), run_name="__main__")
    assert exit_info.value.code == 2 and expected in capsys.readouterr().err


@pytest.mark.parametrize("seeds, pattern", [
    (None, r"seeds is missing: list the training seeds"),
    ([], r"seeds = \[\]: must be a non-empty list"),
    ([0, 0], r"lists a seed twice"),
    ([0, -1], r"seeds contains -1: each seed must be an integer from 0 to 2147483647"),
    ([2**31], r"seeds contains 2147483648: each seed must be an integer from 0"),
    ([0, 1.5], r"seeds contains 1.5"),
    ([True], r"seeds contains True"),
    ("0,1", r"must be a non-empty list"),
])
def test_seeds_are_a_list_of_distinct_non_negative_integers(tmp_path, seeds, pattern):
    data = {"variants": {"a": {}}}
    if seeds is not None:
        data["seeds"] = seeds
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match=pattern):
        load_all(path)


def test_the_per_variant_seed_says_what_replaced_it(tmp_path):
    with pytest.raises(ParamsError, match=r"'variants.a.seed' is no longer a key: per-variant "
                                          r"seeds were replaced by the top-level `seeds:` list"):
        load_all(write(tmp_path, {"variants": {"a": {"seed": 3}}}))
