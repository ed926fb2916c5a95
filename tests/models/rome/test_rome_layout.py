"""Full-size modules have exactly the state-dict layout and parameter counts of the release."""

from __future__ import annotations

import json

import pytest
import torch

from rome_smplx.models.rome import RomeNetworks, build_reference

from .conftest import rome_fixture_dir

LAYOUT = json.loads((rome_fixture_dir() / "state_dict_layout.json").read_text())
MODULES = LAYOUT["modules"]
ATTR = {"E_tex": "autoencoder", "E_geom": "mesh_deformer", "G_geom": "mlp_deformer", "E_img": "unet",
        "discriminator": "discriminator"}


@pytest.fixture(scope="module")
def official_full():
    return RomeNetworks.from_profile("official", "full", with_discriminator=True, device="meta")


def _check_layout(net, spec):
    params = dict(net.named_parameters())
    buffers = dict(net.named_buffers())
    state = net.state_dict()
    assert list(state) == [e["key"] for e in spec["state_dict"]]
    for e in spec["state_dict"]:
        key = e["key"]
        assert tuple(state[key].shape) == tuple(e["shape"]), key
        assert state[key].dtype == torch.float32, key
        assert (key in params) == (e["kind"] == "parameter") and (key in buffers) == (e["kind"] == "buffer"), key
        owner = net.get_submodule(key.rsplit(".", 1)[0])
        assert type(owner).__name__ == e["module_class"], key
        if "num_groups" in e:
            assert owner.num_groups == e["num_groups"] and owner.eps == e["eps"], key
        if "kernel_size" in e:
            assert list(owner.kernel_size) == e["kernel_size"] and list(owner.stride) == e["stride"], key
            assert list(owner.padding) == e["padding"], key
        if e["module_class"] == "InstanceNorm2d":
            assert owner.affine and not owner.track_running_stats and owner.eps == e["eps"]
    assert sum(p.numel() for p in net.parameters()) == spec["num_parameters"]
    assert sum(b.numel() for b in net.buffers()) == spec["num_buffer_elements"]


@pytest.mark.parametrize("name", list(MODULES))
def test_profile_modules_match_layout(official_full, name):
    _check_layout(getattr(official_full, ATTR[name]), MODULES[name])


@pytest.mark.parametrize("name", list(MODULES))
def test_build_reference_full_size_matches_layout(name):
    spec = MODULES[name]
    post = spec.get("post_construction")
    post = {k: {kk: vv for kk, vv in v.items() if kk != "note"} for k, v in post.items()} if post else None
    with torch.device("meta"):
        net = build_reference(spec["reference_class"], spec["constructor_args"], post)
    _check_layout(net, spec)


def test_documented_parameter_counts():
    counts = {name: spec["num_parameters"] for name, spec in MODULES.items()}
    assert counts == {"E_tex": 40_440_328, "E_geom": 14_782_176, "E_img": 14_780_356, "G_geom": 491_264,
                      "discriminator": 1_552_449}


def test_checkpoint_prefixes_are_ours():
    from rome_smplx.models.rome import OFFICIAL_PREFIXES

    ours = LAYOUT["checkpoint_prefixes"]["ours"]
    assert {p: ATTR[ours[p]["module"]] for p in ours if p != "discriminator."} == OFFICIAL_PREFIXES
