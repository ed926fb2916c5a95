"""The restricted unpickler: refuses every global but numpy / scipy.sparse / chumpy / tensor rebuilds."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from rome_smplx.assets import load_npy, load_pickle
from rome_smplx.assets.pickle_safe import loads_restricted
from rome_smplx.errors import AssetError


def _touch_marker(path):
    """The payload a malicious pickle tries to run: create a marker file."""
    with open(path, "w") as fh:
        fh.write("ran")
    return 0


class _Payload:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_malicious_pickle_refused_and_payload_not_run(tmp_path):
    marker = tmp_path / "MARKER"
    bad = tmp_path / "SMPLX_NEUTRAL.pkl"
    bad.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "x": _Payload(_touch_marker, str(marker))}))
    with pytest.raises(AssetError) as e:
        load_pickle(bad)
    msg = str(e.value)
    assert str(bad) in msg and "_touch_marker" in msg
    assert not marker.exists()


@pytest.mark.parametrize(
    "fn,args,name",
    [
        (os.system, ("true",), r"\.system'"),
        (eval, ("1+1",), r"builtin\w*\.eval'"),
        (subprocess.Popen, (["true"],), r"'subprocess\.Popen'"),
        (torch.load, ("x.pth",), r"'torch\.serialization\.load'"),
        (getattr, ("abc", "upper"), r"builtin\w*\.getattr'"),
    ],
)
def test_refused_globals_name_the_global(tmp_path, fn, args, name):
    p = tmp_path / "m.pkl"
    p.write_bytes(pickle.dumps([1, _Payload(fn, *args)], protocol=4))
    with pytest.raises(AssetError, match="refused to load.*" + name):
        load_pickle(p)


def test_malicious_object_npy_refused(tmp_path):
    marker = tmp_path / "MARKER"
    p = tmp_path / "flame_dynamic_embedding.npy"
    arr = np.empty((), dtype=object)
    arr[()] = {"lmk_face_idx": _Payload(_touch_marker, str(marker))}
    np.save(p, arr, allow_pickle=True)
    with pytest.raises(AssetError, match="_touch_marker"):
        load_npy(p)
    assert not marker.exists()


def _chumpy_pickle(obj_factory, protocol):
    """Pickle bytes that reference chumpy classes, written with a temporary fake chumpy module."""
    ch = types.ModuleType("chumpy")
    ch_ch = types.ModuleType("chumpy.ch")
    ch_ops = types.ModuleType("chumpy.ch_ops")

    class Ch:
        """Stand-in for chumpy.ch.Ch (only its module path matters for pickling)."""

    class add:
        """Stand-in for chumpy.ch_ops.add."""

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    add.__module__, add.__qualname__ = "chumpy.ch_ops", "add"
    ch_ch.Ch, ch_ops.add = Ch, add
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch", "chumpy.ch_ops")}
    sys.modules.update({"chumpy": ch, "chumpy.ch": ch_ch, "chumpy.ch_ops": ch_ops})
    try:
        return pickle.dumps(obj_factory(Ch, add), protocol=protocol)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_chumpy_pickle_read_without_chumpy(tmp_path, protocol):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3, 4))
    a, b = rng.normal(size=(5,)), rng.normal(size=(5,))

    def make(Ch, add):
        leaf = Ch()
        leaf.__dict__.update({"x": x, "_dirty_vars": set()})
        la, lb = Ch(), Ch()
        la.x, lb.x = a, b
        s = add()
        s.a, s.b = la, lb
        return {"shapedirs": leaf, "sum": s, "f": np.arange(6, dtype=np.uint32).reshape(2, 3),
                "J_regressor": sp.csc_matrix(np.eye(4)[:2]), "bs_style": "lbs"}

    data = _chumpy_pickle(make, protocol)
    assert "chumpy" not in sys.modules
    p = tmp_path / "generic_model.pkl"
    p.write_bytes(data)
    out = load_pickle(p)
    assert "chumpy" not in sys.modules
    assert isinstance(out["shapedirs"], np.ndarray)
    np.testing.assert_array_equal(out["shapedirs"], x)
    np.testing.assert_allclose(out["sum"], a + b)
    assert isinstance(out["J_regressor"], np.ndarray)
    np.testing.assert_array_equal(out["J_regressor"], np.eye(4)[:2])
    assert out["f"].dtype == np.uint32 and out["bs_style"] == "lbs"


def test_sparse_kinds_are_densified():
    m = np.array([[0, 2.0, 0], [1.0, 0, 3.0]])
    for mat in (sp.csc_matrix(m), sp.csr_matrix(m), sp.coo_matrix(m)):
        out = loads_restricted(pickle.dumps({"J": mat}), "x.pkl")
        np.testing.assert_array_equal(out["J"], m)


def test_deca_style_npy_with_torch_tensors(tmp_path):
    emb = {"static_lmk_faces_idx": np.arange(51), "dynamic_lmk_faces_idx": torch.arange(79 * 17).reshape(79, 17),
           "dynamic_lmk_bary_coords": torch.full((79, 17, 3), 1 / 3)}
    p = tmp_path / "landmark_embedding.npy"
    np.save(p, np.array(emb, dtype=object), allow_pickle=True)
    out = load_npy(p)
    assert torch.equal(out["dynamic_lmk_faces_idx"], emb["dynamic_lmk_faces_idx"])
    np.testing.assert_array_equal(out["static_lmk_faces_idx"], np.arange(51))


def test_plain_npy_and_npz(tmp_path):
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(load_npy(tmp_path / "a.npy"), a)
    np.save(tmp_path / "f.npy", np.asfortranarray(a.astype(np.float32)))
    np.testing.assert_array_equal(load_npy(tmp_path / "f.npy"), a)
    np.savez_compressed(tmp_path / "m.npz", a=a, b=np.ones(3))
    out = load_npy(tmp_path / "m.npz")
    assert set(out) == {"a", "b"}
    np.testing.assert_array_equal(out["a"], a)


@pytest.mark.parametrize("kind", ["empty", "dir", "missing", "truncated", "garbage"])
def test_bad_files_give_asset_errors(tmp_path, kind):
    p = tmp_path / "x.pkl"
    good = pickle.dumps({"v": np.arange(100.0)})
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "dir":
        p.mkdir()
    elif kind == "truncated":
        p.write_bytes(good[: len(good) // 2])
    elif kind == "garbage":
        p.write_bytes(b"\x00\x01not a pickle at all")
    expect = {"empty": "empty", "dir": "directory", "missing": "not found", "truncated": "truncated",
              "garbage": "corrupt"}[kind]
    with pytest.raises(AssetError, match=expect) as e:
        load_pickle(p)
    assert str(p) in str(e.value)
    q = tmp_path / "y.npy"
    if kind in ("truncated", "garbage"):
        buf = io.BytesIO()
        np.save(buf, np.arange(100.0))
        q.write_bytes(buf.getvalue()[:100] if kind == "truncated" else b"garbage")
        with pytest.raises(AssetError):
            load_npy(q)
