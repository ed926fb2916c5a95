"""VGG feature extractor: torchvision layout and numbers, layer selection, loading."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from rome_smplx.errors import CheckpointError, InputError
from rome_smplx.models.vgg import VGGFeatures, load_vgg

HAVE_TORCHVISION = importlib.util.find_spec("torchvision") is not None
# Indices of relu1_1 .. relu5_1 inside torchvision's `features` (VGG paper configurations D and E).
RELU_INDICES = {"vgg19": [1, 6, 11, 20, 29], "vgg16": [1, 6, 11, 18, 25]}


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_layer_indices_and_keys(arch):
    model = VGGFeatures(arch, normalize=False)
    assert model._indices == RELU_INDICES[arch]
    convs = [i for i, m in enumerate(model.features) if isinstance(m, torch.nn.Conv2d)]
    assert list(model.state_dict()) == [f"features.{i}.{p}" for i in convs for p in ("weight", "bias")]


def _reference_features(arch, x, model):
    """Run the same layers by hand (and with torchvision when it is installed)."""
    if HAVE_TORCHVISION:
        import torchvision

        ref = getattr(torchvision.models, arch)()
        ref.load_state_dict(model.state_dict(), strict=False)
        layers = ref.features
    else:
        layers = model.features
    outs, h = [], x
    for i, layer in enumerate(layers):
        h = layer(h)
        if i in RELU_INDICES[arch]:
            outs.append(h)
        if i == RELU_INDICES[arch][-1]:
            break
    return outs


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_matches_torchvision_features(arch):
    torch.manual_seed(0)
    model = VGGFeatures(arch, normalize=False).eval()
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        ours = model(x)
        ref = _reference_features(arch, x, model)
    assert [o.shape[1] for o in ours] == [64, 128, 256, 512, 512]
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_normalisation_and_subset(tmp_path):
    torch.manual_seed(0)
    full = VGGFeatures("vgg19", normalize=True)
    torch.save({**full.state_dict(), "classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "vgg19.pth")
    sub = load_vgg(tmp_path / "vgg19.pth", "vgg19", layers=("relu2_1",), normalize=True)
    assert len(sub.features) == 7 and not any(p.requires_grad for p in sub.parameters())
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    raw = VGGFeatures("vgg19", normalize=False)
    raw.load_state_dict(full.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(sub(x)[0], raw((x - mean) / std)[1])
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError):
        load_vgg(tmp_path / "other.pth")
    with pytest.raises(InputError):
        VGGFeatures("vgg19", layers=("relu6_1",))
