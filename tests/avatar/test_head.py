"""HeadAvatar on a synthetic person: reconstruct, drive, render; variants and profiles."""

from __future__ import annotations

import pytest
import torch
from rome_smplx.bridges import deca
from torch import nn

import rome_smplx as rs
from rome_smplx.errors import InputError
from rome_smplx.geometry.rotations import axis_angle_to_matrix
from rome_smplx.io.images import load_image, load_mask
from rome_smplx.types import FlameParams

SIZE = 128  # tests render at 128 px (the networks are resolution-agnostic); ROME uses 256


@pytest.fixture(scope="module")
def person(synthetic_dir_small):
    folder = synthetic_dir_small / "people" / "person_000"
    image = load_image(folder / "photo_256.png")
    mask = load_mask(folder / "mask_256.png")
    flame = deca.load(folder / "person_000_deca.pkl")
    return image, mask, flame


@pytest.fixture(scope="module")
def assets(synthetic_dir_small):
    return rs.Assets.from_dir(synthetic_dir_small)


def _head(assets, **kw):
    kw.setdefault("size", "small")
    return rs.HeadAvatar.from_assets(assets, image_size=SIZE, backend="torch", **kw)


def _targets(flame: FlameParams) -> FlameParams:
    """Three targets: an expression change, an open jaw + head turn, a nod with another expression."""
    g = torch.Generator().manual_seed(5)
    expr = torch.cat([flame.expression + 0.8 * torch.randn(1, 50, generator=g) for _ in range(3)])
    jaw = axis_angle_to_matrix(torch.tensor([[0.0, 0, 0], [0.3, 0, 0], [0.1, 0, 0]]))
    rot = axis_angle_to_matrix(torch.tensor([[0.0, 0, 0], [0.0, 0.4, 0], [0.25, -0.2, 0.05]])) @ flame.global_rot
    return FlameParams(
        shape=flame.shape.expand(3, -1), expression=expr, global_rot=rot, jaw_rot=jaw, cam=flame.cam.expand(3, -1)
    )


class PassThrough(nn.Module):
    """E_img stand-in: RGB = the sampled texture, mask = coverage (|normal| > 0.5) as sharp logits."""

    def __init__(self, tex_channels: int):
        super().__init__()
        self.c = tex_channels

    def forward(self, x):
        n = x[:, self.c : self.c + 3].norm(dim=1, keepdim=True)
        return torch.cat([x[:, :3], 40.0 * (n - 0.5)], dim=1)


def test_reconstruct_and_render_three_targets(assets, person):
    head = _head(assets)
    image, mask, flame = person
    with torch.no_grad():
        rec = head.reconstruct(image, mask, flame)
        out = head.render(rec, _targets(flame))
    n = head.flame.num_vertices
    assert rec.texture.shape == (1, 8, 256, 256) and rec.offsets.shape == (1, n, 3)
    assert rec.latent.shape[1] == 32
    torch.testing.assert_close(rec.vertices, head.flame(flame).vertices + rec.offsets)
    assert out.image.shape == (3, 3, SIZE, SIZE) and out.mask.shape == (3, 1, SIZE, SIZE)
    for t in (out.image, out.mask, out.composite, out.normals):
        assert torch.isfinite(t).all()
    assert 0 <= float(out.image.min()) and float(out.image.max()) <= 1
    # The head covers a sensible part of the frame in every target, and the targets differ.
    cover = out.silhouette.mean((1, 2, 3))
    assert bool(((cover > 0.05) & (cover < 0.9)).all())
    assert (out.silhouette[1] != out.silhouette[0]).any()
    # Full-variant offsets live on the deformable vertices only, along the normals' axes.
    outside = head.deform_mask == 0
    assert float(rec.offsets[0, outside].abs().max()) == 0.0
    assert float(rec.offsets[0, ~outside].abs().max()) > 0.0
    assert float(rec.offsets.abs().max()) <= 1.0  # |tanh| * |unit normal component| <= 1


def test_without_offsets_the_mesh_is_bare_flame(assets, person):
    """The "w/o offsets" ablation: no offsets at the source or at any target, for both variants."""
    image, mask, flame = person
    targets = _targets(flame)
    for variant in ("full", "linear"):
        head = _head(assets, variant=variant, offsets=False)
        with torch.no_grad():
            rec = head.reconstruct(image, mask, flame)
            verts, _, params, _ = head.posed_mesh(rec, targets)
        assert float(rec.offsets.abs().max()) == 0.0
        torch.testing.assert_close(rec.vertices, head.flame(flame).vertices)
        torch.testing.assert_close(verts, head.flame(params).vertices)
    with torch.no_grad():  # the same networks with offsets do move the deformable vertices
        moved = _head(assets).reconstruct(image, mask, flame).offsets
    assert float(moved.abs().max()) > 0.0


def test_deform_mask_follows_the_lists(assets, synthetic_dir):
    """HeadAvatar takes ROME's rule on the lists (RomeData.deform_mask), not the support of mean_deform."""
    from rome_smplx.assets.flame_topology import FLAME_FIXED_NECK_VERTICES

    fixed = torch.tensor(FLAME_FIXED_NECK_VERTICES)
    for a, flame_sized in ((assets, False), (rs.Assets.from_dir(synthetic_dir), True)):
        head = _head(a)
        rd = a.rome_data()
        assert torch.equal(head.deform_mask, rd.deform_mask)
        lists = torch.unique(torch.cat([rd.hair_list, rd.neck_list]))
        expect = lists[~torch.isin(lists, fixed)] if flame_sized else lists
        assert len(expect) < len(lists) if flame_sized else True
        assert torch.equal(torch.nonzero(head.deform_mask).flatten(), expect)


def test_hard_mask_covers_the_mesh_silhouette(assets, person):
    head = _head(assets)
    head.networks.unet = PassThrough(head.profile.neural_texture_channels)
    image, mask, flame = person
    with torch.no_grad():
        out = head.render(head.reconstruct(image, mask, flame), _targets(flame))
    sil = out.silhouette > 0.5
    hard = out.hard_mask > 0.5
    iou = (sil & hard).sum((1, 2, 3)).float() / (sil | hard).sum((1, 2, 3)).float()
    assert bool((iou >= 0.9).all()), iou
    # The composite is white outside the hard mask and the texture inside.
    assert torch.equal(out.composite[~hard.expand_as(out.composite)], torch.ones_like(out.composite[~hard.expand_as(out.composite)]))


def test_gradients_reach_every_network(assets, person):
    head = _head(assets)
    head.train()
    image, mask, flame = person
    rec = head.reconstruct(image, mask, flame)
    out = head.render(rec, _targets(flame).index(slice(1, 2)))
    target = torch.nn.functional.interpolate(image, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    loss = (out.image - target).abs().mean() + (out.mask - 0.5).pow(2).mean()
    loss.backward()
    for name in ("autoencoder", "mesh_deformer", "mlp_deformer", "unet"):
        params = list(getattr(head.networks, name).parameters())
        total = sum(float(p.grad.abs().sum()) for p in params if p.grad is not None)
        assert total > 0, f"no gradient reached {name}"


def test_driving_reuses_the_source_and_matches_per_frame_renders(assets, person):
    head = _head(assets)
    image, mask, flame = person
    targets = _targets(flame)
    with torch.no_grad():
        rec = head.reconstruct(image, mask, flame)
        batched = head.render(rec, targets)
        driven = head.drive(rec, targets, chunk=2)
        single = head.render(rec, targets.index(2))
    torch.testing.assert_close(driven.image, batched.image, atol=5e-4, rtol=0)  # batch-size-dependent float32 sums
    torch.testing.assert_close(single.image[0], batched.image[2], atol=5e-4, rtol=0)
    # Rendering the source pose reproduces the reconstruction's own geometry.
    verts, _, _, _ = head.posed_mesh(rec, flame)
    torch.testing.assert_close(verts, rec.vertices, atol=1e-5, rtol=0)


def test_linear_variant_offsets_are_basis_times_coefficients(assets, person):
    head = _head(assets, variant="linear")
    image, mask, flame = person
    with torch.no_grad():
        rec = head.reconstruct(image, mask, flame)
        out = head.render(rec, _targets(flame))
    k = head.basis.shape[1]
    assert rec.hair_coeffs.shape == (1, k) and rec.latent is None
    expected = (rec.hair_coeffs @ head.basis.T).view(1, -1, 3) + head.mean_deform
    torch.testing.assert_close(rec.offsets, expected)
    assert torch.isfinite(out.image).all()
    # Zero coefficients give exactly the mean deformation.
    torch.testing.assert_close(head.linear_offsets(torch.zeros(1, k))[0], head.mean_deform)
    # The same offsets drive every target (they depend on the source image only).
    verts, _, params, _ = head.posed_mesh(rec, _targets(flame))
    torch.testing.assert_close(verts - head.flame(params).vertices, rec.offsets.expand(3, -1, -1), atol=1e-6, rtol=0)


def test_paper_profile_renders_with_the_segmentation_unet(assets, person):
    head = _head(assets, profile="paper")
    assert head.networks.unet_seg is not None
    image, mask, flame = person
    with torch.no_grad():
        out = head.render(head.reconstruct(image, mask, flame), _targets(flame).index(0))
    assert out.image.shape == (1, 3, SIZE, SIZE) and out.mask.shape == (1, 1, SIZE, SIZE)
    assert torch.isfinite(out.image).all() and torch.isfinite(out.mask).all()


def test_float64_and_device_moves(assets, person):
    """float64 gives the float32 numbers (to float32 rounding), and ``.to`` moves values unchanged."""
    head = _head(assets)
    image, mask, flame = person
    target = _targets(flame).index(1)
    with torch.no_grad():
        rec32 = head.reconstruct(image, mask, flame)
        out32 = head.render(rec32, target)
        head.double()  # in place
        rec = head.reconstruct(image.double(), mask.double(), flame)
        out = head.render(rec, target.to(torch.float64))
    assert rec.texture.dtype == torch.float64 and rec.vertices.dtype == torch.float64
    assert out.image.dtype == torch.float64
    # (randomly initialised deep networks amplify float32 rounding to about 0.2 % of the texture)
    def rel(a, b):
        return float((a.float() - b).norm() / b.norm())

    assert rel(rec.texture, rec32.texture) < 5e-3 and rel(rec.offsets, rec32.offsets) < 2e-3
    torch.testing.assert_close(rec.vertices.float(), rec32.vertices, atol=3e-4, rtol=0)  # 0.3 mm
    # rendered images agree except where a silhouette pixel flips with the rounding
    diff = (out.image.float() - out32.image).abs()
    assert float(diff.mean()) < 5e-3 and float((diff > 0.05).float().mean()) < 0.01
    moved = rec.to("cpu")
    assert moved.faces.dtype == torch.long and moved.texture.device.type == "cpu"
    assert torch.equal(moved.texture, rec.texture) and torch.equal(moved.faces, rec.faces)
    back = rec.to(torch.float32)
    assert back.faces.dtype == torch.long and torch.equal(back.faces, rec.faces)
    assert torch.equal(back.texture, rec.texture.float()) and torch.equal(back.flame.shape, rec.flame.shape.float())


def test_bad_inputs_are_clear_errors(assets, person):
    head = _head(assets)
    image, mask, flame = person
    with pytest.raises(InputError, match=r"image: expected .*\(B, 3, H, W\)"):
        head.reconstruct(image[:, :2], mask, flame)
    bad = image.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        head.reconstruct(bad, mask, flame)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        head.reconstruct(image * 255, mask, flame)
    with pytest.raises(InputError, match="batch"):
        head.reconstruct(image.expand(2, -1, -1, -1), mask.expand(2, -1, -1, -1), flame)
    with pytest.raises(InputError, match="variant"):
        rs.HeadAvatar.from_assets(assets, variant="mobile")
    rec = head.reconstruct(image, mask, flame)
    no_cam = FlameParams(shape=flame.shape, expression=flame.expression)
    with pytest.raises(InputError, match="camera"):
        head.render(rec, no_cam)
