"""SMPL-X's optional UV layout (``vt`` / ``ft``): read when present, absent is fine, malformed is named."""

from __future__ import annotations

import io

import numpy as np
import pytest

from rome_smplx.assets import Assets
from rome_smplx.assets import readers as rd
from rome_smplx.assets import validate as va
from rome_smplx.errors import AssetError


def _smplx_path(folder):
    return next((folder / "smplx").glob("SMPLX_NEUTRAL*.npz"))


@pytest.fixture(scope="module")
def raw(synthetic_dir_small):
    return rd.read_model_file(_smplx_path(synthetic_dir_small))


def _invalid(issues):
    return [i.reason for i in issues if i.status == "invalid"]


def test_synthetic_layout_is_read(synthetic_dir_small):
    assets = Assets.from_dir(synthetic_dir_small)
    vt, ft = assets.smplx_uv_layout()
    f = assets.smplx_data()["f"]
    assert vt.dtype == np.float32 and vt.shape[1] == 2
    assert ft.dtype == np.int64 and ft.shape == f.shape
    assert int(ft.max()) < len(vt)
    with np.load(_smplx_path(synthetic_dir_small)) as z:
        np.testing.assert_array_equal(vt, z["vt"])
        np.testing.assert_array_equal(ft, z["ft"])


def test_absent_layout_is_not_an_issue(raw):
    d = {k: v for k, v in raw.items() if k not in ("vt", "ft")}
    out, issues = va.validate_smplx(d)
    assert _invalid(issues) == [] and "vt" not in out and "ft" not in out


def _bad(raw, **changes):
    d = dict(raw)
    for k, v in changes.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v
    _, issues = va.validate_smplx(d)
    return _invalid(issues)


def test_malformed_layouts_are_named(raw):
    vt, ft = raw["vt"], raw["ft"]
    assert any("'ft'" in r and "missing" in r for r in _bad(raw, ft=None))
    assert any("'vt'" in r and "missing" in r for r in _bad(raw, vt=None))
    assert any("'vt'" in r and "(*, 2)" in r for r in _bad(raw, vt=np.zeros((len(vt), 3), np.float32)))
    assert any("'vt'" in r and "NaN" in r for r in _bad(raw, vt=np.full_like(vt, np.nan)))
    assert any("'ft'" in r and "one UV triangle per face" in r for r in _bad(raw, ft=ft[:-1]))
    assert any("'ft'" in r and "row count of vt" in r for r in _bad(raw, ft=ft + len(vt)))
    assert any("'ft'" in r and "integer" in r for r in _bad(raw, ft=ft.astype(np.float32)))


def test_assets_error_names_the_file_and_key(broken, replace):
    path = _smplx_path(broken)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["ft"] = arrays["ft"][:, :2]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    replace(path, buf.getvalue())
    with pytest.raises(AssetError) as e:
        Assets.from_dir(broken)
    msg = str(e.value)
    assert path.name in msg and "'ft'" in msg and "(" in msg
