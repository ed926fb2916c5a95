"""ResNet-50 for linear_hair.pth: torchvision's key layout, loading, numbers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from rome_smplx.errors import CheckpointError, InputError
from rome_smplx.models.rome import LinearHairRegressor, load_linear_regressor

STORED = json.loads((Path(__file__).parent / "data" / "resnet50_fc60_keys.json").read_text())
HAVE_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def test_keys_and_shapes_match_stored_torchvision_listing():
    sd = LinearHairRegressor(60).state_dict()
    assert [[k, list(v.shape)] for k, v in sd.items()] == STORED["keys"]
    n_params = sum(p.numel() for p in LinearHairRegressor(60).parameters())
    assert n_params == 23_508_032 + 2048 * 60 + 60  # ResNet-50 trunk + fc 2048 -> 60


def test_same_as_torchvision_when_available():
    if not HAVE_TORCHVISION:
        # Without torchvision the stored listing above is the check; this keeps the number path honest.
        model = LinearHairRegressor(60).eval()
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 60)
        return
    import torchvision

    torch.manual_seed(0)
    ref = torchvision.models.resnet50(num_classes=60)
    for m in ref.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours = LinearHairRegressor(60)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-6)


def test_load_linear_regressor(tmp_path):
    torch.manual_seed(0)
    src = LinearHairRegressor(60).eval()
    torch.save(src.state_dict(), tmp_path / "linear_hair.pth")
    model = load_linear_regressor(tmp_path / "linear_hair.pth")
    assert not model.training and model.num_coefficients == 60
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(out, src(x), rtol=0, atol=0)
        # fc is affine in the pooled features.
        torch.testing.assert_close(out, model.features(x) @ model.fc.weight.T + model.fc.bias)
    assert out.shape == (1, 60)


def test_load_linear_regressor_errors(tmp_path):
    sd = LinearHairRegressor(60).state_dict()
    del sd["layer3.2.bn2.running_var"]
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="layer3.2.bn2.running_var"):
        load_linear_regressor(tmp_path / "bad.pth")
    with pytest.raises(InputError):
        LinearHairRegressor(60)(torch.zeros(1, 4, 64, 64))
