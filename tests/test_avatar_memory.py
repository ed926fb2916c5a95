"""What keeps ``rome-smplx avatar`` within its memory bound (issue 15): the block-wise computations give the
whole-array results exactly, the photo is held as its uint8 pixels, and nothing heavy is imported or kept
alive for nothing. The peak itself is measured by ``benchmarks/memory.py``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from rome_smplx.io import gltf


def _layout(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two UV charts of Delaunay triangles (irregular sizes, shared edges, a gutter between them)."""
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(seed)
    charts, faces, n = [], [], 0
    for x0, x1 in ((0.04, 0.47), (0.55, 0.96)):
        pts = np.concatenate([rng.uniform([x0, 0.05], [x1, 0.95], size=(60, 2)),
                              [[x0, 0.05], [x1, 0.05], [x0, 0.95], [x1, 0.95]]])
        charts.append(pts)
        faces.append(Delaunay(pts).simplices + n)
        n += len(pts)
    return torch.tensor(np.concatenate(charts), dtype=torch.float32), torch.tensor(np.concatenate(faces))


def test_uv_raster_in_row_passes_equals_one_pass(monkeypatch):
    from rome_smplx.render import bake

    uvs, faces = _layout()
    monkeypatch.setattr(bake, "UV_RASTER_ROWS", 10_000)
    whole = bake.rasterize_uv(uvs, faces, 96)
    monkeypatch.setattr(bake, "UV_RASTER_ROWS", 7)
    passes = bake.rasterize_uv(uvs, faces, 96)
    assert int((whole.face >= 0).sum()) > 0.5 * 96 * 96 and int((whole.face >= 0).sum()) > int(whole.inside.sum())
    for name in ("face", "bary", "inside"):
        assert torch.equal(getattr(whole, name), getattr(passes, name)), name


def test_skinning_and_correctives_in_blocks_equal_one_block(monkeypatch):
    rng = np.random.default_rng(1)
    V, J, T = 50, 6, 9
    parents = np.array([-1, 0, 1, 1, 2, 0])
    joints = rng.normal(size=(J, 3))
    w = rng.random((V, J)) ** 4
    w /= w.sum(1, keepdims=True)
    q = rng.normal(size=(T * J, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    x, y, z, s = q.T
    R = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * s), 2 * (x * z + y * s),
                  2 * (x * y + z * s), 1 - 2 * (x * x + z * z), 2 * (y * z - x * s),
                  2 * (x * z - y * s), 2 * (y * z + x * s), 1 - 2 * (x * x + y * y)], -1).reshape(T, J, 3, 3)
    verts = rng.normal(size=(V, 3))
    posedirs = rng.normal(size=(9 * (J - 1), 3 * V)).astype(np.float32)
    idx, tw = gltf.top_k_weights(w, 2)

    def run():
        return (gltf.skin_vertices(verts, joints, parents, w, R), gltf.skin_vertices(verts, joints, parents, tw, R,
                joint_index=idx), gltf.pose_correctives(posedirs, R), gltf.truncation_error(verts, joints, parents, w, R, 2))

    one = run()
    monkeypatch.setattr(gltf, "SKIN_CHUNK", 1)  # one frame at a time
    monkeypatch.setattr(gltf, "CORRECTIVE_COLUMNS", 7)
    blocks = run()
    for a, b in zip(one[:3], blocks[:3]):  # the same sums, up to the order BLAS adds them in
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert one[3] == pytest.approx(blocks[3], rel=1e-12) and one[3] > 0
    # the float32 posedirs are used in float64: the same as a float64 copy of the whole matrix
    feat = (R[:, 1:] - np.eye(3)).reshape(T, -1)
    np.testing.assert_allclose(one[2].reshape(T, -1), feat @ posedirs.astype(np.float64), rtol=1e-12, atol=1e-12)


def test_photo_as_uint8_pixels_gives_the_float_image_and_the_same_crop(tmp_path):
    from PIL import Image
    from rome_smplx.bridges.landmarks import _to_uint8_batch, align

    from rome_smplx.io.images import as_float, load_image

    rng = np.random.default_rng(2)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)).save(path)
    pixels = load_image(path, uint8=True)
    image = load_image(path)
    assert pixels.dtype == torch.uint8 and image.dtype == torch.float32 and pixels.shape == image.shape == (1, 3, 90, 70)
    assert torch.equal(as_float(pixels), image) and image.is_contiguous()
    np.testing.assert_array_equal(_to_uint8_batch(pixels, "p")[0], _to_uint8_batch(image, "p")[0])
    lm = torch.tensor(rng.uniform([15, 20], [55, 70], size=(1, 68, 2)), dtype=torch.float32)
    matte = torch.rand(1, 1, 90, 70, generator=torch.Generator().manual_seed(0))
    a, b = align(image, matte, lm, output_size=32), align(pixels, matte, lm, output_size=32)
    assert torch.equal(a.image, b.image) and torch.equal(a.mask, b.mask) and torch.equal(a.landmarks, b.landmarks)


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600)


def test_inference_head_does_not_import_the_compiler_stack():
    """The shipped networks load for inference without their training discriminator, whose spectral norm on
    the meta device would import torch._dynamo, sympy and triton (~0.14 GB of a process's memory)."""
    done = _fresh_python("""
        import sys
        import torch
        from rome_smplx import weights
        from rome_smplx.models.rome import load
        nets = load(weights.path("full"), dtype=torch.float32, discriminator=False)
        assert nets.discriminator is None
        print(sorted(m for m in ("torch._dynamo", "sympy", "triton") if m in sys.modules))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]"]


@pytest.mark.mediapipe
def test_importing_mediapipe_keeps_no_caller_frame_alive():
    """mediapipe keeps an exception (with its traceback) from its own import; imported on a thread of its
    own, that traceback reaches none of our frames, so a caller's locals (the photo) are freed."""
    done = _fresh_python("""
        import gc, sys, weakref
        from rome_smplx.bridges.landmarks import _import_mediapipe

        class Photo:
            pass

        def caller(photo):
            return _import_mediapipe()

        photo = Photo()
        ref = weakref.ref(photo)
        caller(photo)
        del photo
        gc.collect()
        print("mediapipe" in sys.modules, ref() is None)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"]
