"""Inception backbone: weights lookup, the offline TorchScript, the vendored torch-fidelity
architecture, and the registry. Real networks on a handful of tiny images (Inception on the
CPU is slow: about 0.3 s per image at 299 x 299).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from ganbench.backbones import Backbone, get_backbone
from ganbench.backbones.inception import (CONVENTION, PYTORCH_FID_FILENAME, TORCHSCRIPT_PIP,
                                          WEIGHTS_FILENAME, FIDInceptionV3, InceptionBackbone,
                                          default_hub_file, default_hub_files,
                                          find_torchscript, locate_weights, preprocess,
                                          torchscript_state_dict)
from ganbench.config import EvalParams
from ganbench.errors import InputError



def test_offline_weights_are_installed():
    """The dev set-up installs them (Makefile): a missing file fails here, it is never skipped."""
    assert find_torchscript() is not None, f"run `make install-dev` ({TORCHSCRIPT_PIP})"




@pytest.fixture(scope="module")
def no_hub(tmp_path_factory):
    """A torch hub cache file that does not exist, so a developer's real cache is ignored."""
    return tmp_path_factory.mktemp("hub") / WEIGHTS_FILENAME


@pytest.fixture(scope="module")
def ts_backbone(no_hub):
    return InceptionBackbone(None, "cpu", hub_file=no_hub)


@pytest.fixture(scope="module")
def state_dict_file(ts_backbone, tmp_path_factory):
    """A torch-fidelity-format state dict: the TorchScript's conv/BN weights renamed to
    torch-fidelity keys, plus a randomly initialised fc head (torch-fidelity itself cannot
    build its network without weights: with no path it downloads them)."""
    path = tmp_path_factory.mktemp("weights") / "converted-inception.pth"
    torch.save(torchscript_state_dict(ts_backbone.model), path)
    return path


@pytest.fixture(scope="module")
def tiny_gray():
    return np.random.default_rng(0).integers(0, 256, size=(3, 1, 28, 28), dtype=np.uint8)


def test_torchscript_path_loads_offline(ts_backbone, tiny_gray):
    assert isinstance(ts_backbone, Backbone)
    assert ts_backbone.weights.kind == "torchscript"
    assert "default_1.pt" in ts_backbone.version and "sha256:" in ts_backbone.version
    assert ts_backbone.is_available is False and "no logits" in ts_backbone.is_reason
    assert "2x-1" in ts_backbone.convention == CONVENTION
    out = ts_backbone.extract(tiny_gray, batch_size=2)
    assert out.features.shape == (3, 2048) and out.features.dtype == np.float32
    assert np.isfinite(out.features).all() and (out.features >= 0).all()  # pool3 after ReLU
    assert out.logits is None and out.probs is None
    # grayscale is replicated: a 3-channel copy gives the same features (any batch size)
    rgb = np.repeat(tiny_gray, 3, axis=1)
    np.testing.assert_allclose(ts_backbone.extract(rgb, batch_size=3).features, out.features,
                               rtol=1e-5, atol=1e-5)


def test_preprocess_convention():
    img = np.array([[[[0, 255], [255, 0]]]], dtype=np.uint8)
    x = preprocess(torch.from_numpy(img))
    assert x.shape == (1, 3, 299, 299) and x.dtype == torch.float32
    assert x.min().item() == pytest.approx(-1.0) and x.max().item() == pytest.approx(1.0)
    flat = preprocess(torch.full((1, 1, 5, 5), 255, dtype=torch.uint8))
    assert torch.all(flat == 1.0)  # 2x - 1 of 1.0, after a bilinear resize


def test_vendored_network_reproduces_the_torchscript(ts_backbone, tiny_gray):
    """The vendored FIDInceptionV3 with the TorchScript's weights gives its features."""
    model = FIDInceptionV3().eval()
    model.load_state_dict(torchscript_state_dict(ts_backbone.model))
    x = preprocess(torch.from_numpy(tiny_gray[:2]))
    with torch.inference_mode():
        pool3, _ = model(x)
        expected = ts_backbone.model(x)
    torch.testing.assert_close(pool3, expected, rtol=1e-5, atol=1e-5)


def test_vendored_network_is_torch_fidelitys(state_dict_file):
    """Same keys (torch-fidelity loads our file, strictly) and same outputs. torch-fidelity
    normalises with (x - 128) / 128 and resizes TF1-style; at 299 x 299 its resize is the
    identity, so feeding our network (x - 128) / 128 compares the networks alone."""
    theirs = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                         feature_extractor_weights_path=str(state_dict_file))
    ours = FIDInceptionV3().eval()
    ours.load_state_dict(torch.load(state_dict_file, weights_only=True))
    img = torch.from_numpy(np.random.default_rng(1).integers(0, 256, size=(2, 3, 299, 299),
                                                             dtype=np.uint8))
    with torch.inference_mode():
        ref_pool3, ref_logits = theirs(img)
        pool3, logits = ours((img.float() - 128) / 128)
    torch.testing.assert_close(pool3, ref_pool3, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-4)


def test_explicit_state_dict_path(state_dict_file, ts_backbone, tiny_gray, no_hub):
    backbone = InceptionBackbone(str(state_dict_file), "cpu", hub_file=no_hub)
    assert backbone.weights.origin == "eval.inception_weights"
    assert backbone.is_available and backbone.is_reason is None
    assert state_dict_file.name in backbone.version and "sha256:" in backbone.version
    out = backbone.extract(tiny_gray[:2], batch_size=2)
    assert out.logits.shape == (2, 1008) and out.probs.shape == (2, 1008)
    np.testing.assert_allclose(out.probs.sum(axis=1), 1.0, rtol=1e-12)
    # same conv weights as the TorchScript, so the same pool3 features
    np.testing.assert_allclose(out.features, ts_backbone.extract(tiny_gray[:2], 2).features,
                               rtol=1e-5, atol=1e-5)
    fc = torch.load(state_dict_file, weights_only=True)["fc.weight"].double().numpy()
    np.testing.assert_allclose(out.logits, out.features.astype(np.float64) @ fc.T,
                               rtol=1e-4, atol=1e-4)  # "logits_unbiased": no bias


def test_hub_cache_is_used_when_no_path_is_set(state_dict_file, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub = default_hub_file()
    assert hub == tmp_path / "hub" / "checkpoints" / WEIGHTS_FILENAME
    hub.parent.mkdir(parents=True)
    hub.symlink_to(state_dict_file)
    found = locate_weights(None, hub_file=hub, torchscript_file=find_torchscript())
    assert (found.kind, found.origin) == ("state_dict", "torch hub cache")


def test_pytorch_fid_file_name_in_the_hub_cache_is_found_too(state_dict_file, monkeypatch,
                                                            tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    files = default_hub_files()
    assert [f.name for f in files] == [WEIGHTS_FILENAME, PYTORCH_FID_FILENAME]
    files[1].parent.mkdir(parents=True)
    files[1].symlink_to(state_dict_file)
    found = locate_weights(None, hub_file=files, torchscript_file=find_torchscript())
    assert (found.kind, found.path.name) == ("state_dict", PYTORCH_FID_FILENAME)


def test_missing_weights_error_says_where_to_put_them(no_hub):
    with pytest.raises(InputError) as err:
        locate_weights(None, hub_file=no_hub, torchscript_file=None)
    message = str(err.value)
    for needle in ("eval.inception_weights", WEIGHTS_FILENAME, str(no_hub), TORCHSCRIPT_PIP):
        assert needle in message


def test_missing_explicit_path_is_an_error_not_a_fallback(no_hub):
    with pytest.raises(InputError, match=r"eval.inception_weights = 'nowhere/w\.pth': no such"):
        InceptionBackbone("nowhere/w.pth", "cpu", hub_file=no_hub)


def test_a_file_that_is_not_the_inception_state_dict_is_an_error(tmp_path, no_hub):
    bad = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, bad)
    with pytest.raises(InputError, match="not torch-fidelity's Inception state dict"):
        InceptionBackbone(str(bad), "cpu", hub_file=no_hub)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read it as a torch state dict"):
        InceptionBackbone(str(garbage), "cpu", hub_file=no_hub)


def test_images_must_be_uint8_nchw(ts_backbone):
    with pytest.raises(ValueError, match="uint8"):
        ts_backbone.extract(np.zeros((1, 1, 8, 8), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="N x C x H x W"):
        ts_backbone.extract(np.zeros((1, 2, 8, 8), dtype=np.uint8), 1)


def test_registry(state_dict_file, tmp_path):
    params = EvalParams(backbones=["inception"], inception_weights=str(state_dict_file))
    backbone = get_backbone("inception", judge_dir=tmp_path, eval_params=params,
                            device=torch.device("cpu"))
    assert isinstance(backbone, InceptionBackbone) and backbone.is_available
    with pytest.raises(InputError, match="the judge stage writes it"):
        get_backbone("judge", judge_dir=tmp_path, eval_params=params, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="judge, inception"):
        get_backbone("vgg", judge_dir=tmp_path, eval_params=params, device=torch.device("cpu"))


def test_metrics_entry_with_the_torchscript_has_no_is(ts_backbone):
    """The evaluation path on the offline TorchScript: FID/KID/PRDC numbers, IS null + reason."""
    from ganbench.evaluation import extract, make_reference, score_backbone

    rng = np.random.default_rng(2)
    params = EvalParams(backbones=["inception"], prdc_k=2, is_splits=2, kid_subsets=3)
    ref = make_reference(ts_backbone, rng.integers(0, 256, (5, 1, 8, 8), dtype=np.uint8), 5)
    fake = extract(ts_backbone, rng.integers(0, 256, (5, 1, 8, 8), dtype=np.uint8), 5)
    entry = score_backbone(ts_backbone, fake, ref, params)
    assert entry.feature_dim == 2048 and entry.fid > 0 and entry.kid_subset_size == 5
    assert entry.is_mean is None and entry.is_std is None
    assert entry.is_reason == ts_backbone.is_reason and "no logits" in entry.is_reason
    assert entry.version == ts_backbone.version
