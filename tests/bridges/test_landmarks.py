"""Face alignment (analytic), mediapipe landmarks / matting (with the extra), and the 68-point table."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from rome_smplx.bridges import landmarks as L

from rome_smplx.errors import BackendError, InputError


def _frontal_landmarks(e: float = 60.0, m: float = 70.0, centre=(0.0, 0.0), seed: int = 0) -> torch.Tensor:
    """A symmetric synthetic 68-point face: eye centres at (+-e/2, 0), mouth centre at (0, m).

    The other points are random (the alignment reads only eyes and mouth corners).
    """
    g = torch.Generator().manual_seed(seed)
    lm = 40.0 * torch.randn(68, 2, generator=g, dtype=torch.float64)
    ring = torch.tensor([[-12.0, 0], [-6, -4], [6, -4], [12, 0], [6, 4], [-6, 4]], dtype=torch.float64)
    lm[36:42] = ring + torch.tensor([-e / 2, 0.0], dtype=torch.float64)
    lm[42:48] = ring.flip(0) * torch.tensor([-1.0, 1.0], dtype=torch.float64) + torch.tensor([e / 2, 0.0], dtype=torch.float64)
    lm[48] = torch.tensor([-25.0, m], dtype=torch.float64)
    lm[54] = torch.tensor([25.0, m], dtype=torch.float64)
    return lm + torch.tensor(centre, dtype=torch.float64)


def _similarity(lm: torch.Tensor, angle: float, scale: float, shift) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    R = torch.tensor([[c, -s], [s, c]], dtype=lm.dtype)
    return scale * lm @ R.T + torch.tensor(shift, dtype=lm.dtype)


def _rome_theta_reference(lm: np.ndarray, size: int, zoom: float) -> np.ndarray:
    """ROME's recipe written independently in numpy: the quad, then a least-squares similarity
    from the normalised quad to the square [[-1,-1],[-1,1],[1,1],[1,-1]], inverted, times the zoom."""
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg, eye_to_eye = (eye_l + eye_r) / 2, eye_r - eye_l
    mouth = (lm[48] + lm[54]) / 2
    eye_to_mouth = mouth - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y]) / size * 2 - 1
    gt = np.array([[-1, -1], [-1, 1], [1, 1], [1, -1]], float)
    # similarity u' = a u - b v + tx, v' = b u + a v + ty
    rows, rhs = [], []
    for (u, v), (u2, v2) in zip(quad, gt):
        rows += [[u, -v, 1, 0], [v, u, 0, 1]]
        rhs += [u2, v2]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    inv_theta = np.array([[a, -b, tx], [b, a, ty], [0, 0, 1]])
    theta = np.linalg.inv(inv_theta) @ np.diag([zoom, zoom, 1.0])
    return theta[:2]


def test_frontal_face_lands_at_analytic_positions():
    e, m, zoom, S = 60.0, 70.0, 1.25, 256
    lm = _frontal_landmarks(e, m, centre=(300.0, 200.0))[None]
    a = L.align(torch.zeros(1, 3, 480, 640, dtype=torch.float64), None, lm, output_size=S, zoom=zoom)
    s = max(2 * e, 1.8 * m)  # half side of the FFHQ square in input pixels
    eye_l = a.landmarks_ndc[0, 36:42].mean(0)
    eye_r = a.landmarks_ndc[0, 42:48].mean(0)
    want_y = -0.1 * m / (zoom * s)
    torch.testing.assert_close(eye_l, torch.tensor([-e / 2 / (zoom * s), want_y], dtype=torch.float64))
    torch.testing.assert_close(eye_r, torch.tensor([e / 2 / (zoom * s), want_y], dtype=torch.float64))
    mouth = 0.5 * (a.landmarks_ndc[0, 48] + a.landmarks_ndc[0, 54])
    torch.testing.assert_close(mouth, torch.tensor([0.0, 0.9 * m / (zoom * s)], dtype=torch.float64))
    torch.testing.assert_close(a.landmarks, (a.landmarks_ndc + 1) * S / 2)
    # The quad corners map to the square shrunk by the zoom.
    c, x, y = L.ffhq_quad(lm)
    torch.testing.assert_close(c[0], torch.tensor([300.0, 200 + 0.1 * m], dtype=torch.float64))
    corners = torch.stack([c - x - y, c - x + y, c + x + y, c + x - y], 1)
    _, ndc = L.aligned_landmarks(corners, a.theta, (480, 640), S)
    torch.testing.assert_close(ndc[0], torch.tensor([[-1, -1], [-1, 1], [1, 1], [1, -1]], dtype=torch.float64) / zoom)


@pytest.mark.parametrize("angle,scale,shift", [(0.4, 1.7, (50.0, -20.0)), (-1.1, 0.6, (300.0, 410.0)), (math.pi, 1.0, (0.0, 0.0))])
def test_alignment_is_similarity_invariant(angle, scale, shift):
    base = _frontal_landmarks(seed=1, centre=(10.0, -5.0))
    # Break the symmetry so x is not parallel to eye_to_eye.
    base[42:48] += torch.tensor([0.0, 6.0], dtype=torch.float64)
    moved = _similarity(base, angle, scale, shift)
    ref = L.align(torch.zeros(1, 3, 64, 64, dtype=torch.float64), None, base[None])
    out = L.align(torch.zeros(1, 3, 64, 96, dtype=torch.float64), None, moved[None])
    # Same face in a moved/rotated/scaled photo: identical aligned landmarks.
    torch.testing.assert_close(out.landmarks, ref.landmarks, atol=1e-9, rtol=0)
    # theta's inverse maps back: crop ndc -> input ndc reproduces the input landmarks.
    size = torch.tensor([96.0, 64.0], dtype=torch.float64)
    back = out.landmarks_ndc @ out.theta[..., :2].transpose(1, 2) + out.theta[..., 2][:, None]
    torch.testing.assert_close((back + 1) * size / 2, moved[None], atol=1e-9, rtol=0)


def test_theta_matches_rome_recipe():
    g = torch.Generator().manual_seed(3)
    lm = _similarity(_frontal_landmarks(seed=2), 0.3, 1.3, (250.0, 260.0))
    lm = lm + 3.0 * torch.randn(68, 2, generator=g, dtype=torch.float64)
    theta = L.ffhq_alignment(lm[None], 512, 256, 1.25)[0]
    np.testing.assert_allclose(theta.numpy(), _rome_theta_reference(lm.numpy(), 512, 1.25), atol=1e-9)


def test_grid_sample_puts_image_features_at_aligned_landmarks():
    # Draw Gaussian blobs at the eye centres and mouth of a rotated face in a non-square image;
    # after alignment the blob centroids must sit where the aligned landmarks say.
    h, w = 300, 420
    lm = _similarity(_frontal_landmarks(e=50, m=60, seed=4), 0.5, 1.0, (200.0, 140.0))
    centres = torch.stack([lm[36:42].mean(0), lm[42:48].mean(0), 0.5 * (lm[48] + lm[54])])
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5, indexing="ij")
    img = torch.zeros(1, 3, h, w, dtype=torch.float64)
    for k, (cx, cy) in enumerate(centres.tolist()):
        img[0, k] = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0**2))
    mask = torch.ones(1, 1, h, w, dtype=torch.float64)
    a = L.align(img, mask, lm[None], output_size=256)
    want = torch.stack([a.landmarks[0, 36:42].mean(0), a.landmarks[0, 42:48].mean(0),
                        0.5 * (a.landmarks[0, 48] + a.landmarks[0, 54])])
    ys, xs = torch.meshgrid(torch.arange(256, dtype=torch.float64) + 0.5, torch.arange(256, dtype=torch.float64) + 0.5, indexing="ij")
    for k in range(3):
        wgt = a.image[0, k]
        got = torch.stack([(wgt * xs).sum() / wgt.sum(), (wgt * ys).sum() / wgt.sum()])
        assert (got - want[k]).norm() < 0.3, (k, got, want[k])
    # Eyes level and left of right, mouth below: the crop is upright.
    assert abs(want[0, 1] - want[1, 1]) < 1e-6 and want[0, 0] < want[1, 0] and want[2, 1] > want[0, 1]
    # The mask covers the crop where the image does (the face is well inside the photo).
    assert a.mask.shape == (1, 1, 256, 256) and float(a.mask[0, 0, 128, 128]) == pytest.approx(1.0)


def test_alignment_is_differentiable_and_batched():
    lm = torch.stack([_frontal_landmarks(seed=5, centre=(100.0, 100.0)), _frontal_landmarks(seed=6, centre=(120.0, 90.0))])
    img = torch.rand(2, 3, 200, 200, dtype=torch.float64, requires_grad=True)
    a = L.align(img, None, lm, output_size=32)
    assert a.image.shape == (2, 3, 32, 32) and a.mask is None
    a.image.sum().backward()
    assert img.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(InputError, match=r"\(B, 68, 2\)"):
        L.ffhq_alignment(torch.zeros(1, 5, 2), 256)
    with pytest.raises(InputError, match="coincide"):
        L.ffhq_alignment(torch.zeros(1, 68, 2), 256)
    lm = _frontal_landmarks()[None].float()
    with pytest.raises(InputError, match="mask"):
        L.align(torch.zeros(1, 3, 10, 10), torch.zeros(1, 1, 5, 5), lm)
    with pytest.raises(InputError, match="batch size"):
        L.align(torch.zeros(2, 3, 10, 10), None, lm)


def test_missing_mediapipe_raises_backend_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail
    with pytest.raises(BackendError, match=r"rome-smplx\[landmarks\]"):
        L.MediapipeDetector()
    with pytest.raises(BackendError, match="mediapipe"):
        L.matte(torch.zeros(1, 3, 8, 8))


def test_matte_with_given_mask(tmp_path):
    from rome_smplx.io.images import save_image

    img = torch.rand(2, 3, 16, 16)
    m = torch.zeros(1, 1, 8, 8)
    m[..., 2:6, 2:6] = 1
    out = L.matte(img, m)
    assert out.shape == (2, 1, 16, 16)
    assert out[0, 0, 8, 8] == 1 and out[1, 0, 0, 0] == 0
    save_image(tmp_path / "m.png", m)
    torch.testing.assert_close(L.matte(img, tmp_path / "m.png"), out)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        L.matte(img, 2 * m)
    with pytest.raises(InputError, match="expected shape"):
        L.matte(img, torch.zeros(3, 1, 16, 16))


def test_table_is_a_valid_68_point_scheme():
    t = L.MEDIAPIPE_TO_IBUG68
    assert len(t) == 68 and len(set(t)) == 68 and all(0 <= i < 468 for i in t)
    assert sum(b - a for a, b in L.IBUG68_GROUPS.values()) == 68


# ----------------------------------------------------------------------------------------------
# with mediapipe
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    from rome_smplx.io.images import to_tensor

    return to_tensor(data.astronaut())


@pytest.fixture(scope="module")
def detector():
    det = L.MediapipeDetector()
    yield det
    det.close()


@pytest.mark.mediapipe
def test_table_follows_mediapipe_contours():
    from mediapipe.python.solutions import face_mesh_connections as c

    def verts(s):
        return {i for e in s for i in e}

    t = L.MEDIAPIPE_TO_IBUG68
    groups = {
        "jaw": c.FACEMESH_FACE_OVAL, "brow_left": c.FACEMESH_RIGHT_EYEBROW, "brow_right": c.FACEMESH_LEFT_EYEBROW,
        "nose_bridge": c.FACEMESH_NOSE, "nostrils": c.FACEMESH_NOSE, "eye_left": c.FACEMESH_RIGHT_EYE,
        "eye_right": c.FACEMESH_LEFT_EYE, "mouth_outer": c.FACEMESH_LIPS, "mouth_inner": c.FACEMESH_LIPS,
    }
    for name, (a, b) in L.IBUG68_GROUPS.items():
        assert set(t[a:b]) <= verts(groups[name]), name


@pytest.mark.mediapipe
def test_astronaut_detection_and_alignment(astronaut, detector):
    lm = detector(astronaut)
    assert lm.shape == (1, 68, 2)
    zoom, S = 1.25, 256
    a = L.align(astronaut, None, lm, output_size=S, zoom=zoom)
    # Where the quad construction puts the eye centres (independent numpy recipe).
    theta = torch.from_numpy(_rome_theta_reference(lm[0].double().numpy(), 512, zoom))
    np.testing.assert_allclose(a.theta[0].double().numpy(), theta.numpy(), atol=1e-5)
    A = torch.cat([theta, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])
    inv = torch.linalg.inv(A)
    eyes_in = torch.stack([lm[0, 36:42].mean(0), lm[0, 42:48].mean(0)]).double() / 256.0 - 1.0
    eyes_ndc = eyes_in @ inv[:2, :2].T + inv[:2, 2]
    want = (eyes_ndc + 1) * S / 2
    # Re-detect on the aligned crop: the eyes are where the construction says.
    lm2 = detector(a.image)[0]
    got = torch.stack([lm2[36:42].mean(0), lm2[42:48].mean(0)]).double()
    assert (got - want).norm(dim=-1).max() < 3.0, (got, want)
    # FFHQ-style placement: eyes level, symmetric about the centre line, above the centre.
    assert abs(float(got[0, 1] - got[1, 1])) < 3.0
    assert abs(float(got[:, 0].mean()) - S / 2) < 4.0
    assert float(got[:, 1].mean()) < S / 2
    # Upright: brows above eyes above nose tip above mouth above chin, left eye on the left.
    ys = {k: float(lm2[a_:b_, 1].mean()) for k, (a_, b_) in L.IBUG68_GROUPS.items()}
    assert ys["brow_left"] < ys["eye_left"] < float(lm2[30, 1]) < ys["mouth_outer"] < float(lm2[8, 1])
    assert got[0, 0] < got[1, 0]


@pytest.mark.mediapipe
def test_astronaut_68_point_order(astronaut, detector):
    lm = detector(astronaut)[0]
    jaw = lm[0:17]
    # Left to right (the upper jaw points run almost vertically, hence the 1 px slack), down to
    # the chin and up again.
    assert (jaw[1:, 0] > jaw[:-1, 0] - 1.0).all()
    assert (jaw[:8, 0] < jaw[8, 0]).all() and (jaw[9:, 0] > jaw[8, 0]).all()
    assert jaw[16, 0] - jaw[0, 0] > 60
    assert (jaw[1:9, 1] > jaw[:8, 1]).all() and (jaw[9:, 1] < jaw[8:16, 1]).all()
    assert int(jaw[:, 1].argmax()) in (7, 8, 9)  # chin lowest
    for eye, brow in (((36, 42), (17, 22)), ((42, 48), (22, 27))):
        e, b = lm[eye[0]:eye[1]], lm[brow[0]:brow[1]]
        assert b[:, 0].min() < e.mean(0)[0] < b[:, 0].max()  # eye inside the brow's span
        assert e[:, 1].mean() > b[:, 1].mean()  # below the brow
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]  # eye corners left to right
    eye_y = lm[36:48, 1].mean()
    mouth_y = lm[48:68, 1].mean()
    nose = lm[27:36]
    assert ((nose[:, 1] > eye_y - 5) & (nose[:, 1] < mouth_y)).all()
    assert (nose[1:4, 1] > nose[0:3, 1]).all()  # bridge top to tip
    assert lm[39, 0] < nose[:, 0].mean() < lm[42, 0]  # between the eyes
    assert (lm[31:36, 0][1:] > lm[31:36, 0][:-1]).all()
    assert lm[48, 0] < lm[51, 0] < lm[54, 0] and lm[51, 1] < lm[57, 1]
    assert lm[62, 1] <= lm[66, 1] and lm[48, 0] < lm[60, 0] and lm[64, 0] < lm[54, 0]


@pytest.mark.mediapipe
def test_blank_image_raises(detector, tmp_path):
    with pytest.raises(InputError, match="no face found in image"):
        detector(torch.full((1, 3, 128, 128), 0.5))
    from rome_smplx.io.images import save_image

    p = save_image(tmp_path / "blank.png", torch.zeros(1, 3, 64, 64))
    with pytest.raises(InputError, match=r"no face found in .*blank\.png"):
        L.detect_file(p, detector)


@pytest.mark.mediapipe
def test_astronaut_matte(astronaut):
    with L.MediapipeSegmenter() as seg:
        m = seg(astronaut)
        torch.testing.assert_close(L.matte(astronaut, None, seg), m)
    assert m.shape == (1, 1, 512, 512) and float(m.min()) >= 0 and float(m.max()) <= 1
    assert float(m[0, 0, 120:160, 200:250].mean()) > 0.9  # the face
    torch.testing.assert_close(L.matte(astronaut), m)  # a segmenter made on the fly
