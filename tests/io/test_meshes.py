"""Textured OBJ (+ MTL + PNG), PLY with colours and part labels, GLB by extension; all or nothing."""

from __future__ import annotations

import numpy as np
import pytest

from rome_smplx.errors import InputError
from rome_smplx.io.meshes import export_mesh, write_ply, write_textured_obj


@pytest.fixture(scope="module")
def quad():
    """Two triangles with a UV seam: vertices 1 and 2 have two UVs each."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    vt = np.array([[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.6, 0.6], [0.9, 0.9], [0.6, 0.9]])
    ft = np.array([[0, 1, 2], [3, 4, 5]])
    tex = (np.random.default_rng(0).random((16, 32, 3)) * 255).astype(np.uint8)
    return v, f, vt, ft, tex


def test_textured_obj_is_three_files_that_trimesh_reads(quad, tmp_path):
    import trimesh
    from PIL import Image

    v, f, vt, ft, tex = quad
    out = write_textured_obj(tmp_path / "m.obj", v, f, vt, ft, tex)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mtl", "m.obj", "m.png"]
    text = out.read_text()
    assert text.startswith("mtllib m.mtl\n") and "usemtl material0" in text
    assert "map_Kd m.png" in (tmp_path / "m.mtl").read_text()
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "m.png")), tex)
    tm = trimesh.load(out, process=False)
    np.testing.assert_array_equal(np.asarray(tm.visual.material.image.convert("RGB")), tex)
    # trimesh splits at UV seams; each of its corners carries the vertex and UV we wrote
    corners_uv = tm.visual.uv[tm.faces]
    np.testing.assert_allclose(corners_uv, vt[ft], atol=1e-7)
    np.testing.assert_allclose(tm.vertices[tm.faces], v[f], atol=1e-7)


def test_textured_obj_failure_leaves_nothing(quad, tmp_path):
    v, f, vt, ft, _ = quad
    with pytest.raises(InputError, match="texture"):
        write_textured_obj(tmp_path / "m.obj", v, f, vt, ft, np.zeros((4, 4)))
    with pytest.raises(InputError, match="uv_faces"):
        write_textured_obj(tmp_path / "m.obj", v, f, vt, ft[:1], np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_ply_has_colours_and_part_labels(quad, tmp_path):
    import trimesh

    v, f, *_ = quad
    col = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]])
    parts = np.array([0, 1, 2, 3])
    p = write_ply(tmp_path / "m.ply", v, f, vertex_colors=col, parts=parts)
    tm = trimesh.load(p, process=False)
    np.testing.assert_allclose(tm.vertices, v, atol=1e-7)
    np.testing.assert_array_equal(tm.faces, f)
    np.testing.assert_array_equal(tm.visual.vertex_colors[:, :3], np.round(col * 255).astype(np.uint8))
    raw = tm.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_array_equal(raw["part"], parts)
    with pytest.raises(InputError, match="parts"):
        write_ply(tmp_path / "bad.ply", v, f, parts=np.zeros(3, int))


def test_export_mesh_picks_the_writer(quad, tmp_path, decode_glb, gltf_validator):
    v, f, vt, ft, tex = quad
    export_mesh(tmp_path / "a.obj", v, f, uvs=vt, uv_faces=ft, texture=tex)
    assert (tmp_path / "a.png").is_file()
    g = export_mesh(tmp_path / "a.glb", v, f, uvs=vt, uv_faces=ft, texture=tex)
    d = decode_glb(g)
    np.testing.assert_array_equal(d["texture"], tex)
    export_mesh(tmp_path / "a.ply", v, f, vertex_colors=np.ones((4, 3)), parts=np.arange(4))
    c = export_mesh(tmp_path / "c.glb", v, f, vertex_colors=np.ones((4, 3)) * 0.5)
    for r in gltf_validator(g, c):
        assert (r["numErrors"], r["numWarnings"]) == (0, 0), r["messages"]
    with pytest.raises(InputError, match="unsupported mesh format"):
        export_mesh(tmp_path / "a.stl", v, f)
