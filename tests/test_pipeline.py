"""Photo -> avatar pipeline and the `avatar` / `animate` commands, on a real photo (skimage's
astronaut) and a synthetic person's PIXIE parameters."""

from __future__ import annotations

import json
import math
import os
import pickle
import sys

import numpy as np
import pytest
import torch
import trimesh
from click.testing import CliRunner
from rome_smplx.bridges import deca, pixie

import rome_smplx.pipeline as pl
from rome_smplx.avatar.merge import PART_BODY, PART_HAIR
from rome_smplx.cli import main
from rome_smplx.errors import BackendError


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: the networks here are small and the cores are shared (2 spinning threads
    on busy cores were measured several times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory, synthetic_dir_small):
    """Photo, PIXIE parameters and bad inputs (tmp folder, written once)."""
    from PIL import Image
    from skimage import data

    d = tmp_path_factory.mktemp("pipeline_inputs")
    Image.fromarray(data.astronaut()).save(d / "astronaut.png")
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(d / "blank.png")
    (d / "text.png").write_text("this is not an image")
    (d / "corrupt_param.pkl").write_bytes(b"\x80\x02}q\x00(X\x05\x00\x00\x00shapeq\x01")
    return {
        "dir": d,
        "image": d / "astronaut.png",
        "param": synthetic_dir_small / "people" / "person_000" / "person_000_param.pkl",
        "assets": synthetic_dir_small,
    }


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


@pytest.fixture(scope="module")
def fitted(files):
    """The astronaut through the whole pipeline with the landmark fit (runs once)."""
    return pl.reconstruct_photo(files["image"], pixie_param=files["param"], assets=files["assets"])


@pytest.fixture(scope="module")
def deca_file(fitted, files):
    """The fitted FLAME parameters of the astronaut crop, saved as a DECA code dict."""
    return deca.save_codedict(files["dir"] / "astronaut_deca.pkl", fitted.fit.flame)


@pytest.mark.mediapipe
def test_fit_matches_the_detected_landmarks_on_the_aligned_crop(fitted):
    assert fitted.flame_source == "landmark_fit"
    aligned = fitted.aligned
    assert aligned.image.shape == (1, 3, pl.ALIGN_SIZE, pl.ALIGN_SIZE) and aligned.mask.shape == (1, 1, 256, 256)
    err = (fitted.fit.landmarks - aligned.landmarks).norm(dim=-1)[0]
    assert float(err.mean()) < 4.0, f"mean landmark error {float(err.mean()):.2f} px at 256"
    assert float(err[17:].mean()) < 3.0  # brows, nose, eyes, mouth (the jaw contour is the loosest)
    # FFHQ alignment puts the eyes on a horizontal line near the crop's centre line.
    eyes_l, eyes_r = aligned.landmarks[0, 36:42].mean(0), aligned.landmarks[0, 42:48].mean(0)
    assert abs(float(eyes_l[1] - eyes_r[1])) < 2.0
    assert 60 < float(eyes_l[0]) < 128 < float(eyes_r[0]) < 196
    # The matte covers the face centre and not the crop corners.
    m = aligned.mask[0, 0]
    assert float(m[128, 128]) > 0.5 and float(m[:8, :8].mean()) < 0.5


@pytest.mark.mediapipe
def test_avatar_has_smplx_counts_and_hair_only_on_the_scalp(fitted):
    av = fitted.avatar
    V = fitted.assets.num_smplx_vertices
    assert av.vertices.shape == (1, V, 3) and av.offsets.shape == (1, V, 3)
    moved = av.offsets[0].abs().sum(-1) > 0
    assert int(moved.sum()) > 0
    # only head vertices move: the hair, and the neck's faded reshaping
    assert bool((av.parts[0, moved] != PART_BODY).all()) and int((av.parts[0, moved] == PART_HAIR).sum()) > 0
    # The head reconstruction is ROME's linear variant on the aligned crop.
    assert fitted.recon.hair_coeffs is not None and fitted.recon.source_image.shape[-1] == 256


@pytest.mark.mediapipe
def test_deca_codes_skip_the_fit_and_give_the_same_avatar(fitted, files, deca_file, monkeypatch):
    def spy(*args, **kwargs):
        raise AssertionError("the landmark fit ran although DECA codes were given")

    monkeypatch.setattr(pl, "fit_flame_to_landmarks", spy)
    recon, avatar = pl.build_avatar(files["image"], pixie_param=files["param"], assets=files["assets"], deca_path=deca_file)
    torch.testing.assert_close(recon.flame.shape, fitted.fit.flame.shape)
    torch.testing.assert_close(recon.flame.global_rot, fitted.fit.flame.global_rot, atol=1e-5, rtol=0)
    # Same crop -> same hair coefficients; same identity -> same merge: the avatars agree.
    torch.testing.assert_close(avatar.offsets, fitted.avatar.offsets, atol=1e-5, rtol=0)
    torch.testing.assert_close(avatar.vertices, fitted.avatar.vertices, atol=1e-5, rtol=0)


@pytest.mark.mediapipe
@pytest.mark.slow
def test_cli_avatar_writes_the_glb_and_renders(fitted, files, deca_file, tmp_path):
    from rome_smplx.models.smplx_body import SmplxModel

    out, renders = tmp_path / "avatar.glb", tmp_path / "renders"
    res = CliRunner().invoke(main, ["avatar", "--image", str(files["image"]), "--pixie", str(files["param"]),
                                    "--deca", str(deca_file), "--assets", str(files["assets"]), "--out", str(out),
                                    "--render", str(renders)])
    assert res.exit_code == 0, res.output
    # The GLB is rigged: its mesh is the merged rest template (split at UV seams), posed by its skin.
    from scipy.spatial import cKDTree

    mesh = trimesh.load(out, force="mesh", process=False)
    V = fitted.assets.num_smplx_vertices
    template = fitted.avatar.template[0].numpy()
    dist, idx = cKDTree(template).query(np.asarray(mesh.vertices))
    assert dist.max() < 1e-5 and len(np.unique(idx)) == V
    # Against the plain SMPL-X body of the same shape in its rest pose: only hair vertices moved.
    from rome_smplx.types import SmplxParams

    betas = fitted.avatar.params.betas
    rest = SmplxParams(betas=betas, expression=betas.new_zeros(1, 1))
    plain = SmplxModel.from_assets(fitted.assets)(rest).vertices[0].numpy()
    delta = np.linalg.norm(template - plain, axis=1)
    hair = (fitted.avatar.parts[0] == PART_HAIR).numpy()
    body = (fitted.avatar.parts[0] == PART_BODY).numpy()
    assert delta[hair].max() > 1e-3 and delta[body].max() < 1e-4
    names = {p.name for p in renders.iterdir()}
    assert {"head_render.png", "preview_front.png", "preview_side.png", "source_aligned.png", "summary.json"} <= names
    summary = json.loads((renders / "summary.json").read_text())
    assert summary["flame_source"] == "deca" and summary["body_vertices"] == V and summary["hair_vertices"] > 0
    assert not list(tmp_path.glob(".*tmp*"))


def _bad_cases():
    return [
        pytest.param("missing", r"astro_missing\.png: image file not found", id="missing-image"),
        pytest.param("text", r"text\.png: not a readable image", id="not-an-image"),
        pytest.param("blank", r"no face found in .*blank\.png", id="no-face", marks=pytest.mark.mediapipe),
        pytest.param("corrupt", r"corrupt_param\.pkl", id="corrupt-pixie"),
        pytest.param("evil", r"evil_param\.pkl", id="malicious-pickle"),
        pytest.param("ext", r"unsupported mesh format '\.fbx'", id="unknown-extension"),
    ]


@pytest.mark.parametrize("case, message", _bad_cases())
def test_cli_avatar_bad_input_is_one_line_exit_2_and_no_output(files, tmp_path, case, message):
    import re

    d = files["dir"]
    image, param, out = files["image"], files["param"], tmp_path / "out" / "avatar.glb"
    flag = tmp_path / "pwned"
    if case == "missing":
        image = d / "astro_missing.png"
    elif case == "text":
        image = d / "text.png"
    elif case == "blank":
        image = d / "blank.png"
    elif case == "corrupt":
        param = d / "corrupt_param.pkl"
    elif case == "evil":
        evil = _Evil()
        evil.flag = flag
        param = tmp_path / "evil_param.pkl"
        param.write_bytes(pickle.dumps({"shape": evil}, protocol=2))
    elif case == "ext":
        out = tmp_path / "out" / "avatar.fbx"
    res = CliRunner().invoke(main, ["avatar", "--image", str(image), "--pixie", str(param), "--assets",
                                    str(files["assets"]), "--mask", str(image if case != "text" else files["image"]),
                                    "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    err_lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1 and re.search(message, err_lines[0]), res.output
    assert "Traceback" not in res.output
    assert not out.exists() and not flag.exists()
    assert not (out.parent.exists() and list(out.parent.iterdir()))


def test_mediapipe_missing_without_mask_names_the_install(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import fails as if not installed
    with pytest.raises(BackendError, match=r"pip install 'rome-smplx\[landmarks\]'"):
        pl.build_avatar(files["image"], pixie_param=files["param"], assets=files["assets"])


def test_any_detector_and_a_mask_replace_mediapipe(synthetic_dir_small, monkeypatch):
    """Without mediapipe: the synthetic person's photo, its matte, its DECA codes and landmarks from
    the true FLAME parameters (a detector callable) go through the pipeline."""
    from rome_smplx.bridges.flame_fit import project_landmarks

    import rome_smplx as rs
    from rome_smplx.models.flame import FlameModel

    monkeypatch.setitem(sys.modules, "mediapipe", None)
    folder = synthetic_dir_small / "people" / "person_000"
    assets = rs.Assets.from_dir(synthetic_dir_small)
    code = deca.load(folder / "person_000_deca.pkl")
    truth_lm = project_landmarks(FlameModel.from_assets(assets), code, (256, 256))
    seen = {}

    def detector(image, name):
        seen["shape"], seen["name"] = tuple(image.shape), name
        return truth_lm

    r = pl.reconstruct_photo(folder / "photo_256.png", pixie_param=folder / "person_000_param.pkl", assets=assets,
                             mask_path=folder / "mask_256.png", deca_path=folder / "person_000_deca.pkl",
                             detector=detector)
    assert seen == {"shape": (1, 3, 256, 256), "name": str(folder / "photo_256.png")}
    assert r.fit is None and r.flame_source == "deca"
    torch.testing.assert_close(r.recon.flame.shape, code.shape)
    # The aligned landmarks are the detector's, moved by the crop's similarity: distances scale uniformly.
    def pairwise(x):
        return (x[:, None] - x[None]).norm(dim=-1)

    d_in, d_out = pairwise(truth_lm[0].double()), pairwise(r.aligned.landmarks[0].double())
    scale = d_out[36, 45] / d_in[36, 45]
    torch.testing.assert_close(d_out, d_in * scale, atol=1e-3, rtol=0)
    assert 0.3 < float(scale) < 3.0
    body = pixie.to_y_up(pixie.load(folder / "person_000_param.pkl"))
    torch.testing.assert_close(r.avatar.params.body_pose, body.body_pose)


def _wave_npz(path, T=6, fps=30.0):
    poses = np.zeros((T, 165))
    for t in range(T):
        poses[t, 3 * 18 + 2] = 0.3 * t  # left shoulder (joint 16 = body entry 15) about z
    np.savez(path, poses=poses, trans=np.zeros((T, 3)), betas=np.zeros(16), mocap_frame_rate=np.array(fps))
    return path


@pytest.mark.mediapipe
@pytest.mark.slow
def test_cli_animate_writes_frames_gif_and_strip(fitted, files, deca_file, tmp_path):
    from PIL import Image

    from rome_smplx.io.motion import load_motion

    motion = _wave_npz(tmp_path / "wave.npz")
    out = tmp_path / "anim"
    res = CliRunner().invoke(main, ["animate", "--image", str(files["image"]), "--pixie", str(files["param"]),
                                    "--motion", str(motion), "--motion-up", "y", "--deca", str(deca_file),
                                    "--assets", str(files["assets"]), "--out", str(out), "--fps", "15"])
    assert res.exit_code == 0, res.output
    # 6 frames at 30 fps span 1/6 s: at 15 fps that is frames 0, 2, 4 of the source.
    frames = sorted(p.name for p in out.glob("frame_*.ply"))
    assert frames == ["frame_0000.ply", "frame_0001.ply", "frame_0002.ply"]
    src = load_motion(motion, up="y")
    expected = fitted.avatar.pose(src.frame(4)).vertices[0].numpy()
    mesh = trimesh.load(out / "frame_0002.ply", process=False)
    np.testing.assert_allclose(np.asarray(mesh.vertices), expected, atol=1e-4)
    with Image.open(out / "preview.gif") as gif:
        assert gif.n_frames == 3
    strip = Image.open(out / "preview_strip.png")
    assert strip.size[0] == 3 * strip.size[1]
    assert json.loads((out / "summary.json").read_text())["frames"] == 3
    assert math.isclose(load_motion(out / "motion.npz").fps, 15.0)

    # --every 2 on the source rate, and a bad motion file: exit 2, nothing written.
    out2 = tmp_path / "anim2"
    res = CliRunner().invoke(main, ["animate", "--image", str(files["image"]), "--pixie", str(files["param"]),
                                    "--motion", str(motion), "--every", "2", "--deca", str(deca_file),
                                    "--assets", str(files["assets"]), "--out", str(out2), "--format", "glb"])
    assert res.exit_code == 0, res.output
    assert len(list(out2.glob("frame_*.glb"))) == 3
    bad = tmp_path / "bad.npz"
    np.savez(bad, poses=np.zeros((4, 10)))
    out3 = tmp_path / "anim3"
    res = CliRunner().invoke(main, ["animate", "--image", str(files["image"]), "--pixie", str(files["param"]),
                                    "--motion", str(bad), "--assets", str(files["assets"]), "--out", str(out3)])
    assert res.exit_code == 2 and "key 'poses'" in res.output and "Traceback" not in res.output
    assert not out3.exists() and not list(tmp_path.glob(".anim*"))


def test_step_timer_records_each_step_once():
    timer = pl.StepTimer("t", 2, progress=False)
    timer.step("a")
    timer.step("b")
    timer.close()
    assert list(timer.timings) == ["a", "b"] and all(v >= 0 for v in timer.timings.values())
    assert timer.total_s >= sum(timer.timings.values()) - 1e-3
