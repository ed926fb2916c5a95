"""rome.pth import, our safetensors format, and refusal of unsafe or broken files."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch

from rome_smplx.errors import CheckpointError
from rome_smplx.models.rome import RomeNetworks, load, load_official, save

from .conftest import rome_fixture_dir

LAYOUT = json.loads((rome_fixture_dir() / "state_dict_layout.json").read_text())
OURS = {"E_tex": "autoencoder.", "E_geom": "mesh_deformer.", "G_geom": "mlp_deformer.", "E_img": "unet.",
        "discriminator": "discriminator."}
DECA_LIKE = {
    "parametric_avatar.E_flame.encoder.conv1.weight": (64, 3, 7, 7),
    "parametric_avatar.E_flame.layers.2.weight": (236, 1024),
    "parametric_avatar.E_detail.encoder.bn1.running_mean": (64,),
    "parametric_avatar.D_detail.layers.0.weight": (8, 181),
    "parametric_avatar.flame.v_template": (31, 3),
    "parametric_avatar.uv_grid": (1, 256, 256, 2),
}


@pytest.fixture(scope="module")
def synthetic_rome_pth(tmp_path_factory):
    """A full-size rome.pth made from the layout listing: random tensors with the exact keys/shapes,
    plus DECA/FLAME-like keys and the training discriminator. Written once."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for name, spec in LAYOUT["modules"].items():
        for e in spec["state_dict"]:
            state[OURS[name] + e["key"]] = torch.randn(e["shape"], generator=g)
    for key, shape in DECA_LIKE.items():
        state[key] = torch.randn(shape, generator=g)
    state["parametric_avatar.hair_faces"] = torch.zeros(1, 7, 3, dtype=torch.int64)
    path = tmp_path_factory.mktemp("rome") / "rome.pth"
    torch.save(state, path)
    return path, state


def test_load_official_full_consumes_synthetic_rome_pth(synthetic_rome_pth, caplog):
    path, state = synthetic_rome_pth
    with caplog.at_level(logging.INFO, logger="rome_smplx.models.rome.checkpoint"):
        nets = load_official(path)
    assert not nets.training and nets.unet_seg is None and nets.discriminator is None
    ours = nets.state_dict()
    expected = {k: v for k, v in state.items() if k.startswith(("autoencoder.", "mesh_deformer.", "mlp_deformer.", "unet."))}
    assert set(ours) == set(expected)
    assert len(ours) == sum(LAYOUT["modules"][m]["num_state_dict_entries"] for m in ("E_tex", "E_geom", "G_geom", "E_img"))
    for k, v in expected.items():
        assert torch.equal(ours[k], v), k
    assert all(not t.is_meta and t.dtype == torch.float32 for t in ours.values())
    assert all(p.requires_grad for p in nets.parameters())
    text = caplog.text
    assert "parametric_avatar.E_flame" in text and "parametric_avatar.flame" in text and "discriminator" in text
    # Weights are live: G_geom on a few vertices uses exactly the stored layers.
    x = torch.randn(5, 58)
    w = state["mlp_deformer.block_1.0.weight"]
    b = state["mlp_deformer.block_1.0.bias"]
    torch.testing.assert_close(nets.mlp_deformer.block_1[0](x), x @ w.T + b)


def test_load_official_with_discriminator(synthetic_rome_pth):
    path, state = synthetic_rome_pth
    nets = load_official(path, with_discriminator=True)
    sd = nets.discriminator.state_dict()
    assert len(sd) == LAYOUT["modules"]["discriminator"]["num_state_dict_entries"]
    assert all(torch.equal(v, state["discriminator." + k]) for k, v in sd.items())


def _small_state(profile="official"):
    torch.manual_seed(1)
    return RomeNetworks.from_profile(profile, "small").state_dict()


def test_nested_state_dict_and_model(tmp_path):
    state = _small_state()
    for nest in ("state_dict", "model"):
        torch.save({nest: state, "epoch": torch.tensor(3)}, tmp_path / f"{nest}.pth")
        nets = load_official(tmp_path / f"{nest}.pth", size="small")
        assert all(torch.equal(v, state[k]) for k, v in nets.state_dict().items())


def test_missing_keys_are_listed(tmp_path):
    state = _small_state()
    dropped = ["unet.to_outputs.bias", "autoencoder.net.25.weight", "mlp_deformer.block_2.8.weight"]
    torch.save({k: v for k, v in state.items() if k not in dropped}, tmp_path / "rome.pth")
    with pytest.raises(CheckpointError) as info:
        load_official(tmp_path / "rome.pth", size="small")
    msg = str(info.value)
    assert "3 key(s)" in msg and all(k in msg for k in dropped) and "rome.pth" in msg


def test_wrong_shape_names_key_and_shapes(tmp_path):
    state = _small_state()
    state["mesh_deformer.to_outputs.weight"] = torch.zeros(16, 8, 1, 1)
    torch.save(state, tmp_path / "rome.pth")
    with pytest.raises(CheckpointError, match=r"mesh_deformer\.to_outputs\.weight.*\(16, 8, 1, 1\).*\(32, 8, 1, 1\)"):
        load_official(tmp_path / "rome.pth", size="small")


def test_unexpected_key_under_our_prefix(tmp_path):
    state = _small_state()
    state["unet.bottleneck.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "rome.pth")
    with pytest.raises(CheckpointError, match="unet.bottleneck.weight"):
        load_official(tmp_path / "rome.pth", size="small")


def test_official_file_does_not_fit_paper_profile(tmp_path):
    torch.save(_small_state(), tmp_path / "rome.pth")
    with pytest.raises(CheckpointError, match="unet_seg"):
        load_official(tmp_path / "rome.pth", profile="paper", size="small")


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "payload_ran"
    state = dict(_small_state())
    state["evil"] = _Payload(marker)
    torch.save(state, tmp_path / "rome.pth")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="pickle payload"):
        load_official(tmp_path / "rome.pth", size="small")
    assert not marker.exists()


def test_truncated_empty_and_missing_files(tmp_path):
    torch.save(_small_state(), tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "junk.pth").write_bytes(os.urandom(1000))
    for name in ("cut.pth", "empty.pth", "junk.pth", "absent.pth"):
        with pytest.raises(CheckpointError, match=name) as info:
            load_official(tmp_path / name, size="small")
        assert "payload" not in str(info.value)


@pytest.mark.parametrize("target", ["folder", "nets.safetensors"])
def test_save_load_round_trip(tmp_path, target):
    torch.manual_seed(2)
    nets = RomeNetworks.from_profile("paper", "small", with_discriminator=True).eval()
    out = save(nets, tmp_path / target)
    assert out.exists()
    if target == "folder":
        assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["config.json", "model.safetensors"]
    else:
        assert (tmp_path / "nets.json").is_file()
    back = load(tmp_path / target)
    assert back.profile == nets.profile and back.discriminator is not None and back.unet_seg is not None
    a, b = nets.state_dict(), back.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(1, 47, 16, 16)
    with torch.no_grad():
        assert all(torch.equal(u, v) for u, v in zip(nets.render_logits(x), back.render_logits(x)))


def test_load_rejects_corrupt_or_mismatched_safetensors(tmp_path):
    nets = RomeNetworks.from_profile("official", "small")
    path = save(nets, tmp_path / "n.safetensors")
    data = path.read_bytes()
    (tmp_path / "bad.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load(tmp_path / "bad.safetensors")
    from safetensors.torch import save_file

    sd = {k: v.contiguous() for k, v in nets.state_dict().items() if k != "unet.to_outputs.bias"}
    meta = {"rome_smplx_config": json.dumps(json.loads((tmp_path / "n.json").read_text()))}
    save_file(sd, str(tmp_path / "miss.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="unet.to_outputs.bias"):
        load(tmp_path / "miss.safetensors")
    save_file(sd, str(tmp_path / "nometa.safetensors"))
    with pytest.raises(CheckpointError, match="config"):
        load(tmp_path / "nometa.safetensors")


def test_trainer_warm_starts_from_the_released_layout(synthetic_rome_pth, synthetic_dir_small, tmp_path):
    """Fine-tuning: init_weights accepts a rome.pth; the four generators hold its tensors exactly."""
    from rome_smplx.trainers import RomeTrainConfig, RomeTrainer

    path, state = synthetic_rome_pth
    cfg = RomeTrainConfig(profile="official", size="full", image_size=256, batch_size=1, steps=0, checkpoint_every=0,
                          output_dir=str(tmp_path / "out"), backend="torch", init_weights=str(path))
    nets = RomeTrainer(cfg, synthetic_dir_small).head.networks
    for key, value in state.items():
        prefix = key.split(".")[0] + "."
        if prefix in ("autoencoder.", "mesh_deformer.", "mlp_deformer.", "unet."):
            mine = nets.state_dict()[key]
            assert torch.equal(mine, value.to(mine.dtype)), key
    small = cfg.replace(size="small", profile_options={})
    with pytest.raises(CheckpointError, match="rome.pth"):
        RomeTrainer(small, synthetic_dir_small)
