"""SmplxModel (SMPLXLayer, rotation matrices) against smplx.create (axis-angle), explicit counts."""

from __future__ import annotations

import pytest
import torch
from smplx.lbs import batch_rodrigues

from rome_smplx.assets import Assets
from rome_smplx.errors import InputError
from rome_smplx.models.smplx_body import SmplxModel
from rome_smplx.types import SmplxParams


@pytest.fixture(scope="module")
def assets(synthetic_dir_small, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ROME_SMPLX_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield Assets.from_dir(synthetic_dir_small)
    mp.undo()


def test_both_smplx_code_paths_agree(assets):
    gen = torch.Generator().manual_seed(0)
    b = 3
    model = SmplxModel.from_assets(assets, num_betas=200, num_expression_coeffs=50)
    ref = assets.smplx_model(num_betas=200, num_expression_coeffs=50, batch_size=b)
    assert model.layer.num_betas == 200 and model.layer.num_expression_coeffs == 50
    assert ref.num_betas == 200 and ref.num_expression_coeffs == 50
    aa = torch.randn(b, 55, 3, generator=gen) * 0.3
    rm = batch_rodrigues(aa.reshape(-1, 3)).reshape(b, 55, 3, 3)
    betas, expr, transl = (torch.randn(b, 200, generator=gen), torch.randn(b, 50, generator=gen),
                           torch.randn(b, 3, generator=gen))
    p = SmplxParams(betas, expr, global_orient=rm[:, 0], body_pose=rm[:, 1:22], jaw_pose=rm[:, 22],
                    leye_pose=rm[:, 23], reye_pose=rm[:, 24], left_hand_pose=rm[:, 25:40],
                    right_hand_pose=rm[:, 40:55], transl=transl)
    out = model(p)
    o = ref(betas=betas, expression=expr, global_orient=aa[:, 0], body_pose=aa[:, 1:22].reshape(b, -1),
            jaw_pose=aa[:, 22], leye_pose=aa[:, 23], reye_pose=aa[:, 24],
            left_hand_pose=aa[:, 25:40].reshape(b, -1), right_hand_pose=aa[:, 40:55].reshape(b, -1), transl=transl)
    v = assets.num_smplx_vertices
    assert out.vertices.shape == (b, v, 3)
    torch.testing.assert_close(out.vertices, o.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints, o.joints, atol=1e-5, rtol=0)
    # the pose actually matters (a test that cannot pass trivially)
    rest = model(SmplxParams(betas, expr, transl=transl))
    assert (rest.vertices - out.vertices).abs().max() > 1e-3


def test_shape_and_expression_blend_linearly(assets):
    model = SmplxModel.from_assets(assets, num_betas=16, num_expression_coeffs=8)
    data = assets.smplx_data()
    zero = model(SmplxParams(torch.zeros(1, 16), torch.zeros(1, 8)))
    torch.testing.assert_close(zero.vertices[0], torch.from_numpy(data["v_template"]), atol=1e-5, rtol=0)
    e = torch.zeros(1, 8)
    e[0, 2] = 1.0
    one = model(SmplxParams(torch.zeros(1, 16), e))
    import smplx

    expr_dir = torch.from_numpy(data["shapedirs"][:, :, smplx.SMPLX.SHAPE_SPACE_DIM + 2])  # smplx split
    torch.testing.assert_close(one.vertices[0] - zero.vertices[0], expr_dir, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="betas"):
        model(SmplxParams(torch.zeros(1, 17), torch.zeros(1, 8)))


def test_counts_validated(assets):
    with pytest.raises(InputError, match="num_betas"):
        assets.smplx_layer(num_betas=301, num_expression_coeffs=50)
    with pytest.raises(InputError, match="num_expression_coeffs"):
        assets.smplx_model(num_betas=10, num_expression_coeffs=0)
