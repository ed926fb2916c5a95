"""Shaded previews: analytic Lambert shading of a plane, framing by front_camera, white background."""

from __future__ import annotations

import math

import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.render.preview import front_camera, render_preview

FACES = torch.tensor([[0, 1, 2], [0, 2, 3]])


def _square(tilt: float = 0.0, dtype=torch.float64) -> torch.Tensor:
    """A 2 x 2 square in the z = 0 plane (normal +z, towards a front camera), turned by ``tilt`` about y."""
    v = torch.tensor([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]], dtype=dtype)
    c, s = math.cos(tilt), math.sin(tilt)
    R = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=dtype)
    return (v @ R.T)[None]


def test_a_facing_plane_shows_its_albedo_on_white():
    red = torch.tensor([[0.8, 0.2, 0.1]], dtype=torch.float64).expand(4, 3)
    img = render_preview(_square(), FACES, red, image_size=64, backend="torch")
    assert img.shape == (1, 3, 64, 64) and img.dtype == torch.float64
    # head light on a plane facing the camera: shade 0.25 + 0.75 * 1 = 1, so the pixel is the albedo
    torch.testing.assert_close(img[0, :, 32, 32], red[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(img[0, :, 0, 0], torch.ones(3, dtype=torch.float64), atol=0, rtol=0)
    # front_camera frames the square with a margin of 1.15: it covers (1 / 1.15)^2 of the image
    covered = (img[0] != 1.0).any(0).double().mean().item()
    assert covered == pytest.approx((1 / 1.15) ** 2, abs=0.03)


@pytest.mark.parametrize("tilt", [0.3, 0.7, 1.1])
def test_shade_follows_the_cosine_of_the_tilt(tilt):
    verts = _square(tilt)
    cam = front_camera(_square(0.0))  # the same camera for every tilt: on the axis, looking at the centre
    img = render_preview(verts, FACES, camera=cam, image_size=64, backend="torch")
    grey = 0.75 * (0.25 + 0.75 * math.cos(tilt))  # default albedo 0.75, Lambert with a head light
    # the shading uses the view-frame normal, the same on the whole plane: n_z = cos(tilt); pixels off
    # the diagonal shared by the two triangles
    for row, col in ((32, 29), (29, 33), (36, 31)):
        torch.testing.assert_close(img[0, :, row, col], torch.full((3,), grey, dtype=torch.float64), atol=1e-6, rtol=0)


def test_front_camera_side_looks_from_the_side():
    verts = _square()
    front, side = front_camera(verts), front_camera(verts, side=math.pi / 2)
    eye_front = -(front.R.transpose(1, 2) @ front.T[..., None])[..., 0]
    eye_side = -(side.R.transpose(1, 2) @ side.T[..., None])[..., 0]
    assert eye_front[0, 2].item() > 0 and abs(eye_front[0, 0].item()) < 1e-9
    assert eye_side[0, 0].item() > 0 and abs(eye_side[0, 2].item()) < 1e-6
    assert eye_side.norm().item() == pytest.approx(eye_front.norm().item(), rel=1e-9)
    # seen edge-on from the side, the plane covers almost nothing
    img = render_preview(verts, FACES, camera=side, image_size=64, backend="torch")
    assert (img[0] != 1.0).any(0).double().mean().item() < 0.05


def test_bad_vertices_are_named():
    with pytest.raises(InputError, match=r"verts: expected a tensor of shape \(B, N, 3\), found \(4, 3\)"):
        render_preview(_square()[0], FACES)
