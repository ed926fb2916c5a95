"""Bounded inputs: pixel limits read from the header, downscaled decoding, mask aspect, motion length
budget, zero-frame motions, frame names that sort, and error messages that name their file."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from rome_smplx.errors import InputError, RomeSmplxError
from rome_smplx.io.images import check_mask_aspect, load_image, load_mask
from rome_smplx.io.limits import DEFAULT_MAX_PIXELS, MAX_FRAMES, MAX_OUTPUT_BYTES
from rome_smplx.io.motion import check_frame_budget, estimate_animation, load_amass
from rome_smplx.pipeline import frame_name


def header_only_png(path, w: int, h: int):
    """A PNG whose header claims ``w x h`` pixels, with (almost) no pixel data: a decompression bomb
    that costs nothing to write."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
                     + chunk(b"IEND", b""))
    return path


def header_only_jpeg(path, w: int, h: int):
    """A small baseline JPEG whose frame header (SOF0) is rewritten to claim ``w x h`` pixels."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(buf, format="JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)  # marker, length (2), precision (1), height, width
    path.write_bytes(bytes(data))
    return path


# ------------------------------------------------------------------------------------- pixels
def test_a_196_megapixel_header_is_refused_before_decoding(tmp_path):
    p = header_only_png(tmp_path / "huge.png", 14000, 14000)
    with pytest.raises(InputError, match=r"huge\.png: the image has 14000 x 14000 = 196000000 pixels \(196\.0 MP\), "
                                         r"more than the limit of 150000000 \(150\.0 MP\); pass --max-pixels 196000000"):
        load_image(p)
    with pytest.raises(InputError, match=r"huge\.png: the mask has 14000 x 14000"):
        load_mask(p)
    assert 12000 * 12500 <= DEFAULT_MAX_PIXELS < 14000 * 14000


def test_a_196_megapixel_jpeg_header_is_refused_before_decoding(tmp_path):
    p = header_only_jpeg(tmp_path / "huge.jpg", 14000, 14000)
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # read the header only, without Pillow's bomb check
    try:
        with Image.open(p) as im:
            assert im.size == (14000, 14000)  # what the header claims
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    with pytest.raises(InputError, match=r"huge\.jpg: the image has 14000 x 14000 = 196000000 pixels"):
        load_image(p)


def test_lifting_the_limit_reaches_the_decoder_and_pillow_bomb_check_is_restored(tmp_path):
    p = header_only_png(tmp_path / "huge.png", 14000, 14000)
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InputError, match=r"huge\.png: the image file is truncated or corrupt"):
        load_image(p, max_pixels=None)  # past our check, the (missing) data fails as corrupt, not as a bomb
    assert Image.MAX_IMAGE_PIXELS == before


def test_the_pixel_limit_is_exact_and_validated(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(p)
    assert load_image(p, max_pixels=600).shape == (1, 3, 20, 30)
    with pytest.raises(InputError, match=r"30 x 20 = 600 pixels .* limit of 599 "):
        load_image(p, max_pixels=599)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="max_pixels: expected a positive integer"):
            load_image(p, max_pixels=bad)


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_max_side_downscales_like_an_area_resample(tmp_path, ext):
    rng = np.random.default_rng(0)
    # smooth content (JPEG keeps it): a gradient plus low-frequency noise
    y, x = np.mgrid[0:600, 0:800] / 800.0
    a = np.stack([x, y, 0.5 + 0.3 * np.sin(6 * x + 4 * y)], -1)
    a = np.clip(a + 0.02 * rng.standard_normal(a.shape), 0, 1)
    p = tmp_path / f"big.{ext}"
    Image.fromarray((a * 255).round().astype(np.uint8)).save(p, quality=95)
    full = load_image(p)
    small = load_image(p, max_side=200)
    assert small.shape == (1, 3, 150, 200)
    ref = torch.nn.functional.interpolate(full, size=(150, 200), mode="area")
    assert float((small - ref).abs().mean()) < 0.01
    assert load_image(p, max_side=5000).shape == full.shape  # never upscaled
    m = load_mask(p, max_side=100)
    assert m.shape == (1, 1, 75, 100)


def test_a_mask_of_another_aspect_is_refused_and_rounding_is_allowed():
    img = torch.zeros(1, 3, 300, 400)
    check_mask_aspect(torch.zeros(1, 1, 300, 400), img, "m.png")
    check_mask_aspect(torch.zeros(1, 1, 75, 100), img, "m.png")  # a downscaled copy
    check_mask_aspect(torch.zeros(1, 1, 151, 200), img, "m.png")  # off by one pixel after rounding
    with pytest.raises(InputError, match=r"m\.png: the mask is 300 x 300 .*but the photo is 400 x 300"):
        check_mask_aspect(torch.zeros(1, 1, 300, 300), img, "m.png")


# ------------------------------------------------------------------------------------- motions
def test_the_frame_budget_refuses_long_motions_with_the_estimate(synthetic_dir_small):
    import re

    from rome_smplx.assets import Assets
    from rome_smplx.io.motion import _BYTES_PER_VERTEX, _SECONDS_PER_FRAME

    V = Assets.from_dir(synthetic_dir_small).num_smplx_vertices  # the body's count, from its file
    assert V > 0
    assert check_frame_budget(100, V).startswith("about ")
    # the estimate: frames x vertices x bytes per vertex of a PLY frame, frames x seconds per frame
    gb = 100_000 * V * _BYTES_PER_VERTEX["ply"] / 1024**3
    hours = 100_000 * _SECONDS_PER_FRAME / 3600
    with pytest.raises(InputError, match=rf"walk\.npz: 100000 frames to write \(about {hours:.1f} h and "
                                         rf"{re.escape(f'{gb:.1f}')} GB\).*--max-frames 100000 or --yes"):
        check_frame_budget(100_000, V, "ply", where="walk.npz")
    assert 1 < gb < 1000 and f"{hours:.1f}" == "1.1"
    assert check_frame_budget(100_000, V, yes=True)
    assert check_frame_budget(20_000, V, max_frames=20_000)
    with pytest.raises(InputError, match="more than --max-frames 500"):
        check_frame_budget(501, V, max_frames=500)
    with pytest.raises(InputError, match="max_frames: expected a positive integer"):
        check_frame_budget(10, V, max_frames=0)
    # the size limit binds before the frame limit for a large mesh
    big = MAX_OUTPUT_BYTES // (MAX_FRAMES // 2) // 44 + 1  # vertices per frame: half the frames reach the bytes
    assert estimate_animation(MAX_FRAMES // 2, big, "glb")[0] > MAX_OUTPUT_BYTES
    with pytest.raises(InputError, match="GB"):
        check_frame_budget(MAX_FRAMES // 2, big, "glb")
    check_frame_budget(MAX_FRAMES, V, "ply")  # at the limit: accepted


@pytest.mark.parametrize("layout", ["poses", "root_orient"])
def test_a_zero_frame_motion_is_one_error_naming_the_file(tmp_path, layout):
    p = tmp_path / "empty.npz"
    if layout == "poses":
        np.savez(p, poses=np.zeros((0, 165)), trans=np.zeros((0, 3)), mocap_frame_rate=np.array(30.0))
    else:
        np.savez(p, root_orient=np.zeros((0, 3)), pose_body=np.zeros((0, 63)), trans=np.zeros((0, 3)),
                 mocap_frame_rate=np.array(30.0))
    with pytest.raises(InputError, match=rf"empty\.npz: the motion has no frames \(key '{layout}' has shape"):
        load_amass(p)


def test_frame_names_are_padded_to_the_sequence_length():
    assert frame_name(3, 10, ".ply") == "frame_0003.ply"
    assert frame_name(9999, 10_000) == "frame_9999"
    names = [frame_name(i, 10_001, ".glb") for i in (9, 10, 9999, 10_000)]
    assert names[0] == "frame_00009.glb" and names == sorted(names)
    assert frame_name(0, 0) == "frame_0000"


# ------------------------------------------------------------------------------------- naming
def test_a_pixie_file_with_nan_names_the_file(tmp_path, synthetic_dir_small):
    import pickle

    from rome_smplx.bridges import pixie

    src = synthetic_dir_small / "people" / "person_000" / "person_000_param.pkl"
    d = pixie.load(src)  # read through the restricted unpickler, then edit a copy of the raw dict
    from rome_smplx.assets.pickle_safe import loads_restricted

    raw = loads_restricted(src.read_bytes(), src)
    key = "shape" if "shape" in raw else next(k for k, v in raw.items() if isinstance(v, np.ndarray))
    raw[key] = np.array(raw[key], dtype=np.float32)
    raw[key].flat[0] = np.nan
    bad = tmp_path / "nan_param.pkl"
    bad.write_bytes(pickle.dumps(raw, protocol=2))
    with pytest.raises(RomeSmplxError, match=r"nan_param\.pkl.*(NaN|finite)"):
        pixie.load(bad)
    assert d.batch_size == 1


def test_a_tensor_file_with_code_does_not_advise_weights_only_false(tmp_path):
    import os
    import pickle

    from rome_smplx.assets.readers import read_tensor_file
    from rome_smplx.io.checkpoints import _unpickler_detail

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    p = tmp_path / "u_full.pt"
    torch.save({"x": torch.zeros(2)}, p)  # a real zip container ...
    p.write_bytes(pickle.dumps(Evil()))  # ... replaced by a plain pickle that calls a function
    with pytest.raises(RomeSmplxError) as e:
        read_tensor_file(p)
    msg = str(e.value)
    assert "u_full.pt" in msg and "refused, never executed" in msg
    for advice in ("weights_only=False", "can still be loaded", "trust the source", "Please"):
        assert advice not in msg, msg
    torch_text = ("Weights only load failed. This file can still be loaded, to do so you have two options, do those "
                  "steps only if you trust the source of the checkpoint.\n (1) In PyTorch 2.6, we changed the default "
                  "value of the `weights_only` argument ...\n WeightsUnpickler error: Unsupported global: GLOBAL "
                  "posix.system was not an allowed global by default. Please use `torch.serialization.add_safe_globals`")
    assert _unpickler_detail(torch_text) == "Unsupported global: GLOBAL posix.system was not an allowed global by default."
    assert _unpickler_detail("Weights only load failed. This file can still be loaded\n weights_only=False, only if "
                             "you trust the source").startswith("unpickling failed")
