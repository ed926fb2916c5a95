"""Validation rules: every required key missing in turn, wrong shapes / dtypes / NaN, patched hands."""

from __future__ import annotations

import numpy as np
import pytest

from rome_smplx.assets import layout
from rome_smplx.assets import readers as rd
from rome_smplx.assets import validate as va

SMPLX_REQUIRED = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
                  "lmk_faces_idx", "lmk_bary_coords")
FLAME_REQUIRED = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")


def _find(folder, key):
    spec = layout.SPEC_BY_KEY[key]
    for name in spec.names:
        if (folder / spec.folder / name).exists():
            return folder / spec.folder / name
    raise AssertionError(f"synthetic folder lacks {key}")


@pytest.fixture(scope="module")
def raw(synthetic_dir_small):
    return {
        "smplx": rd.read_model_file(_find(synthetic_dir_small, "smplx")),
        "flame": rd.read_model_file(_find(synthetic_dir_small, "flame")),
    }


def _invalid(issues):
    return [i.reason for i in issues if i.status == "invalid"]


def test_synthetic_files_are_valid(raw):
    sm, issues = va.validate_smplx(raw["smplx"])
    assert _invalid(issues) == []
    fl, issues = va.validate_flame(raw["flame"])
    assert _invalid(issues) == []
    assert sm["posedirs"].shape[-1] == 9 * (sm["J_regressor"].shape[0] - 1)
    assert fl["J_regressor"].shape == (5, fl["v_template"].shape[0])


@pytest.mark.parametrize("key", SMPLX_REQUIRED)
def test_smplx_missing_key_is_named(raw, key):
    d = dict(raw["smplx"])
    del d[key]
    _, issues = va.validate_smplx(d)
    assert any(f"'{key}'" in r and "missing" in r for r in _invalid(issues)), issues


@pytest.mark.parametrize("key", FLAME_REQUIRED)
def test_flame_missing_key_is_named(raw, key):
    d = dict(raw["flame"])
    del d[key]
    _, issues = va.validate_flame(d)
    assert any(f"'{key}'" in r and "missing" in r for r in _invalid(issues)), issues


@pytest.mark.parametrize("key", ["hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"])
def test_missing_hands_keys_are_patched(raw, key):
    d = {k: v for k, v in raw["smplx"].items() if k != key}
    out, issues = va.validate_smplx(d)
    assert _invalid(issues) == []
    assert [i.status for i in issues if key in i.reason] == ["patched"]
    hd = out[key].shape[0]
    if key.startswith("hands_components"):
        np.testing.assert_array_equal(out[key], np.eye(hd))
    else:
        np.testing.assert_array_equal(out[key], np.zeros(hd))


def test_all_problems_collected_at_once(raw):
    d = dict(raw["smplx"])
    del d["weights"]
    d["f"] = d["f"].astype(np.float64)
    v = np.array(d["v_template"], dtype=np.float64)
    v[3, 1] = np.nan
    d["v_template"] = v
    d["shapedirs"] = np.asarray(d["shapedirs"])[:, :, :20]
    _, issues = va.validate_smplx(d)
    reasons = " | ".join(_invalid(issues))
    for needle in ("'weights'", "'f': expected an integer", "NaN", "at least 400 components"):
        assert needle in reasons, reasons


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d.update(posedirs=np.zeros((10, 3, 9))), "'posedirs'"),
        (lambda d: d.update(J_regressor=np.asarray(d["J_regressor"])[:-1]), "'J_regressor'"),
        (lambda d: d.update(weights=np.asarray(d["weights"])[:, :-1]), "'weights'"),
        (lambda d: d.update(kintree_table=np.asarray(d["kintree_table"])[:, :-1]), "'kintree_table'"),
        (lambda d: d.update(f=np.asarray(d["f"]).astype(np.int64) + len(d["v_template"])), "'f': indices"),
        (lambda d: d.update(v_template=np.asarray(d["v_template"])[:, :2]), "'v_template'"),
        (lambda d: d.update(v_template=np.asarray(d["v_template"]).astype(str)), "'v_template'"),
        (lambda d: d.update(weights=np.full(np.shape(d["weights"]), np.inf)), "NaN/inf"),
        (lambda d: d.update(lmk_faces_idx=np.asarray(d["lmk_faces_idx"]) - 10**6), "'lmk_faces_idx'"),
        (lambda d: d.update(hands_componentsl=np.eye(3)), "'hands_componentsl'"),
        (lambda d: d.update(dynamic_lmk_faces_idx=np.zeros((5, 17), np.int64)), "'dynamic_lmk_faces_idx'"),
    ],
)
def test_smplx_bad_content(raw, mutate, needle):
    d = dict(raw["smplx"])
    mutate(d)
    _, issues = va.validate_smplx(d)
    assert any(needle in r for r in _invalid(issues)), issues


def test_posedirs_flat_form_accepted(raw):
    """smplx reshapes posedirs to (-1, P): a (3V, P) array is accepted and reshaped to (V, 3, P)."""
    d = dict(raw["flame"])
    pd = np.asarray(d["posedirs"])
    d["posedirs"] = pd.reshape(-1, pd.shape[-1])
    out, issues = va.validate_flame(d)
    assert _invalid(issues) == []
    np.testing.assert_array_equal(out["posedirs"], pd.astype(np.float32))


def test_flame_small_shape_space_is_invalid(raw):
    d = dict(raw["flame"])
    d["shapedirs"] = np.asarray(d["shapedirs"])[:, :, :20]
    _, issues = va.validate_flame(d)
    assert any("at least 400" in r and "found 20" in r for r in _invalid(issues))


def test_kintree_parent_order(raw):
    d = dict(raw["flame"])
    kt = np.array(d["kintree_table"], dtype=np.int64)
    kt[0, 2] = 4
    d["kintree_table"] = kt
    _, issues = va.validate_flame(d)
    assert any("parent" in r for r in _invalid(issues))


def test_embeddings():
    nf = 100
    good_static = {"lmk_face_idx": np.arange(51, dtype=np.uint32), "lmk_b_coords": np.full((51, 3), 1 / 3)}
    emb, issues = va.validate_static_embedding(good_static, nf)
    assert issues == [] and emb.static_faces.dtype == np.int64
    for key in good_static:
        _, issues = va.validate_static_embedding({k: v for k, v in good_static.items() if k != key}, nf)
        assert any(f"'{key}'" in r for r in _invalid(issues))
    _, issues = va.validate_static_embedding(good_static, 40)
    assert any("indices must lie in [0, 40)" in r for r in _invalid(issues))
    dyn = {"lmk_face_idx": [np.arange(17)] * 79, "lmk_b_coords": [np.full((17, 3), 0.2)] * 79}
    emb, issues = va.validate_dynamic_embedding(dyn, nf)
    assert issues == [] and emb.dynamic_faces.shape == (79, 17)
    ragged = dict(dyn, lmk_face_idx=[np.arange(17)] * 78 + [np.arange(3)])
    _, issues = va.validate_dynamic_embedding(ragged, nf)
    assert any("'lmk_face_idx'" in r for r in _invalid(issues))
    _, issues = va.validate_dynamic_embedding([1, 2], nf)
    assert any("expected a dict" in r for r in _invalid(issues))


def test_deca_embedding_keys():
    import torch

    deca = {
        "static_lmk_faces_idx": np.arange(51), "static_lmk_bary_coords": np.full((51, 3), 1 / 3),
        "dynamic_lmk_faces_idx": torch.zeros(79, 17, dtype=torch.int64),
        "dynamic_lmk_bary_coords": torch.full((79, 17, 3), 1 / 3),
        "full_lmk_faces_idx": np.arange(68)[None], "full_lmk_bary_coords": np.full((1, 68, 3), 1 / 3),
    }
    emb, issues = va.validate_deca_embedding(deca, 100)
    assert issues == [] and emb.full_faces.shape == (68,) and emb.dynamic_bary.dtype == np.float32
    for key in ("static_lmk_faces_idx", "static_lmk_bary_coords", "dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords"):
        _, issues = va.validate_deca_embedding({k: v for k, v in deca.items() if k != key}, 100)
        assert any(f"missing key '{key}'" in r for r in _invalid(issues)), key


def test_correspondence_rules():
    corr = np.arange(10) * 3
    arr, issues = va.validate_correspondence(corr, 10, 30)
    assert issues == [] and arr.dtype == np.int64
    _, issues = va.validate_correspondence(corr, 11, 30)
    assert any("expected shape (11,)" in r for r in _invalid(issues))
    _, issues = va.validate_correspondence(corr, 10, 27)
    assert any("[0, 27)" in r for r in _invalid(issues))
    _, issues = va.validate_correspondence(corr.astype(np.float32), 10, 30)
    assert any("integer" in r for r in _invalid(issues))


def test_orthonormal_check():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(30, 4)))
    assert va.check_orthonormal(q, "basis") == []
    assert va.check_orthonormal(q * 1.01, "basis")[0].status == "invalid"


def test_rome_file_rules_cover_the_rome_folder_of_the_layout():
    """One rule per ROME data file of layout.SPECS (the checkpoints are checked by their header)."""
    rome_keys = {s.key for s in layout.SPECS if s.folder == "rome"} - {"rome_weights", "linear_weights"}
    assert set(va.ROME_FILE_RULES) == rome_keys
    for key, rule in va.ROME_FILE_RULES.items():
        assert set(rule.needs) <= set(va.ROME_FILE_RULES) - {key}, key


def test_rome_file_rules_compare_with_what_they_need():
    ctx = va.RomeContext(num_vertices=10, num_faces=2, needed={"hair_list": np.array([1, 2, 3])})
    edge = va.ROME_FILE_RULES["hair_edge_list"].check
    arr, issues = edge([1, 2, 3, 4], ctx)
    assert issues == [] and arr.tolist() == [1, 2, 3, 4]
    arr, issues = edge([1, 2, 4], ctx)
    assert arr is None and _invalid(issues) == ["must contain every vertex of hair_list.pkl, misses 1 of them"]
    faces = va.ROME_FILE_RULES["hair_faces"].check
    ok = np.array([[0, 1, 2], [1, 2, 3]])
    assert faces(ok, va.RomeContext(10, 2, {"hair_edge_list": np.arange(4)}))[0] is not None
    _, issues = faces(ok, va.RomeContext(10, 2, {"hair_edge_list": np.arange(3)}))
    assert any("length of hair_edge_list" in r for r in _invalid(issues))
    uv = va.ROME_FILE_RULES["uv_faces"].check
    _, issues = uv(ok, va.RomeContext(10, 2, {"faces": np.zeros((3, 3), dtype=np.int64)}))
    assert any("expected the shape of faces_v2 (3, 3), found (2, 3)" in r for r in _invalid(issues))
    uvs = va.ROME_FILE_RULES["vertex_uvs"].check
    _, issues = uvs(np.full((10, 2), 1.5, dtype=np.float32), ctx)
    assert any("max |uv| = 1.5" in r for r in _invalid(issues))
