"""Image files and tensors: round trips, channel handling, atomic writes, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rome_smplx.errors import InputError
from rome_smplx.io import images


def _rgb(h=12, w=17, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_png_round_trip_is_exact(tmp_path):
    a = _rgb()
    t = images.to_tensor(a)
    assert t.shape == (1, 3, 12, 17) and t.dtype == torch.float32
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    p = images.save_image(tmp_path / "out" / "x.png", t)
    assert sorted(f.name for f in p.parent.iterdir()) == ["x.png"]  # no temporary left behind
    back = images.load_image(p)
    torch.testing.assert_close(back, t, atol=0, rtol=0)
    np.testing.assert_array_equal(images.to_numpy(back), a)
    np.testing.assert_array_equal(np.asarray(Image.open(p)), a)


def test_jpeg_and_channel_conversions(tmp_path):
    a = np.full((8, 8, 3), 100, np.uint8)
    images.save_image(tmp_path / "x.jpg", images.to_tensor(a))
    np.testing.assert_allclose(images.load_image(tmp_path / "x.jpg").numpy() * 255, 100, atol=2)
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(grey).save(tmp_path / "g.png")
    t = images.load_image(tmp_path / "g.png")
    assert t.shape == (1, 3, 8, 8)
    torch.testing.assert_close(t[0, 0], torch.from_numpy(grey).float() / 255)
    torch.testing.assert_close(t[0, 0], t[0, 2])
    # A mask from luminance, and from an alpha channel.
    m = images.load_mask(tmp_path / "g.png")
    assert m.shape == (1, 1, 8, 8)
    torch.testing.assert_close(m[0, 0], torch.from_numpy(grey).float() / 255)
    rgba = np.dstack([_rgb(8, 8), grey])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    torch.testing.assert_close(images.load_mask(tmp_path / "a.png")[0, 0], torch.from_numpy(grey).float() / 255)
    assert images.load_image(tmp_path / "a.png").shape == (1, 3, 8, 8)
    # 16-bit greyscale keeps its precision.
    g16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    torch.testing.assert_close(images.load_mask(tmp_path / "g16.png")[0, 0], torch.from_numpy(g16.astype(np.float32) / 65535))
    # Single-channel tensors save as greyscale.
    images.save_image(tmp_path / "m.png", m)
    assert Image.open(tmp_path / "m.png").mode == "L"
    torch.testing.assert_close(images.load_mask(tmp_path / "m.png"), m)


def test_to_tensor_to_numpy_helpers():
    f = np.linspace(0, 1, 2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3)
    t = images.to_tensor(f)
    torch.testing.assert_close(t[0].permute(1, 2, 0), torch.from_numpy(f).float())
    np.testing.assert_allclose(images.to_numpy(t, dtype=np.float32), f, atol=1e-7)
    assert images.to_tensor(np.ones((4, 5), bool)).shape == (1, 1, 4, 5)
    assert images.to_tensor(Image.fromarray(_rgb(4, 6))).shape == (1, 3, 4, 6)
    np.testing.assert_array_equal(images.to_numpy(torch.tensor([[0.0, 0.5], [1.0, 2.0]])), [[0, 128], [255, 255]])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        images.to_tensor(np.full((2, 2, 3), 2.0))
    with pytest.raises(InputError, match="batch size 2"):
        images.to_numpy(torch.zeros(2, 3, 4, 4))


def test_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.png.*not found"):
        images.load_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="directory"):
        images.load_image(tmp_path)
    txt = tmp_path / "notes.png"
    txt.write_text("this is not an image")
    with pytest.raises(InputError, match=r"notes\.png: not a readable image"):
        images.load_image(txt)
    good = tmp_path / "good.png"
    Image.fromarray(_rgb(64, 64)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match=r"cut\.png"):
        images.load_mask(cut)
    with pytest.raises(InputError, match="extension"):
        images.save_image(tmp_path / "x.unknownext", torch.zeros(1, 3, 4, 4))
    assert not list(tmp_path.glob("*.unknownext*"))
    with pytest.raises(InputError, match="channels"):
        images.save_image(tmp_path / "y.png", torch.zeros(1, 2, 4, 4))
