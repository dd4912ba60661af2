"""The results format: names and directions declared once, to/from JSON, the flat view."""

from __future__ import annotations

import json

import pytest
from report_fixtures import seed_entry

from ganbench.errors import InputError
from ganbench.results import (METRICS, SeedResult, VariantAggregate, direction, flat_names,
                              fmt, parse_aggregate)
from ganbench.aggregate import aggregate_variant


def test_every_metric_has_one_direction_and_label():
    assert direction("judge.fid") == direction("inception.fid") == direction("fid") == -1
    assert direction("judge.precision") == direction("tstr_accuracy") == +1
    assert direction("judge.nonsense") == 0
    assert all(m.direction in (-1, 0, 1) and m.label for m in METRICS.values())
    # the one metric without a better direction: shown, never ranked or gated
    assert [m for m in METRICS if METRICS[m].direction == 0] == ["sharpness"]
    assert flat_names(["judge"])[:2] == ["judge.fid", "judge.kid_mean"]
    assert flat_names(["judge"])[-13:] == ["tstr_accuracy", "tstr_ratio", "ssl_accuracy",
                                           "ssl_baseline_accuracy", "ssl_gain", "modes_covered",
                                           "mode_kl", "class_preservation", "l1", "psnr", "ssim",
                                           "cycle_l1", "sharpness"]
    assert direction("modes_covered") == +1 and direction("mode_kl") == -1
    assert [direction(m) for m in ("class_preservation", "l1", "psnr", "ssim", "cycle_l1")] \
        == [+1, -1, +1, +1, -1]
    assert fmt(12.3456, "judge.fid") == "12.35" and fmt(None) == "—"


def test_seed_result_round_trips_and_flattens():
    entry = seed_entry("cgan", 2, conditional=True, tstr=0.8)
    result = SeedResult.from_json(json.loads(json.dumps(entry)), "x.json")
    assert result.to_json() == entry
    flat = result.flat()
    assert flat["judge.fid"] == 12.3 and flat["tstr_accuracy"] == 0.8
    assert result.spreads() == {"judge.kid_std": 0.001, "judge.is_std": 0.2}
    plain = SeedResult.from_json(seed_entry("dcgan", 0), "y.json")
    assert plain.flat()["tstr_accuracy"] is None and plain.flat()["tstr_ratio"] is None


@pytest.mark.parametrize("damage, pattern", [
    (lambda e: e.pop("backbones"), r"x.json: not a ganbench results object \(missing backbones\)"),
    (lambda e: e.update(extra=1), r"\(unknown extra\)"),
    (lambda e: e["backbones"]["judge"].pop("fid"), r"backbones.judge: .*missing fid"),
    (lambda e: e.update(tstr={"accuracy": 1}), r"x.json: tstr: not a ganbench results object"),
])
def test_a_damaged_seed_result_is_an_input_error_naming_the_file(damage, pattern):
    entry = seed_entry("cgan", 0)
    damage(entry)
    with pytest.raises(InputError, match=pattern):
        SeedResult.from_json(entry, "x.json")


def test_aggregate_round_trips_and_refuses_non_numbers():
    results = {s: SeedResult.from_json(seed_entry("v", s, fid=10.0 + s), "v") for s in (0, 1)}
    agg = aggregate_variant("v", [0, 1], results)
    doc = json.loads(json.dumps({"v": agg.to_json()}))
    assert parse_aggregate(doc, "m.json")["v"] == agg
    assert agg.metrics["judge.fid"].values == [10.0, 11.0] and agg.values("tstr_accuracy") == []
    doc["v"]["metrics"]["judge.fid"]["values"][0] = "10"
    with pytest.raises(InputError, match=r"m.json: variant 'v': metrics.judge.fid holds '10'"):
        parse_aggregate(doc, "m.json")
    with pytest.raises(InputError, match="keyed by variant"):
        parse_aggregate([], "m.json")
    assert isinstance(agg, VariantAggregate)


@pytest.mark.parametrize("document", [
    [], {"metrics": []}, {"metrics": {"judge.fid": {"ranks": {"a": "1"}, "beats": {}, "pairs": []}}},
    {"metrics": {"judge.fid": {"ranks": {"a": 1}, "beats": {"a": "b"}, "pairs": []}}},
    {"metrics": {"judge.fid": {"ranks": {"a": 1}, "beats": {}}}},
])
def test_malformed_comparisons_are_an_input_error_naming_the_file(document):
    from ganbench.results import parse_comparisons
    with pytest.raises(InputError, match="comparisons.json"):
        parse_comparisons(document, "reports/comparisons.json")
