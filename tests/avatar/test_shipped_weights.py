"""The weights trained on the synthetic world: shipped, small, loaded by default on those assets only."""

from __future__ import annotations

import logging

import pytest
import torch

import rome_smplx as rs
from rome_smplx import weights as W
from rome_smplx.assets.synthetic.video import SPLITS, SyntheticSubject
from rome_smplx.metrics.image import psnr

pytestmark = pytest.mark.skipif(W.path("full") is None, reason="no shipped weights in this checkout")


def test_files_are_small_and_documented():
    total = sum(W.path(k).stat().st_size for k in W.FILES)
    assert total <= 20 * 2**20
    readme = (W.WEIGHTS_DIR / "README.md").read_text()
    for word in ("synthetic_cpu.yaml", "seeds", "wall", "psnr"):
        assert word in readme.lower() or word in readme


def test_default_assets_load_the_shipped_weights(synthetic_dir, caplog):
    assets = rs.Assets.from_dir(synthetic_dir)
    assert W.defaults_for(assets)
    with caplog.at_level(logging.WARNING):
        head = rs.HeadAvatar.from_assets(assets, "full", backend="torch")
    assert "randomly initialised" not in caplog.text
    from rome_smplx.models.rome import load

    shipped = load(W.path("full"), dtype=torch.float32).state_dict()
    ours = head.networks.state_dict()  # for inference: everything but the training discriminator
    assert set(ours) == {k for k in shipped if not k.startswith("discriminator.")} and len(ours) < len(shipped)
    for k, a in ours.items():
        assert torch.equal(a, shipped[k]), k
    assert head.image_size == head.networks.profile.image_size == load(W.path("full")).profile.image_size
    lin = rs.HeadAvatar.from_assets(assets, "linear", backend="torch")
    _, basis, mean = W.load_linear(W.path("linear"))
    assert torch.equal(lin.basis, basis) and torch.equal(lin.mean_deform, mean)
    # the basis keeps ROME's layout: orthonormal columns, hair block on hair vertices only
    gram = basis.T @ basis
    assert torch.allclose(gram, torch.eye(basis.shape[1]), atol=1e-4)
    data = assets.rome_data()
    hair_rows = torch.zeros(basis.shape[0] // 3, dtype=torch.bool)
    hair_rows[data.hair_list] = True
    assert basis.view(-1, 3, basis.shape[1])[~hair_rows][:, :, :50].abs().max() == 0


def test_other_assets_keep_random_init(synthetic_dir_small, caplog):
    assets = rs.Assets.from_dir(synthetic_dir_small)  # another head: the weights do not apply
    assert not W.defaults_for(assets)
    with caplog.at_level(logging.WARNING):
        rs.HeadAvatar.from_assets(assets, "full", size="small", backend="torch")
    assert "randomly initialised" in caplog.text


def test_trained_model_beats_the_untrained_one(synthetic_dir):
    """On a held-out subject, the shipped model's self-reenactment is far closer to the truth."""
    assets = rs.Assets.from_dir(synthetic_dir)
    trained = rs.HeadAvatar.from_assets(assets, "full", backend="torch")
    prof = trained.networks.profile
    untrained = rs.HeadAvatar.from_assets(assets, "full", defaults=False, profile=prof.name, size=prof.size,
                                          image_size=trained.image_size, backend="torch")
    subj = SyntheticSubject.from_seed(SPLITS["test"][3], assets)
    src, tgt = subj.render(subj.walk(6)[::5], trained.image_size, tracking_noise=0.5, frame_ids=[0, 5])
    white = lambda img, m: img * m + (1 - m)
    target = white(tgt.image[None], tgt.matte[None])
    region = ((tgt.segmentation == 1) | (tgt.segmentation == 2)).float()[None, None]
    scores = {}
    with torch.no_grad():
        for name, head in (("trained", trained), ("untrained", untrained)):
            recon = head.reconstruct(src.image[None], src.matte[None], src.tracked)
            r = head.render(recon, tgt.tracked)
            scores[name] = float(psnr(white(r.image.clamp(0, 1), r.mask), target, region))
    assert scores["trained"] > scores["untrained"] + 5.0, scores
