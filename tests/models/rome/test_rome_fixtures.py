"""Every reference fixture reproduced by build_reference + load_state_dict(strict=True)."""

from __future__ import annotations

import json

import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.models.rome import build_reference
from rome_smplx.models.rome.reference import reference_class_name

from .conftest import rome_fixture_dir

INDEX = json.loads((rome_fixture_dir() / "fixtures_index.json").read_text())
MODULE_FILES = sorted(f for f in INDEX["files"] if f.endswith(".pt") and not f.startswith("harmonic"))
TOL32 = dict(rtol=1e-4, atol=1e-5)
TOL64 = dict(rtol=1e-7, atol=1e-9)


def _load(name):
    return torch.load(rome_fixture_dir() / name, weights_only=True)


def _as_record(out):
    """Our discriminator returns (scores, features) like the reference; fixtures store a dict."""
    if isinstance(out, tuple):
        return {"scores": out[0], "features": out[1]}
    return out


def _build(rec):
    net = build_reference(rec["reference_class"], rec["config"], rec.get("post_construction"))
    net.load_state_dict(rec["state_dict"], strict=True)
    return net


def test_all_module_fixtures_are_covered():
    assert len(MODULE_FILES) == 8


@pytest.mark.parametrize("name", MODULE_FILES)
def test_state_dict_keys_equal_reference(name):
    rec = _load(name)
    net = build_reference(rec["reference_class"], rec["config"], rec.get("post_construction"))
    assert list(net.state_dict()) == list(rec["state_dict"])
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == {
        k: tuple(v.shape) for k, v in rec["state_dict"].items()
    }


@pytest.mark.parametrize("name", MODULE_FILES)
def test_eval_float64(name):
    rec = _load(name)
    net = _build(rec).double().eval()
    with torch.no_grad():
        out = net(rec["input"].double())
    torch.testing.assert_close(_as_record(out), rec["output_float64"], **TOL64)


@pytest.mark.parametrize("name", [f for f in MODULE_FILES if INDEX["files"][f]["float32_check_reliable"]])
def test_eval_float32(name):
    rec = _load(name)
    net = _build(rec).eval()
    with torch.no_grad():
        out = net(rec["input"])
    torch.testing.assert_close(_as_record(out), rec["output"], **TOL32)


def test_float32_unreliable_is_only_the_autoencoder():
    assert [f for f in MODULE_FILES if not INDEX["files"][f]["float32_check_reliable"]] == ["E_tex_small_A.pt"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mlp_on_nchw_maps(dtype):
    rec = _load("G_geom_small_A.pt")
    net = _build(rec).to(dtype).eval()
    with torch.no_grad():
        out = net(rec["input_4d"].to(dtype))
    if dtype == torch.float64:
        torch.testing.assert_close(out, rec["output_4d_float64"], **TOL64)
    else:
        torch.testing.assert_close(out, rec["output_4d"], **TOL32)
    # (B, P, C) is our extension: identical to the flattened call.
    with torch.no_grad():
        flat = net(rec["input"].to(dtype))
        bpc = net(rec["input"].to(dtype).view(2, 100, -1))
    torch.testing.assert_close(bpc.reshape(200, -1), flat, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_discriminator_train_mode(dtype):
    rec = _load("discriminator_small_A.pt")
    net = _build(rec).to(dtype).train()
    suffix = "_float64" if dtype == torch.float64 else ""
    tol = TOL64 if dtype == torch.float64 else TOL32
    out = net(rec["input"].to(dtype))
    torch.testing.assert_close(_as_record(out), rec["output_train" + suffix], **tol)
    after = rec["state_dict_after_train_forward" + suffix]
    state = net.state_dict()
    uv = [k for k in after if k.endswith(("weight_u", "weight_v"))]
    assert len(uv) == 10
    for k in uv:
        torch.testing.assert_close(state[k], after[k].to(dtype), **tol)
    # One power iteration changes sigma: train and eval scores differ far beyond float64 noise.
    diff = (out[0][0][0].detach() - rec["output" + suffix]["scores"][0][0].to(dtype)).abs().max().item()
    assert diff > 1e-6


def test_discriminator_output_nesting():
    rec = _load("discriminator_small_A.pt")
    out = _build(rec).eval()(rec["input"])
    assert out.scores is out[0] and len(out.features[0]) == 4
    assert [tuple(f[0].shape) for f in out.features[0]] == [tuple(s) for [s] in INDEX["files"][
        "discriminator_small_A.pt"]["output_shapes"]["features"][0]]


def test_reference_class_names():
    for full in ["src/networks/unet.py:UNet (ROME attribute `mesh_deformer`)", "UNet"]:
        assert reference_class_name(full) == "UNet"
    assert reference_class_name(INDEX["files"]["discriminator_small_A.pt"]["reference_class"]) == (
        "MultiScaleDiscriminator"
    )
    with pytest.raises(InputError):
        reference_class_name("ResNet")


def test_bad_config_raises():
    cfg = dict(INDEX["files"]["E_img_small_A.pt"]["config"])
    with pytest.raises(InputError, match="unknown argument"):
        build_reference("UNet", {**cfg, "bogus": 1})
    with pytest.raises(InputError, match="GroupNorm"):
        build_reference("UNet", {**cfg, "num_channels": 40, "max_channels": 80})
    with pytest.raises(InputError, match="divisible"):
        build_reference("UNet", cfg)(torch.zeros(1, 47, 20, 20))
