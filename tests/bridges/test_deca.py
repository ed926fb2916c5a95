"""DECA bridge: code dicts from pickle / npz / torch files, round trips, errors."""

from __future__ import annotations

import math
import os
import pickle

import numpy as np
import pytest
import torch
from rome_smplx.bridges import deca

from rome_smplx.assets import load_pickle
from rome_smplx.errors import AssetError, InputError
from rome_smplx.geometry.rotations import axis_angle_to_matrix
from rome_smplx.types import FlameParams


def _codedict(b: int = 1, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "shape": rng.normal(size=(b, 100)).astype(np.float32),
        "tex": rng.normal(size=(b, 50)).astype(np.float32),
        "exp": rng.normal(size=(b, 50)).astype(np.float32),
        "pose": (0.3 * rng.normal(size=(b, 6))).astype(np.float32),
        "cam": np.array([[8.5, 0.01, -0.02]] * b, np.float32),
        "light": rng.normal(size=(b, 9, 3)).astype(np.float32),
        "detail": rng.normal(size=(b, 128)).astype(np.float32),
    }


def _check(fp: FlameParams, code: dict) -> None:
    np.testing.assert_allclose(fp.shape.numpy(), np.atleast_2d(code["shape"]), rtol=0, atol=0)
    np.testing.assert_allclose(fp.expression.numpy(), np.atleast_2d(code["exp"]), rtol=0, atol=0)
    pose = torch.as_tensor(np.atleast_2d(code["pose"]))
    torch.testing.assert_close(fp.global_rot, axis_angle_to_matrix(pose[:, :3]))
    torch.testing.assert_close(fp.jaw_rot, axis_angle_to_matrix(pose[:, 3:]))
    np.testing.assert_allclose(fp.cam.numpy(), np.atleast_2d(code["cam"]))
    torch.testing.assert_close(fp.neck_rot, torch.eye(3).expand(fp.batch_size, 3, 3))


@pytest.mark.parametrize("fmt", ["pkl", "npz", "pt", "pkl_torch"])
def test_load_formats(tmp_path, fmt):
    code = _codedict(2)
    path = tmp_path / f"codes.{fmt.split('_')[0]}"
    if fmt == "pkl":
        path.write_bytes(pickle.dumps(code, protocol=2))
    elif fmt == "npz":
        np.savez(path, **code)
    elif fmt == "pt":
        torch.save({k: torch.from_numpy(v) for k, v in code.items()}, path)
    else:  # a pickle of torch tensors, as pickling DECA's codedict directly gives
        path.write_bytes(pickle.dumps({k: torch.from_numpy(v) for k, v in code.items()}, protocol=2))
    fp = deca.load(path)
    assert fp.batch_size == 2
    _check(fp, code)


def test_batch_dim_optional_and_known_rotation():
    code = {k: v[0] for k, v in _codedict(1).items()}
    code["pose"] = np.array([0.0, math.pi / 2, 0.0, 0.2, 0.0, 0.0], np.float32)
    fp = deca.load(code)
    assert fp.shape.shape == (1, 100) and fp.cam.shape == (1, 3)
    ry = torch.tensor([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    torch.testing.assert_close(fp.global_rot[0], ry, atol=1e-6, rtol=0)
    c, s = math.cos(0.2), math.sin(0.2)
    torch.testing.assert_close(fp.jaw_rot[0], torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]]), atol=1e-6, rtol=0)


def test_round_trip(tmp_path):
    g = torch.Generator().manual_seed(1)
    fp = FlameParams(
        shape=torch.randn(3, 100, generator=g),
        expression=torch.randn(3, 50, generator=g),
        global_rot=axis_angle_to_matrix(0.5 * torch.randn(3, 3, generator=g)),
        jaw_rot=axis_angle_to_matrix(torch.tensor([[0.3, 0.0, 0.0]] * 3)),
        cam=torch.randn(3, 3, generator=g),
    )
    path = deca.save_codedict(tmp_path / "sub" / "codes.pkl", fp, extra={"tex": torch.zeros(3, 50)})
    assert path.read_bytes()[:2] == b"\x80\x02"
    raw = load_pickle(path)  # the restricted loader reads what we write
    assert set(raw) == {"shape", "exp", "pose", "cam", "tex"}
    assert all(v.dtype == np.float32 and v.shape[0] == 3 for v in raw.values())
    assert raw["pose"].shape == (3, 6)
    back = deca.load(path)
    for f in ("shape", "expression", "global_rot", "jaw_rot", "cam", "neck_rot", "eye_rots"):
        torch.testing.assert_close(getattr(back, f), getattr(fp, f), atol=1e-6, rtol=0)
    np.testing.assert_allclose(raw["pose"][:, 3:], [[0.3, 0, 0]] * 3, atol=1e-6)


def test_errors(tmp_path):
    code = _codedict(1)
    bad = dict(code, pose=np.zeros((1, 7), np.float32))
    with pytest.raises(InputError, match=r"key 'pose': expected shape \(1, 6\), found \(1, 7\)"):
        deca.load(bad)
    bad = dict(code)
    del bad["exp"]
    p = tmp_path / "noexp.pkl"
    p.write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(InputError, match=r"noexp\.pkl.*missing keys \['exp'\]"):
        deca.load(p)
    bad = dict(code, cam=np.zeros((2, 3), np.float32))
    with pytest.raises(InputError, match="key 'cam': batch size 2"):
        deca.load(bad)
    bad = dict(code, shape=np.zeros((1, 400), np.float32))
    with pytest.raises(InputError, match=r"key 'shape'.*1\.\.300"):
        deca.load(bad)
    with pytest.raises(AssetError, match="nothere.npz"):
        deca.load(tmp_path / "nothere.npz")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(AssetError, match="garbage.pt"):
        deca.load(garbage)
    objnpz = tmp_path / "obj.npz"
    np.savez(objnpz, shape=np.array([object()], dtype=object))
    with pytest.raises(AssetError, match="obj.npz"):
        deca.load(objnpz)

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"shape": Evil()}, protocol=2))
    with pytest.raises(AssetError, match="evil.pkl"):
        deca.load(evil)
    fp = deca.load(code)
    fp.neck_rot = axis_angle_to_matrix(torch.tensor([[0.1, 0.0, 0.0]]))
    with pytest.raises(InputError, match="neck_rot"):
        deca.save_codedict(tmp_path / "x.pkl", fp)
    assert not (tmp_path / "x.pkl").exists()
