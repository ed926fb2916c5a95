"""ROME training losses: analytic values, invariants and gradients."""

from __future__ import annotations

import math

import pytest
import torch
from rome_smplx.trainers import losses as L
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import uniform_laplacian
from rome_smplx.models.vgg import VGGFeatures


def _grid_faces(n: int) -> torch.Tensor:
    """Triangulated n x n vertex grid."""
    f = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            f += [[a, b, c], [b, d, c]]
    return torch.tensor(f)


# ------------------------------------------------------------------------------------ Dice
def test_dice_identical_is_zero_and_disjoint_is_one():
    m = torch.zeros(2, 1, 8, 8)
    m[:, :, 2:6, 2:6] = 1
    assert L.dice_loss(m, m).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.zeros_like(m)
    other[:, :, 6:, 6:] = 1
    assert L.dice_loss(m, other).item() == pytest.approx(1.0, abs=1e-6)
    # half overlap: p = 1 on 16 px, t = 1 on 8 of them -> 2*8 / (16 + 8) = 2/3
    half = torch.zeros_like(m)
    half[:, :, 2:4, 2:6] = 1
    assert L.dice_loss(m, half).item() == pytest.approx(1 - 2 * 8 / 24, abs=1e-6)


def test_dice_gradient_flows():
    p = torch.rand(1, 1, 6, 6, requires_grad=True)
    L.dice_loss(p, (torch.rand(1, 1, 6, 6) > 0.5).float()).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------ Chamfer
def test_chamfer_identical_is_zero_and_shift_is_analytic():
    g = torch.Generator().manual_seed(0)
    # points on a coarse lattice (spacing 0.2), shifted by 0.03: each point's nearest is its copy
    ij = torch.stack(torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij"), -1).view(-1, 2)
    x = (ij * 0.2 - 0.4)[None]
    x = x[:, torch.randperm(25, generator=g)]
    assert L.chamfer_2d(x, x).item() == pytest.approx(0.0, abs=1e-12)
    s = torch.tensor([0.03, -0.02])
    shifted = x + s
    # both directions: |s|^2 + |s|^2 (pytorch3d's sum of the two mean terms)
    assert L.chamfer_2d(x, shifted).item() == pytest.approx(2 * float(s.pow(2).sum()), rel=1e-5)
    # small chunks give the same answer
    assert L.chamfer_2d(x, shifted, chunk=3).item() == pytest.approx(2 * float(s.pow(2).sum()), rel=1e-5)


def test_chamfer_lengths_and_empty_sets():
    x = torch.tensor([[[0.0, 0.0], [5.0, 5.0]], [[1.0, 0.0], [0.0, 0.0]]])
    y = torch.tensor([[[0.0, 0.1], [9.0, 9.0]], [[1.0, 0.0], [0.0, 0.0]]])
    # element 0 with one valid point each: 0.01 + 0.01; element 1 has no y points: left out
    val = L.chamfer_2d(x, y, torch.tensor([1, 2]), torch.tensor([1, 0]))
    assert val.item() == pytest.approx(0.02, rel=1e-5)
    none = L.chamfer_2d(x, y, torch.tensor([0, 0]), torch.tensor([1, 1]))
    assert none.item() == 0.0


def test_chamfer_gradient_moves_points_towards_targets():
    x = torch.tensor([[[0.0, 0.0]]], requires_grad=True)
    y = torch.tensor([[[0.5, 0.0]]])
    L.chamfer_2d(x, y).backward()
    assert x.grad[0, 0, 0].item() == pytest.approx(-2.0, rel=1e-5)  # d/dx of 2 (x - 0.5)^2 at 0


def test_mask_points_lie_on_foreground_pixel_centres():
    m = torch.zeros(1, 1, 4, 4)
    m[0, 0, 1, 2] = 1  # row 1, column 2 -> x = -1 + 5/4, y = -1 + 3/4
    pts, n = L.mask_points(m, torch.tensor([10]), torch.Generator().manual_seed(0))
    assert n.tolist() == [1]
    assert pts[0, 0].tolist() == pytest.approx([0.25, -0.25])


# ------------------------------------------------------------------------------------ Laplacian
def test_laplacian_of_constant_offset_is_zero_and_bump_is_positive():
    faces = _grid_faces(5)
    lap = L.LaplacianLoss(faces, 25)
    const = torch.tensor([0.3, -0.1, 0.2]).expand(2, 25, 3).clone()
    assert lap(const).item() == pytest.approx(0.0, abs=1e-7)
    bump = torch.zeros(1, 25, 3)
    bump[0, 12, 2] = 1.0  # centre vertex (6 neighbours): |L v| = 1 there, 1/deg at each neighbour
    Ld = uniform_laplacian(faces, 25).to_dense()
    expected = (Ld @ bump[0]).norm(dim=-1).mean()
    assert lap(bump).item() == pytest.approx(float(expected), rel=1e-6)
    assert lap(bump).item() > 0


# ------------------------------------------------------------------------------------ hinge / FM
def test_hinge_values_at_known_logits():
    real = torch.tensor([2.0, 0.5, -1.0]).view(1, 1, 1, 3)
    fake = torch.tensor([-2.0, 0.0, 1.0]).view(1, 1, 1, 3)
    # D: mean(relu(1 - real)) = (0 + 0.5 + 2) / 3 ; mean(relu(1 + fake)) = (0 + 1 + 2) / 3
    assert L.hinge_discriminator_loss(real, fake).item() == pytest.approx(2.5 / 3 + 3 / 3)
    assert L.hinge_generator_loss(fake).item() == pytest.approx(1.0 / 3)


def test_hinge_two_scales_average():
    f1 = torch.full((1, 1, 2, 2), 3.0)
    f2 = torch.full((1, 1, 1, 1), -1.0)
    assert L.hinge_generator_loss([[f1], [f2]]).item() == pytest.approx((-3.0 + 1.0) / 2)


def test_feature_matching_analytic_and_detached_real():
    real = [[[torch.zeros(1, 2, 4, 4)], [torch.ones(1, 3, 2, 2)]]]
    fake_a = torch.full((1, 2, 4, 4), 0.5, requires_grad=True)
    fake_b = torch.full((1, 3, 2, 2), 3.0, requires_grad=True)
    val = L.feature_matching_loss(real, [[[fake_a], [fake_b]]])
    assert val.item() == pytest.approx((0.5 + 2.0) / 2)
    val.backward()
    assert fake_a.grad.abs().sum() > 0 and fake_b.grad.abs().sum() > 0
    assert L.feature_matching_loss(real, real).item() == 0.0


# ------------------------------------------------------------------------------------ perceptual
@pytest.fixture(scope="module")
def vgg19():
    torch.manual_seed(3)
    return VGGFeatures("vgg19").eval().requires_grad_(False)


def test_perceptual_zero_for_identical_positive_otherwise(vgg19):
    loss = L.PerceptualLoss(features=vgg19)
    a = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert loss(a, a.clone()).item() == 0.0
    b = (a + 0.2 * torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    pred = b.clone().requires_grad_(True)
    val = loss(pred, a)
    assert val.item() > 0
    val.backward()
    assert pred.grad.abs().sum() > 0
    # the weights are 1/32 .. 1: the value equals the hand-weighted sum of per-layer L1s
    fa, fb = vgg19(a), vgg19(b)
    manual = sum(w * (x - y).abs().mean() for w, x, y in zip(L.LAYER_WEIGHTS, fb, fa))
    assert val.item() == pytest.approx(float(manual), rel=1e-5)


def test_perceptual_random_init_warns(caplog):
    with caplog.at_level("WARNING"):
        L.PerceptualLoss()
    assert "randomly initialised" in caplog.text


def test_perceptual_loads_weights_from_file(tmp_path, vgg19):
    path = tmp_path / "vgg19.pth"
    torch.save(vgg19.state_dict(), path)
    loaded = L.PerceptualLoss(path)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert loaded(a, b).item() == pytest.approx(L.PerceptualLoss(features=vgg19)(a, b).item(), rel=1e-6)


# ------------------------------------------------------------------------------------ gaze
def test_eye_masks_cover_the_eye_polygons():
    kp = torch.zeros(1, 68, 2)
    angles = torch.linspace(0, 2 * math.pi, 7)[:-1]
    ring = torch.stack([0.15 * torch.cos(angles), 0.08 * torch.sin(angles)], -1)
    kp[0, 36:42] = ring + torch.tensor([-0.4, -0.2])
    kp[0, 42:48] = ring + torch.tensor([0.4, -0.2])
    m = L.eye_masks_from_keypoints(kp, (64, 64), dilate=1)
    # pixel at the left eye centre (x=-0.4 -> col 19, y=-0.2 -> row 25) is inside; the image centre is not
    assert m[0, 0, 25, 19] == 1 and m[0, 0, 32, 32] == 0
    assert m[0, 0, 25, 44] == 1
    dil = L.eye_masks_from_keypoints(kp, (64, 64), dilate=5)
    assert dil.sum() > m.sum()


def test_gaze_gradients_only_inside_eye_mask():
    torch.manual_seed(0)
    vgg16 = VGGFeatures("vgg16", L.GAZE_LAYERS).eval().requires_grad_(False)
    loss = L.GazeLoss(features=vgg16, size=None)
    pred = torch.rand(1, 3, 32, 32, requires_grad=True)
    target = torch.rand(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    val = loss(pred, target, mask)
    val.backward()
    assert val.item() > 0
    assert pred.grad[..., 8:16, 8:16].abs().sum() > 0
    outside = pred.grad.clone()
    outside[..., 8:16, 8:16] = 0
    assert outside.abs().sum() == 0
    assert loss(target, target, mask).item() == 0.0


# ------------------------------------------------------------------------------------ identity
class _Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def test_identity_loss_is_one_minus_cosine():
    torch.manual_seed(0)
    e = _Embed()
    loss = L.IdentityLoss(e, size=None)
    a, b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    expected = (1 - torch.cosine_similarity(e(b), e(a), dim=1)).mean()
    pred = b.clone().requires_grad_(True)
    val = loss(pred, a)
    assert val.item() == pytest.approx(float(expected), rel=1e-5)
    val.backward()
    assert pred.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in e.parameters())
    with pytest.raises(InputError, match="embedding network or a weights_path"):
        L.IdentityLoss()


# ------------------------------------------------------------------------------------ silhouettes
def test_detach_where_blocks_selected_gradients_only():
    v = torch.rand(2, 5, 3, requires_grad=True)
    sel = torch.tensor([True, False, True, False, False])
    out = L.detach_where(v, sel)
    assert torch.equal(out, v)
    out.sum().backward()
    assert v.grad[:, sel].abs().sum() == 0 and torch.all(v.grad[:, ~sel] == 1)


def test_silhouette_mse_value_and_batch_mask():
    p = torch.zeros(2, 1, 4, 4)
    t = torch.ones(2, 1, 4, 4)
    t[1] = 0
    assert L.silhouette_mse(p, t).item() == pytest.approx(0.5 * 0.5)
    assert L.silhouette_mse(p, t, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.5)
    assert L.silhouette_mse(p, t, torch.tensor([0.0, 0.0])).item() == 0.0


# ------------------------------------------------------------------------------------ keypoints
def test_keypoint_weights_and_loss():
    w = L.keypoint_weights()
    assert w.shape == (68,)
    assert w[30] == 3 and w[48] == 3 and w[54] == 3 and w[5] == 2 and w[27] == 1.5 and w[0] == 1
    pred = torch.zeros(2, 68, 2)
    target = torch.zeros(2, 68, 2)
    target[:, :, 0] = 0.2  # |dx| = 0.2, |dy| = 0 -> mean over xy 0.1 at every point
    assert L.keypoint_loss(pred, target).item() == pytest.approx(0.1, rel=1e-6)
    target[1] = 5.0
    assert L.KeypointLoss()(pred, target, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.1, rel=1e-6)
    one = torch.zeros(1, 68, 2)
    one[0, 30, 1] = 1.0  # only the nose tip (weight 3) is off by 1 in y
    assert L.keypoint_loss(torch.zeros(1, 68, 2), one).item() == pytest.approx(0.5 * 3 / float(w.sum()), rel=1e-6)


def test_bad_shapes_raise_input_errors():
    with pytest.raises(InputError, match=r"perceptual_loss: target: .*with B=1, H=8, W=8, found \(1, 3, 4, 4\)"):
        L.PerceptualLoss(features=nn.Identity())(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 4, 4))
    with pytest.raises(InputError, match=r"\(B, P, D\)"):
        L.chamfer_2d(torch.rand(4, 2), torch.rand(1, 4, 2))
    with pytest.raises(InputError, match="select"):
        L.detach_where(torch.rand(1, 4, 3), torch.ones(3, dtype=torch.bool))


def test_chamfer_2d_is_the_metric_chamfer_with_lengths():
    """The loss is metrics.chamfer_distance (squared) on the valid points, averaged over the batch;
    values and gradients match a brute-force reference."""
    from rome_smplx.metrics.geometry import chamfer_distance

    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 40, 2, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(3, 30, 2, generator=g, dtype=torch.float64)
    xl, yl = torch.tensor([40, 7, 0]), torch.tensor([30, 12, 5])
    val = L.chamfer_2d(x, y, xl, yl, chunk=8)
    (gx,) = torch.autograd.grad(val, x)
    terms = []
    for b in range(2):  # element 2 has no x points: left out
        xb, yb = x[b, : xl[b]], y[b, : yl[b]]
        d = ((xb[:, None] - yb[None]) ** 2).sum(-1)
        terms.append(d.min(1).values.mean() + d.min(0).values.mean())
    ref = torch.stack(terms).mean()
    (gref,) = torch.autograd.grad(ref, x)
    assert val.item() == pytest.approx(ref.item(), rel=1e-12)
    torch.testing.assert_close(gx, gref, rtol=1e-10, atol=1e-12)
    assert float(gx[2].abs().max()) == 0.0 and float(gx[1, 7:].abs().max()) == 0.0
    metric = chamfer_distance(x[:1].detach(), y[:1])
    assert L.chamfer_2d(x[:1].detach(), y[:1]).item() == pytest.approx(metric.item(), rel=1e-12)


def test_image_losses_check_their_inputs_by_shape():
    """Perceptual, gaze and identity losses name the argument and the shape they expected."""
    from rome_smplx.errors import ShapeError

    ident = lambda x: [x]  # noqa: E731  (a one-layer 'feature network')
    img = torch.rand(2, 3, 8, 8)
    with pytest.raises(ShapeError, match=r"perceptual_loss: pred: expected a .*\(B, 3, H, W\).*found \(2, 4, 8, 8\)"):
        L.perceptual_loss(ident, torch.rand(2, 4, 8, 8), img, [1.0])
    with pytest.raises(ShapeError, match=r"identity_loss: target: .*B=2, H=8, W=8, found \(2, 3, 8, 9\)"):
        L.identity_loss(lambda x: x.flatten(1), img, torch.rand(2, 3, 8, 9))
    with pytest.raises(ShapeError, match=r"gaze_loss: eye_mask: .*\(B, 1, H, W\).*found \(1, 1, 8, 8\)"):
        L.gaze_loss(ident, img, img, torch.ones(1, 1, 8, 8), size=None)
    # the checks pass what they should: equal images give zero losses
    assert float(L.perceptual_loss(ident, img, img, [1.0])) == 0.0
    assert float(L.identity_loss(lambda x: x.flatten(1), img, img)) == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------------------------------ 3D offsets
def test_offset_distance_is_the_mean_length_in_cm_over_the_selected_vertices():
    pred = torch.zeros(2, 5, 3, requires_grad=True)
    truth = torch.zeros(5, 3)
    truth[:, 0] = torch.tensor([0.01, 0.02, 0.03, 0.04, 0.05])  # 1..5 cm along x
    select = torch.tensor([True, False, True, False, True])
    d = L.offset_distance_cm(pred, truth, select)
    assert float(d) == pytest.approx((1 + 3 + 5) / 3, rel=1e-6)
    d.backward()
    # the gradient points from the truth to the prediction, only on the selected vertices
    g = pred.grad[0]
    assert (g[select, 0] < 0).all() and float(g[~select].abs().sum()) == 0.0
    # equal offsets: 0 up to the 1 micrometre that keeps the gradient finite
    assert float(L.offset_distance_cm(truth[None].expand(2, -1, -1), truth, select)) == pytest.approx(0.0, abs=1.1e-4)
    with pytest.raises(InputError, match="truth"):
        L.offset_distance_cm(pred, torch.zeros(4, 3), select)
