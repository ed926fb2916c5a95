"""The source unwrap (image -> UV through the source mesh), cached UV fragments, and the profile
options that go beyond the release (texture_unwrap, offset_scale)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.render.neural import _uv_corner_attrs, sample_texture, unwrap_image, uv_fragments, world2uv
from rome_smplx.render.raster import interpolate, rasterize


@pytest.fixture(scope="module")
def scene(synthetic_dir):
    import rome_smplx as rs
    from rome_smplx.assets.synthetic.video import SyntheticSubject
    from rome_smplx.avatar.head import HeadAvatar

    assets = rs.Assets.from_dir(synthetic_dir)
    head = HeadAvatar.from_assets(assets, "full", defaults=False, profile="official", size="small", image_size=64,
                                  backend="torch")
    subj = SyntheticSubject.from_seed(3, assets)
    fr = subj.render(subj.walk(1)[0], 64, tracking_noise=0.0, frame_ids=[0])
    ndc = head.project(fr.vertices[None], fr.flame, head.flame(fr.flame).joints[:, 0])
    return head, fr, ndc


def test_unwrap_rendered_back_gives_the_source(scene):
    """Carrying the image into UV space and rendering that texture with the same mesh and camera
    returns the image wherever the surface is seen (an invariant of the two maps)."""
    head, fr, ndc = scene
    u = unwrap_image(fr.image[None], fr.matte[None], ndc, head.faces, head.uv_coords, head.uv_faces, 128,
                     backend="torch")
    assert u.shape == (1, 4, 128, 128) and float(u.min()) >= 0 and float(u.max()) <= 1
    frags = rasterize(ndc, head.faces, (64, 64), faces_per_pixel=1, backend="torch")
    cov = (frags.pix_to_face[..., 0] >= 0).float()[:, None]
    uv_img = interpolate(frags, _uv_corner_attrs(head.uv_coords, head.uv_faces, 1))[:, :, :, 0]
    back = sample_texture(u, uv_img, cov)
    seen = back[:, 3:4] > 0.9
    assert seen.sum() > 0.8 * cov.sum()  # nearly every covered pixel is a visible texel
    err = ((back[:, :3] - fr.image[None]).abs() * seen).sum() / (3 * seen.sum())
    assert float(err) < 0.02
    # texels of the back of the head (not seen) are 0
    assert 0.05 < float((u[:, 3] > 0.5).float().mean()) < 0.9


def test_unwrap_visibility_is_relative_and_needs_the_matte(scene):
    """Shifting every depth changes no visibility (but a few texels on ties); an empty matte takes nothing."""
    head, fr, ndc = scene
    u = unwrap_image(fr.image[None], fr.matte[None], ndc, head.faces, head.uv_coords, head.uv_faces, 64,
                     backend="torch")
    # a mesh whose depth is all shifted: the z-buffer test is relative, so visibility is unchanged
    u2 = unwrap_image(fr.image[None], fr.matte[None], ndc + torch.tensor([0.0, 0.0, 3.0]), head.faces,
                      head.uv_coords, head.uv_faces, 64, backend="torch")
    differ = (u - u2).abs().amax(1) > 1e-5
    assert float(differ.float().mean()) < 1e-3
    # an all-zero matte: nothing is taken
    u3 = unwrap_image(fr.image[None], torch.zeros_like(fr.matte[None]), ndc, head.faces, head.uv_coords,
                      head.uv_faces, 64, backend="torch")
    assert float(u3.abs().max()) == 0.0
    with pytest.raises(InputError, match="verts_ndc"):
        unwrap_image(fr.image[None], fr.matte[None], ndc[0], head.faces, head.uv_coords, head.uv_faces, 64)


def test_world2uv_with_cached_fragments_is_identical(scene):
    head, fr, _ = scene
    verts = torch.stack([fr.vertices, fr.vertices * 1.1])
    ref = world2uv(verts, head.faces, head.uv_coords, head.uv_faces, 64, backend="torch")
    frags = uv_fragments(head.uv_coords, head.uv_faces, 64, backend="torch")
    torch.testing.assert_close(world2uv(verts, head.faces, head.uv_coords, head.uv_faces, 64, backend="torch",
                                        fragments=frags), ref, atol=0, rtol=0)
    with pytest.raises(InputError, match="fragments"):
        world2uv(verts, head.faces, head.uv_coords, head.uv_faces, 32, fragments=frags)


def test_unwrap_profile_needs_the_unwrap_and_saves(tmp_path, scene):
    from rome_smplx.models.rome import RomeNetworks, get_profile, load, save

    prof = dataclasses.replace(get_profile("official", "small"), image_size=64, texture_unwrap=True)
    nets = RomeNetworks(prof)
    img, msk = torch.rand(1, 3, 64, 64), torch.ones(1, 1, 64, 64)
    with pytest.raises(InputError, match="unwrapped"):
        nets.encode_texture(img, msk)
    u = torch.rand(1, 4, 64, 64)
    tex = nets.encode_texture(img, msk, u)
    # the unwrap enters through the 1x1 convolution only
    with torch.no_grad():
        torch.testing.assert_close(tex - nets.autoencoder(torch.cat([img, msk], 1)), nets.unwrap(u))
    again = load(save(nets, tmp_path / "n.safetensors"))
    assert again.profile.texture_unwrap and again.unwrap is not None
    torch.testing.assert_close(again.encode_texture(img, msk, u), tex)
    assert RomeNetworks(get_profile("official", "small")).unwrap is None  # the release has none
    with pytest.raises(InputError, match="offset_scale"):
        dataclasses.replace(prof, offset_scale=0.0)


def test_offset_scale_bounds_the_offsets(scene):
    head, fr, _ = scene
    orig = head.networks.profile
    prof = dataclasses.replace(orig, offset_scale=0.05)
    head.networks.profile = prof
    try:
        with torch.no_grad():
            head.networks.mlp_deformer.layers[-1].weight.mul_(1e3) if hasattr(head.networks.mlp_deformer, "layers") else None
            verts = head.flame(fr.flame).vertices
            hw = head.uv_xyz(verts).shape[-2:]  # the texture lives at the UV map's size
            tex = torch.randn(1, prof.neural_texture_channels, *hw) * 10
            off, _ = head.full_offsets(tex, verts)
        from rome_smplx.geometry.mesh import vertex_normals

        n = vertex_normals(verts, head.faces)
        assert bool((off.abs() <= 0.05 * n.abs() + 1e-7).all())
        assert float(off.norm(dim=-1).max()) <= 0.05 + 1e-6
    finally:
        head.networks.profile = orig


def test_config_profile_options():
    from rome_smplx.trainers.config import RomeTrainConfig

    cfg = RomeTrainConfig(profile_options={"texture_unwrap": True, "offset_scale": 0.08}, warmup_steps=5)
    assert cfg.profile_options["offset_scale"] == 0.08
    with pytest.raises(InputError, match="unknown profile field"):
        RomeTrainConfig(profile_options={"texture_unwarp": True})
    with pytest.raises(InputError, match="warmup_steps"):
        RomeTrainConfig(warmup_steps=-1)


def test_unwrap_skip_renders_the_source_colour_where_seen(scene, tmp_path):
    """With unwrap_skip the texture's first 4 channels are the unwrap, and with an E_img that outputs
    nothing the render is the source colour on every seen texel and grey (sigmoid 0) elsewhere."""
    from rome_smplx.models.rome.checkpoint import load, save
    from rome_smplx.models.rome.profiles import RomeNetworks

    head, fr, ndc = scene
    prof = dataclasses.replace(head.networks.profile, texture_unwrap=True, unwrap_skip=True)
    nets = RomeNetworks(prof)
    u = unwrap_image(fr.image[None], fr.matte[None], ndc, head.faces, head.uv_coords, head.uv_faces, 64,
                     backend="torch")
    img, msk = fr.image[None], fr.matte[None]
    tex = nets.encode_texture(img, msk, u)
    torch.testing.assert_close(tex[:, :4], u)
    feats = torch.cat([tex, torch.zeros(1, 39, 64, 64)], 1)

    class Zero(torch.nn.Module):
        def forward(self, x):
            return x.new_zeros(x.shape[0], 4, *x.shape[-2:])

    nets.unet = Zero()
    rgb, _ = nets.render_logits(feats)
    img_out = torch.sigmoid(rgb)
    seen = u[:, 3:4] > 0.999
    colour = u[:, :3] / u[:, 3:4].clamp_min(1e-3)
    inside = seen & (colour > 0.011).all(1, keepdim=True) & (colour < 0.989).all(1, keepdim=True)
    assert inside.sum() > 100
    err = ((img_out - colour).abs() * inside).amax()
    assert float(err) < 1e-3  # float32 logit -> sigmoid
    unseen = u[:, 3:4] < 0.5
    assert torch.allclose(img_out.expand(-1, 3, -1, -1)[unseen.expand(-1, 3, -1, -1)], torch.tensor(0.5))
    # the skip is a function of the features only: the unwrap path survives a save/load
    nets2 = RomeNetworks(prof)
    again = load(save(nets2, tmp_path / "skip.safetensors"))
    assert again.profile.unwrap_skip
    with pytest.raises(InputError, match="texture_unwrap"):
        dataclasses.replace(head.networks.profile, texture_unwrap=False, unwrap_skip=True)

