"""Assets on a whole folder: accessors, counts from the files, broken folders, reports, discovery."""

from __future__ import annotations

import io
import logging
import pickle
import shutil

import numpy as np
import pytest
import torch

from rome_smplx.assets import AssetReport, Assets, load_pickle
from rome_smplx.assets.core import SYNTHETIC_MARKER
from rome_smplx.errors import AssetError


@pytest.fixture(scope="module")
def small(synthetic_dir_small):
    return Assets.from_dir(synthetic_dir_small)


def test_synthetic_folder_is_usable(small):
    report = small.check()
    assert isinstance(report, AssetReport)
    assert report.ok, report.format()
    assert report.blocking == []
    assert small.is_synthetic == (small.root / SYNTHETIC_MARKER).exists()


def test_counts_come_from_the_files(small, synthetic_dir_small):
    n = small.num_flame_vertices
    assert n == 1800  # the fixture's head size, deliberately not FLAME's
    corr = small.correspondence()
    assert corr.shape == (n,) and corr.dtype == np.int64
    assert 0 <= corr.min() and corr.max() < small.num_smplx_vertices
    emb = small.landmark_embedding()
    nf = small.flame_data()["f"].shape[0]
    assert emb.static_faces.shape == (51,) and emb.dynamic_faces.shape == (79, 17)
    assert emb.dynamic_bary.shape == (79, 17, 3) and emb.dynamic_faces.max() < nf
    rd = small.rome_data()
    assert rd.vertex_uvs.shape == (n, 2) and rd.mean_deform.shape == (n, 3)
    assert rd.basis.shape[0] == 3 * n
    assert rd.faces.ndim == 2 and rd.faces.shape[0] >= nf and rd.uv_faces.shape == rd.faces.shape
    assert int(rd.hair_faces.max()) < len(rd.hair_edge_list)
    assert int(rd.neck_faces.max()) < len(rd.neck_edge_list)
    assert torch.isin(rd.hair_list, rd.hair_edge_list).all()
    eye = rd.basis.double().T @ rd.basis.double()
    assert torch.allclose(eye, torch.eye(eye.shape[0], dtype=torch.float64), atol=1e-3)


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(AssetError, match="not found"):
        Assets.from_dir(tmp_path / "nope")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(AssetError, match="found a file"):
        Assets.from_dir(f)


def test_path_names_folder_and_source(tmp_path):
    a = Assets.from_dir(tmp_path, validate=False)
    with pytest.raises(AssetError) as e:
        a.path("flame")
    msg = str(e.value)
    assert "generic_model.pkl" in msg and str(tmp_path / "flame") in msg and "flame.is.tue.mpg.de" in msg


def test_empty_folder_lists_every_required_file(tmp_path):
    report = Assets.from_dir(tmp_path, validate=False).check()
    assert not report.ok
    missing = {e.key for e in report.blocking if e.status == "missing"}
    from rome_smplx.assets.layout import SPECS

    required = {s.key for s in SPECS if s.required}
    assert required <= missing
    assert "flame_static_embedding" in missing  # no landmark embedding of either format
    text = report.format()
    for key in required:
        assert key in text
    with pytest.raises(AssetError) as e:
        Assets.from_dir(tmp_path)
    assert all(k in str(e.value) for k in required)


def test_broken_folder_reports_every_problem_at_once(broken, replace):
    # 1. a directory where a file should be
    (broken / "rome" / "hair_faces.pth").unlink()
    (broken / "rome" / "hair_faces.pth").mkdir()
    # 2. an empty file
    replace(broken / "rome" / "mean_deform.pt", b"")
    # 3. a truncated torch file
    data = (broken / "rome" / "vertex_uvcoords.pth").resolve().read_bytes()
    replace(broken / "rome" / "vertex_uvcoords.pth", data[: len(data) // 2])
    # 4. a correspondence of the wrong length
    corr = np.load(broken / "correspondences" / "SMPL-X__FLAME_vertex_ids.npy")
    buf = io.BytesIO()
    np.save(buf, corr[:-5])
    replace(broken / "correspondences" / "SMPL-X__FLAME_vertex_ids.npy", buf.getvalue())
    # 5. NaN in the linear basis
    basis = torch.load(broken / "rome" / "u_full.pt", weights_only=True).clone()
    basis[0, 0] = float("nan")
    buf = io.BytesIO()
    torch.save(basis, buf)
    replace(broken / "rome" / "u_full.pt", buf.getvalue())
    # 6. a missing file
    (broken / "rome" / "neck_list.pkl").unlink()
    # 7. a pickle with wrong content type in an index list
    replace(broken / "rome" / "hair_list.pkl", pickle.dumps(np.linspace(0, 1, 5)))

    report = Assets.from_dir(broken, validate=False).check()
    assert not report.ok
    status = {k: report.status(k) for k in ("hair_faces", "mean_deform", "vertex_uvs", "smplx_flame_correspondence",
                                            "linear_basis", "neck_list", "hair_list")}
    assert status == {"hair_faces": "invalid", "mean_deform": "invalid", "vertex_uvs": "invalid",
                      "smplx_flame_correspondence": "invalid", "linear_basis": "invalid", "neck_list": "missing",
                      "hair_list": "invalid"}
    text = report.format()
    for needle in ("directory", "empty", "truncated", "expected shape", "NaN", "neck_list", "integer"):
        assert needle in text, (needle, text)
    assert report.status("smplx") == "ok" and report.status("flame") == "ok"
    assert "github.com/SamsungLabs/rome" in text
    with pytest.raises(AssetError) as e:
        Assets.from_dir(broken)
    assert str(e.value).count("\n") >= 7


def test_missing_flame_key_in_file_raises_naming_key(broken, small, replace):
    flame_path = small.path("flame")
    raw = load_pickle(flame_path)
    del raw["posedirs"]
    replace(broken / "flame" / flame_path.name, pickle.dumps(raw))
    a = Assets.from_dir(broken, validate=False)
    with pytest.raises(AssetError, match="missing key 'posedirs'"):
        a.flame_data()
    # everything that depends on FLAME counts is not checked against garbage
    assert a.check().status("flame") == "invalid"


def test_landmark_formats_either_is_enough(broken, small):
    flame = broken / "flame"
    present = {p.name for p in flame.iterdir()}
    emb = small.landmark_embedding()
    deca = {
        "static_lmk_faces_idx": emb.static_faces, "static_lmk_bary_coords": emb.static_bary,
        "dynamic_lmk_faces_idx": torch.from_numpy(emb.dynamic_faces),
        "dynamic_lmk_bary_coords": torch.from_numpy(emb.dynamic_bary),
    }
    for name in ("flame_static_embedding.pkl", "flame_dynamic_embedding.npy", "landmark_embedding.npy"):
        if name in present:
            (flame / name).unlink()
    np.save(flame / "landmark_embedding.npy", np.array(deca, dtype=object), allow_pickle=True)
    a = Assets.from_dir(broken)
    got = a.landmark_embedding()
    assert got.source == "deca"
    np.testing.assert_array_equal(got.dynamic_faces, emb.dynamic_faces)
    (flame / "landmark_embedding.npy").unlink()
    report = Assets.from_dir(broken, validate=False).check()
    assert not report.ok and report.status("flame_static_embedding") == "missing"
    assert "no usable landmark embedding" in report.format()


def test_sanitized_copies_are_cached_and_chumpy_free(small, tmp_path, monkeypatch):
    monkeypatch.setenv("ROME_SMPLX_CACHE", str(tmp_path / "cache"))
    a = Assets.from_dir(small.root)
    d = a.sanitized_dir()
    assert d.parent == tmp_path / "cache" / "sanitized"
    assert (d / "COMPLETE").exists()
    mtime = (d / "smplx" / "SMPLX_NEUTRAL.npz").stat().st_mtime_ns
    assert Assets.from_dir(small.root).sanitized_dir() == d
    assert (d / "smplx" / "SMPLX_NEUTRAL.npz").stat().st_mtime_ns == mtime
    z = np.load(d / "smplx" / "SMPLX_NEUTRAL.npz", allow_pickle=False)
    for key in ("hands_componentsl", "hands_meanr", "lmk_faces_idx"):
        assert key in z.files
    np.testing.assert_array_equal(z["v_template"], a.smplx_data()["v_template"])
    raw = load_pickle(d / "flame" / "FLAME_NEUTRAL.pkl")
    assert all(isinstance(v, np.ndarray) for v in raw.values())
    assert not any(p.name.startswith(".") for p in d.parent.iterdir())  # no temporary left over


def test_hands_keys_patched_in_report_and_copy(synthetic_dir_small, tmp_path, monkeypatch, clone):
    monkeypatch.setenv("ROME_SMPLX_CACHE", str(tmp_path / "cache"))
    folder = clone(synthetic_dir_small, tmp_path / "a")
    src = Assets.from_dir(folder, validate=False).path("smplx")
    z = dict(np.load(src, allow_pickle=False)) if src.suffix == ".npz" else None
    if z is None:
        pytest.fail(f"expected the synthetic SMPL-X as npz, found {src.name}")
    for k in ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"):
        z.pop(k, None)
    src.unlink()
    np.savez(src, **z)
    a = Assets.from_dir(folder)
    report = a.check()
    assert report.ok and report.status("smplx") == "patched"
    assert sum(1 for e in report.entries if e.key == "smplx" and e.status == "patched") == 4
    layer = a.smplx_layer(num_betas=10, num_expression_coeffs=10)
    assert layer.left_hand_components.shape[-1] == 45 if hasattr(layer, "left_hand_components") else True
    out = layer()
    assert torch.isfinite(out.vertices).all()


def test_discover_env_and_default(synthetic_dir_small, monkeypatch, caplog):
    monkeypatch.setenv("ROME_SMPLX_ASSETS", str(synthetic_dir_small))
    assert Assets.discover().root == synthetic_dir_small
    monkeypatch.delenv("ROME_SMPLX_ASSETS")
    import rome_smplx.assets.synthetic as syn

    monkeypatch.setattr(syn, "default_dir", lambda: synthetic_dir_small)
    with caplog.at_level(logging.WARNING, logger="rome_smplx.assets.core"):
        a = Assets.discover()
    assert a.root == synthetic_dir_small
    assert any("synthetic" in r.message and r.levelno == logging.WARNING for r in caplog.records)


def test_gender_files(broken):
    a = Assets.from_dir(broken, validate=False, gender="female")
    assert a.gender == "FEMALE"
    with pytest.raises(AssetError, match="SMPLX_FEMALE"):
        a.path("smplx")
    shutil.rmtree(broken / "flame")
    with pytest.raises(AssetError, match="female_model.pkl"):
        a.path("flame")
