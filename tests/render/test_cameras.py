"""Cameras: weak-perspective conventions (DECA, PIXIE, ROME), frame flips, pixel maps, perspective."""

from __future__ import annotations

import math

import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.render.cameras import (
    ROME_DEPTH_SHIFT,
    PerspectiveCamera,
    deca_project,
    flip_frame_camera,
    flip_frame_points,
    flip_frame_rotation,
    ndc_to_pixels,
    ndc_to_pytorch3d,
    pixel_centers_ndc,
    pixels_to_ndc,
    pixie_project,
    rome_project,
    rome_project_for_raster,
    rotate_about_joint,
)


def _random_rotations(n: int, generator: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    det = torch.linalg.det(q)
    q[:, :, 0] *= det[:, None]
    return q


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(3)
    v = torch.randn(2, 50, 3, generator=g, dtype=torch.float64)
    cam = torch.tensor([[4.0, 0.1, -0.2], [7.5, -0.05, 0.3]], dtype=torch.float64)
    R = _random_rotations(2, g)
    j = torch.randn(2, 3, generator=g, dtype=torch.float64)
    return v, cam, R, j


def test_deca_projection_matches_formula():
    v = torch.tensor([[[1.0, 2.0, 3.0], [-0.5, 0.25, -1.0]]], dtype=torch.float64)
    cam = torch.tensor([[2.0, 0.5, -1.0]], dtype=torch.float64)
    out = deca_project(v, cam)
    expected = torch.tensor([[[3.0, -2.0, -6.0], [0.0, 1.5, 2.0]]], dtype=torch.float64)
    torch.testing.assert_close(out, expected)
    # PIXIE's projection is the same without the y/z flip
    torch.testing.assert_close(
        pixie_project(v, cam), expected * torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    )


def test_pixie_of_flipped_frame_equals_deca(data):
    v, cam, _, _ = data
    a = deca_project(v, cam)
    b = pixie_project(flip_frame_points(v), flip_frame_camera(cam))
    torch.testing.assert_close(a, b)
    # and back: DECA of the y-up version of a PIXIE-frame mesh equals PIXIE's projection
    w = flip_frame_points(v)
    torch.testing.assert_close(
        pixie_project(w, cam), deca_project(flip_frame_points(w), flip_frame_camera(cam))
    )


def test_frame_flips_are_involutions(data):
    v, cam, R, _ = data
    torch.testing.assert_close(flip_frame_points(flip_frame_points(v)), v)
    torch.testing.assert_close(flip_frame_camera(flip_frame_camera(cam)), cam)
    torch.testing.assert_close(flip_frame_rotation(flip_frame_rotation(R)), R)
    Rf = flip_frame_rotation(R)
    torch.testing.assert_close(torch.linalg.det(Rf), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(Rf @ Rf.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(2, 3, 3))


def test_global_rotation_converts_between_frames(data):
    v, cam, R, _ = data
    # a canonical body rotated by R in the y-up frame is rotated by D R in the y-down frame
    up = deca_project(v @ R.transpose(-1, -2), cam)
    down = pixie_project(v @ flip_frame_rotation(R).transpose(-1, -2), flip_frame_camera(cam))
    torch.testing.assert_close(up, down)


def test_rome_projection_for_raster_shifts_depth_only(data):
    v, cam, R, j = data
    plain, shifted = rome_project(v, cam, j, R), rome_project_for_raster(v, cam, j, R)
    torch.testing.assert_close(shifted[..., :2], plain[..., :2])
    torch.testing.assert_close(shifted[..., 2] - plain[..., 2], torch.full_like(plain[..., 2], 10.0))
    assert ROME_DEPTH_SHIFT == 10.0


def test_rome_projection_rotates_about_root(data):
    v, cam, R, j = data
    out = rome_project(v, cam, j, R)
    manual = torch.einsum("bij,bnj->bni", R, v - j[:, None]) + j[:, None]
    torch.testing.assert_close(out, deca_project(manual, cam))
    # the root joint itself does not move
    torch.testing.assert_close(rome_project(j[:, None], cam, j, R), deca_project(j[:, None], cam))
    # identity rotation: plain DECA projection
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    torch.testing.assert_close(rome_project(v, cam, j, eye), deca_project(v, cam))
    # translation is added after the rotation: the projected centroid shift does not rotate with R
    shifted = rome_project(v + 0.0, cam + torch.tensor([0.0, 0.1, 0.0], dtype=torch.float64), j, R)
    diff = shifted - out
    torch.testing.assert_close(diff[..., 0], cam[:, None, 0].expand(-1, v.shape[1]) * 0.1)
    torch.testing.assert_close(diff[..., 1:], torch.zeros_like(diff[..., 1:]))


def test_rome_projection_in_y_down_frame(data):
    v, cam, R, j = data
    # the same rotated mesh expressed in PIXIE's frame projects identically
    rotated = rotate_about_joint(v, j, R)
    torch.testing.assert_close(
        rome_project(v, cam, j, R), pixie_project(flip_frame_points(rotated), flip_frame_camera(cam))
    )


def test_pixel_maps_round_trip_and_centres():
    H, W = 6, 10
    c = pixel_centers_ndc(H, W, dtype=torch.float64)
    px = ndc_to_pixels(c, H, W)
    jj, ii = torch.meshgrid(torch.arange(W), torch.arange(H), indexing="xy")
    torch.testing.assert_close(px[..., 0], jj.double() + 0.5)
    torch.testing.assert_close(px[..., 1], ii.double() + 0.5)
    torch.testing.assert_close(pixels_to_ndc(px, H, W), c)
    # image corners
    corners = torch.tensor([[-1.0, -1.0, 0.3], [1.0, 1.0, 0.7]], dtype=torch.float64)
    torch.testing.assert_close(
        ndc_to_pixels(corners, H, W), torch.tensor([[0.0, 0.0, 0.3], [10.0, 6.0, 0.7]], dtype=torch.float64)
    )


def test_ndc_to_pytorch3d_matches_its_pixel_centres():
    # pytorch3d's pixel centre of output column j (its +x points left) for W > H:
    # x' = range/2 - (range * j + range/2) / W with range = 2 W / H
    H, W = 4, 8
    c = pixel_centers_ndc(H, W, dtype=torch.float64)
    p = ndc_to_pytorch3d(torch.cat([c, torch.ones(H, W, 1, dtype=torch.float64)], -1), H, W)
    rng_x, rng_y = 2.0 * W / H, 2.0
    j = torch.arange(W, dtype=torch.float64)
    i = torch.arange(H, dtype=torch.float64)
    torch.testing.assert_close(p[0, :, 0], rng_x / 2 - (rng_x * j + rng_x / 2) / W)
    torch.testing.assert_close(p[:, 0, 1], rng_y / 2 - (rng_y * i + rng_y / 2) / H)


def test_perspective_camera_analytic():
    cam = PerspectiveCamera.look_at(
        torch.tensor([0.0, 0.0, 5.0]),
        torch.tensor([0.0, 0.0, 0.0]),
        torch.tensor([0.0, 1.0, 0.0]),
        fov_y=60.0,
    )
    half = math.tan(math.radians(30.0))
    pts = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 2.0 * half, 3.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    out = cam.project(pts, (100, 200))
    # on the axis: centre, depth = distance
    torch.testing.assert_close(out[0, 0], torch.tensor([0.0, 0.0, 5.0]))
    # a point at the top of the vertical field of view (world up) maps to y = -1 (image top)
    torch.testing.assert_close(out[0, 1, 1], torch.tensor(-1.0))
    torch.testing.assert_close(out[0, 1, 2], torch.tensor(2.0))
    # looking down -z with y up, world +x is image right; horizontal scale uses the aspect ratio
    torch.testing.assert_close(out[0, 2, 0], torch.tensor(1.0 / (5.0 * half) * 100 / 200))
    assert out[0, 3, 2] < out[0, 0, 2]


@pytest.mark.pytorch3d
def test_perspective_camera_matches_pytorch3d():
    from pytorch3d.renderer import FoVPerspectiveCameras, look_at_view_transform

    g = torch.Generator().manual_seed(0)
    eye = torch.tensor([[0.5, 0.3, 3.0], [-1.0, 0.5, 2.5]])
    at = torch.tensor([[0.0, 0.1, 0.0], [0.2, 0.0, 0.1]])
    up = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    pts = torch.randn(2, 40, 3, generator=g) * 0.5
    ours = PerspectiveCamera.look_at(eye, at, up, fov_y=45.0).project(pts, (64, 64))
    R, T = look_at_view_transform(eye=eye, at=at, up=up)
    ref = FoVPerspectiveCameras(fov=45.0, R=R, T=T).transform_points(pts)
    # pytorch3d's NDC has +x left and +y up
    torch.testing.assert_close(ours[..., 0], -ref[..., 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours[..., 1], -ref[..., 1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        ours[..., 2],
        FoVPerspectiveCameras(R=R, T=T).get_world_to_view_transform().transform_points(pts)[..., 2],
        atol=1e-5,
        rtol=1e-5,
    )


def test_bad_inputs_raise_input_error():
    v = torch.zeros(2, 5, 3)
    with pytest.raises(InputError, match=r"cam: expected a tensor of shape \(1\|B, 3\) with B=2, found \(2, 4\)"):
        deca_project(v, torch.zeros(2, 4))
    with pytest.raises(InputError, match="v: expected a tensor of shape"):
        pixie_project(torch.zeros(5, 3), torch.zeros(1, 3))
    with pytest.raises(InputError, match=r"cam: .* with B=2, found \(3, 3\)"):
        deca_project(v, torch.zeros(3, 3))
    with pytest.raises(InputError, match="global_rot"):
        rome_project(v, torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(InputError, match="image_size"):
        ndc_to_pixels(torch.zeros(3, 2), 0, 4)
    with pytest.raises(InputError, match="parallel"):
        PerspectiveCamera.look_at(torch.tensor([0.0, 2.0, 0.0]), torch.zeros(3))
