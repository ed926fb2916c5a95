"""FlameModel against smplx.FLAME (axis-angle) on the same synthetic file."""

from __future__ import annotations

import pytest
import torch
from smplx.lbs import batch_rodrigues

from rome_smplx.assets import Assets
from rome_smplx.errors import InputError
from rome_smplx.models.flame import FlameModel, contour_bins
from rome_smplx.types import FlameParams


@pytest.fixture(scope="module")
def assets(synthetic_dir_small, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ROME_SMPLX_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield Assets.from_dir(synthetic_dir_small)
    mp.undo()


def _random(b, gen, scale=0.3):
    aa = torch.randn(b, 5, 3, generator=gen) * scale
    return aa, batch_rodrigues(aa.reshape(-1, 3)).reshape(b, 5, 3, 3)


def test_matches_smplx_flame(assets):
    gen = torch.Generator().manual_seed(0)
    b = 3
    model = FlameModel.from_assets(assets, num_shape=100, num_expression=50)
    ref = assets.flame_smplx_model(100, 50, use_face_contour=True, batch_size=b)
    shape, expr = torch.randn(b, 100, generator=gen), torch.randn(b, 50, generator=gen)
    aa, rm = _random(b, gen)
    out = model(FlameParams(shape, expr, global_rot=rm[:, 0], neck_rot=rm[:, 1], jaw_rot=rm[:, 2],
                            eye_rots=rm[:, 3:5]), apply_global=True)
    o = ref(betas=shape, expression=expr, global_orient=aa[:, 0], neck_pose=aa[:, 1], jaw_pose=aa[:, 2],
            leye_pose=aa[:, 3], reye_pose=aa[:, 4])
    n = assets.num_flame_vertices
    assert out.vertices.shape == (b, n, 3) and out.joints.shape == (b, 5, 3) and out.landmarks.shape == (b, 68, 3)
    torch.testing.assert_close(out.vertices, o.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints, o.joints[:, :5], atol=1e-5, rtol=0)
    # smplx: 5 joints, 51 static, 17 contour; ours: 17 contour then 51 static
    torch.testing.assert_close(out.landmarks[:, 17:], o.joints[:, 5:56], atol=1e-5, rtol=0)
    # smplx picks the contour by the global rotation only: compare with an identity neck
    eye = torch.eye(3).expand(b, 3, 3)
    out0 = model(FlameParams(shape, expr, global_rot=rm[:, 0], neck_rot=eye, jaw_rot=rm[:, 2], eye_rots=rm[:, 3:5]),
                 apply_global=True)
    o0 = ref(betas=shape, expression=expr, global_orient=aa[:, 0], neck_pose=torch.zeros(b, 3), jaw_pose=aa[:, 2],
             leye_pose=aa[:, 3], reye_pose=aa[:, 4])
    torch.testing.assert_close(out0.landmarks[:, :17], o0.joints[:, 56:], atol=1e-5, rtol=0)


def test_global_rotation_about_root(assets):
    gen = torch.Generator().manual_seed(1)
    model = FlameModel.from_assets(assets, 20, 10)
    _, rm = _random(2, gen, 0.5)
    p = FlameParams(torch.randn(2, 20, generator=gen), torch.randn(2, 10, generator=gen), global_rot=rm[:, 0],
                    jaw_rot=rm[:, 2])
    local = model(p)
    posed = model(p, apply_global=True)
    root = local.joints[:, :1]
    expect = (local.vertices - root) @ rm[:, 0].transpose(1, 2) + root
    torch.testing.assert_close(posed.vertices, expect, atol=1e-5, rtol=0)
    # apply_global=False ignores global_rot for the vertices: identity gives the same mesh
    same = model(FlameParams(p.shape, p.expression, jaw_rot=rm[:, 2]))
    torch.testing.assert_close(same.vertices, local.vertices)


def test_zero_params_give_template_and_padding(assets):
    model = FlameModel.from_assets(assets, 30, 20)
    out = model(FlameParams(torch.zeros(1, 30), torch.zeros(1, 20)))
    torch.testing.assert_close(out.vertices[0], model.v_template)
    shape = torch.randn(1, 10)
    padded = model(FlameParams(torch.cat([shape, torch.zeros(1, 20)], 1), torch.zeros(1, 20)))
    short = model(FlameParams(shape, torch.zeros(1, 5)))
    torch.testing.assert_close(padded.vertices, short.vertices)
    with pytest.raises(InputError, match="shape"):
        model(FlameParams(torch.zeros(1, 31), torch.zeros(1, 20)))
    with pytest.raises(InputError, match="num_shape"):
        FlameModel.from_assets(assets, 301, 20)


def test_buffers_move_with_module(assets):
    model = FlameModel.from_assets(assets, 10, 10).to(torch.float64)
    assert model.v_template.dtype == torch.float64 and model.faces.dtype == torch.int64
    out = model(FlameParams(torch.zeros(1, 10), torch.zeros(1, 10)))
    assert out.vertices.dtype == torch.float64
    assert model.faces.shape == (assets.flame_data()["f"].shape[0], 3)


def test_contour_bins_analytic():
    def yaw(deg):
        t = torch.tensor(deg * torch.pi / 180)
        c, s = torch.cos(t), torch.sin(t)
        return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]])

    rots = torch.stack([yaw(d) for d in (0.0, 10.0, 39.0, 60.0, -10.0, -39.0, -60.0)])
    # smplx convention: angle = -yaw_deg, clamp to 39, negatives map to 39 - angle, below -39 -> 78
    assert contour_bins(rots, 79).tolist() == [0, 49, 78, 78, 10, 39, 39]
