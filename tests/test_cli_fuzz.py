"""A bounded fuzz test of the command line (hypothesis): random bad arguments and bad files for
``avatar``, ``animate``, ``demo``, ``assets check`` and ``train rome|linear``.

Each example takes the good inputs of a synthetic person and breaks one or two of them: a missing,
empty, truncated, bit-flipped or random file, a folder where a file goes, an ``.npz`` / ``.pkl`` of
the wrong keys and shapes, NaN in a good file, junk in a YAML config, a bad number or choice, an
output path that is ``.``, a file, under a file, or a folder of user data. Whatever it draws, the
command must end with exit 0 or 2 (2 with exactly one ``error:`` line, or click's usage error), never
a traceback or exit 1, and must leave the folder around ``--out`` exactly as it was.

The commands run in-process (click's ``CliRunner``). The heavy work after the inputs are read (the
landmark detector, the head networks, training) is replaced by a stub that raises
:class:`ReachedWork`: an example that gets that far had inputs the command accepted, which is fine.
``assets check`` keeps its documented exit 1 for "not usable" (a report, not a crash).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rome_smplx.cli import main

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "rome_smplx" / "configs"

FUZZ = settings(max_examples=int(os.environ.get("ROME_SMPLX_FUZZ_EXAMPLES", "12")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                database=None)


class ReachedWork(Exception):
    """Raised by the stubs that stand for the heavy work: the inputs were accepted."""


def _reached(*args, **kwargs):
    raise ReachedWork()


# ------------------------------------------------------------------------------------ the inputs
@pytest.fixture(scope="module")
def good(tmp_path_factory, synthetic_dir_small):
    d = tmp_path_factory.mktemp("fuzz_good")
    person = synthetic_dir_small / "people" / "person_000"
    wave = d / "wave.npz"
    np.savez(wave, poses=np.zeros((3, 165)), trans=np.zeros((3, 3)), mocap_frame_rate=np.array(30.0))
    rome_cfg = d / "rome.yaml"
    shutil.copy(CONFIGS / "synthetic_cpu.yaml", rome_cfg)
    linear_cfg = d / "linear.yaml"
    shutil.copy(CONFIGS / "linear_synthetic_cpu.yaml", linear_cfg)
    return {"image": person / "photo_256.png", "pixie": person / "person_000_param.pkl",
            "mask": person / "mask_256.png", "deca": person / "person_000_deca.pkl", "motion": wave,
            "assets": synthetic_dir_small, "rome_config": rome_cfg, "linear_config": linear_cfg}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


_KEYS = ["poses", "trans", "betas", "shape", "body_pose", "root_orient", "pose_body", "global_pose", "jaw_pose",
         "exp", "cam", "tex", "light", "mocap_frame_rate", "fps", "gender", "x"]


def _array(draw) -> np.ndarray:
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 10, 55, 165]), max_size=3)))
    kind = draw(st.sampled_from(["f4", "f8", "i8", "bool", "U3", "nan"]))
    if kind == "U3":
        return np.full(shape, "abc")
    if kind == "nan":
        return np.full(shape, np.nan, np.float32)
    return np.ones(shape, dtype=kind)


def _junk_value(draw):
    return draw(st.one_of(
        st.sampled_from(["abc", "", "-1", "1e309", ".nan", None, [], {}, [1, "a"], -3, 0, 10**30, 1.5, True,
                         float("nan"), float("inf"), -1e-9]),
        st.text(max_size=8), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True)))


def _nan_copy(src: Path, dst: Path) -> bool:
    """``src`` with NaN in its first float array; False when it has none (the caller falls back)."""
    if src.suffix == ".npz":
        with np.load(src) as z:
            arrays = {k: z[k].copy() for k in z.files}
        for v in arrays.values():
            if v.dtype.kind == "f" and v.size:
                v.flat[0] = np.nan
                np.savez(dst, **arrays)
                return True
        return False
    if src.suffix == ".pkl":
        from rome_smplx.assets.pickle_safe import loads_restricted

        raw = loads_restricted(src.read_bytes(), src)
        for k, v in raw.items():
            if isinstance(v, np.ndarray) and v.size:
                raw[k] = v.astype(np.float32)
                raw[k].flat[0] = np.nan
                dst.write_bytes(pickle.dumps(raw, protocol=2))
                return True
    return False


FILE_KINDS = ["missing", "empty", "truncated", "flipped", "random", "folder", "npz", "pkl", "nan", "suffix"]


def _bad_file(draw, good_path: Path, where: Path) -> Path:
    """A bad stand-in for the file ``good_path``, written under ``where``."""
    kind = draw(st.sampled_from(FILE_KINDS + (["yaml"] if good_path.suffix == ".yaml" else [])))
    suffix = good_path.suffix
    p = where / f"bad_{kind}{suffix}"
    data = good_path.read_bytes()
    if kind == "missing":
        return p
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(data[:draw(st.integers(1, max(1, len(data) - 1)))])
    elif kind == "flipped":
        b = bytearray(data)
        for i in draw(st.lists(st.integers(0, len(b) - 1), min_size=1, max_size=8)):
            b[i] ^= 0xFF
        p.write_bytes(bytes(b))
    elif kind == "random":
        p.write_bytes(draw(st.binary(max_size=4096)))
    elif kind == "folder":
        p.mkdir()
        (p / "inside.txt").write_text("x")
    elif kind == "npz":
        keys = draw(st.lists(st.sampled_from(_KEYS), max_size=4, unique=True))
        with open(p, "wb") as fh:
            np.savez(fh, **{k: _array(draw) for k in keys})
    elif kind == "pkl":
        obj = draw(st.sampled_from(["dict", "list", "int", "none", "str"]))
        value = ({k: _array(draw) for k in draw(st.lists(st.sampled_from(_KEYS), max_size=4, unique=True))}
                 if obj == "dict" else {"list": [1, 2], "int": 7, "none": None, "str": "abc"}[obj])
        p.write_bytes(pickle.dumps(value, protocol=draw(st.integers(2, 5))))
    elif kind == "nan":
        if not _nan_copy(good_path, p):
            p.write_bytes(draw(st.binary(max_size=64)))
    elif kind == "suffix":  # good content under another extension
        p = where / f"bad_suffix{draw(st.sampled_from(['.txt', '.npy', '.json', '', '.pkl', '.npz']))}"
        p.write_bytes(data)
    elif kind == "yaml":
        values = yaml.safe_load(good_path.read_text())
        doc = draw(st.sampled_from(["field", "unknown", "list", "scalar", "bad_yaml"]))
        if doc == "field":
            values[draw(st.sampled_from(sorted(values)))] = _junk_value(draw)
        elif doc == "unknown":
            values["no_such_key"] = 1
        text = {"list": "- 1\n- 2\n", "scalar": "42\n", "bad_yaml": "a: [1, 2\n b: {"}.get(doc)
        p.write_text(text if text is not None else yaml.safe_dump(values))
    return p


def _bad_assets(draw, good_dir: Path, where: Path) -> Path:
    kind = draw(st.sampled_from(["missing", "file", "empty", "one_junk_file", "corrupt_copy"]))
    p = where / f"assets_{kind}"
    if kind == "file":
        p.write_bytes(b"not a folder")
    elif kind == "empty":
        p.mkdir()
    elif kind == "one_junk_file":
        (p / "smplx").mkdir(parents=True)
        (p / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes(draw(st.binary(max_size=256)))
    elif kind == "corrupt_copy":  # links to every good file but one, which is truncated or random
        files = sorted(f for f in good_dir.rglob("*") if f.is_file())
        victim = draw(st.sampled_from(files))
        for f in files:
            dst = p / f.relative_to(good_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if f == victim:
                data = f.read_bytes()
                dst.write_bytes(data[:len(data) // 2] if draw(st.booleans()) else draw(st.binary(max_size=512)))
            else:
                os.symlink(f, dst)
    return p


INT_JUNK = ["abc", "", "-1", "0", "1.5", "nan", "99999999999999999999", "-99999999999", "1e3", " 3"]
FLOAT_JUNK = ["nan", "inf", "-inf", "0", "-1", "abc", "", "1e309", "-0.0", "1e-300"]


def _bad_option(draw, options: dict[str, list[str]]) -> list[str]:
    name = draw(st.sampled_from(sorted(options)))
    return [name, draw(st.sampled_from(options[name]))]


# ------------------------------------------------------------------------------------- outputs
def _snapshot(d: Path) -> dict[str, str]:
    """Every path under ``d`` (links not followed) with a digest of each file's bytes."""
    out = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = Path(root) / name
            rel = str(p.relative_to(d))
            out[rel] = "dir" if p.is_dir() and not p.is_symlink() else hashlib.sha256(
                p.read_bytes() if p.is_file() else os.readlink(p).encode()).hexdigest()
    return out


OUT_KINDS = ["fresh", "fresh", "fresh", "dot", "empty", "a_file", "under_a_file", "foreign", "deep"]


def _out(draw, work: Path, ext: str = "") -> tuple[str, Path | None]:
    """An ``--out`` argument inside ``work`` (the caller runs with ``work`` as the current folder)."""
    kind = draw(st.sampled_from(OUT_KINDS))
    if kind == "dot":
        return ".", None
    if kind == "empty":
        return "", None
    if kind == "a_file":
        (work / f"mine{ext}").write_text("user file")
        return str(work / f"mine{ext}"), None
    if kind == "under_a_file":
        (work / "a_file").write_text("user file")
        return str(work / "a_file" / f"x{ext}"), None
    if kind == "foreign":
        (work / "data").mkdir(exist_ok=True)
        (work / "data" / "precious.txt").write_text("keep")
        return str(work / "data" / f"x{ext}") if ext else str(work / "data"), None
    if kind == "deep":
        return str(work / "not" / "yet" / f"out{ext}"), work / "not"
    return str(work / f"out{ext}"), work / f"out{ext}"


def _run(args: list[str], work: Path, patches: list[tuple[object, str, object]], command: str):
    """Invoke the CLI in ``work`` with the heavy steps stubbed; check the exit and the output folder."""
    before = _snapshot(work)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        for target, name, value in patches:
            mp.setattr(target, name, value)
        res = CliRunner().invoke(main, args, catch_exceptions=True)
    output = res.output
    assert "Traceback" not in output, (args, output)
    if isinstance(res.exception, ReachedWork):
        reached = True
    else:
        reached = False
        assert res.exception is None or isinstance(res.exception, SystemExit), (args, output, repr(res.exception))
        allowed = {0, 1, 2} if command == "assets check" else {0, 2}
        assert res.exit_code in allowed, (args, res.exit_code, output)
        if res.exit_code == 1:  # assets check: its report of what is missing, no error line
            assert not re.search(r"^error:", output, re.M), output
        if res.exit_code == 2 and "Usage:" not in output:
            errors = [ln for ln in output.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1, (args, output)
    # nothing at or beside --out: the folder the command wrote into is as it was
    assert _snapshot(work) == before, (args, output)
    return res, reached


def _work(scratch: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=scratch, prefix="w"))


def _inputs(draw, good: dict, names: list[str], where: Path) -> dict[str, Path]:
    """The good inputs with one (sometimes two) of ``names`` replaced by a bad file."""
    chosen = dict(good)
    broken = draw(st.lists(st.sampled_from(names), min_size=0, max_size=2, unique=True))
    for name in broken:
        chosen[name] = _bad_assets(draw, good[name], where) if name == "assets" else _bad_file(draw, good[name], where)
    return chosen


def _heavy_photo_steps():
    import rome_smplx.bridges.landmarks as landmarks

    return [(landmarks, "MediapipeDetector", _reached)]


# ----------------------------------------------------------------------------------------- tests
@FUZZ
@given(data=st.data())
def test_fuzz_avatar(good, scratch, data):
    draw = data.draw
    work = _work(scratch)
    bad = work.parent / (work.name + "_in")
    bad.mkdir()
    files = _inputs(draw, good, ["image", "pixie", "mask", "deca", "motion", "assets"], bad)
    ext = draw(st.sampled_from([".glb", ".glb", ".ply", ".obj", ".xyz", ""]))
    out, _ = _out(draw, work, ext)
    args = ["avatar", "--image", str(files["image"]), "--pixie", str(files["pixie"]), "--mask", str(files["mask"]),
            "--assets", str(files["assets"]), "--out", out]
    if draw(st.booleans()):
        args += ["--deca", str(files["deca"])]
    if draw(st.booleans()):
        args += ["--motion", str(files["motion"])]
    if draw(st.booleans()):
        args += _bad_option(draw, {"--texture-size": INT_JUNK, "--max-pixels": INT_JUNK,
                                   "--variant": ["", "LINEAR", "half"], "--bogus": ["1"]})
    if draw(st.booleans()):
        args += ["--render", _out(draw, work)[0]]
    _run(args, work, _heavy_photo_steps(), "avatar")


@FUZZ
@given(data=st.data())
def test_fuzz_animate(good, scratch, data):
    draw = data.draw
    work = _work(scratch)
    bad = work.parent / (work.name + "_in")
    bad.mkdir()
    files = _inputs(draw, good, ["image", "pixie", "mask", "deca", "motion", "assets"], bad)
    out, _ = _out(draw, work)
    args = ["animate", "--image", str(files["image"]), "--pixie", str(files["pixie"]), "--mask", str(files["mask"]),
            "--assets", str(files["assets"]), "--motion", str(files["motion"]), "--out", out]
    if draw(st.booleans()):
        args += ["--deca", str(files["deca"])]
    for _ in range(draw(st.integers(0, 2))):
        args += _bad_option(draw, {"--fps": FLOAT_JUNK, "--motion-fps": FLOAT_JUNK, "--every": INT_JUNK,
                                   "--max-frames": INT_JUNK, "--max-pixels": INT_JUNK, "--format": ["stl", "", "PLY"],
                                   "--motion-up": ["x", ""], "--yes": ["--force"]})
    _run(args, work, _heavy_photo_steps(), "animate")


@FUZZ
@given(data=st.data())
def test_fuzz_demo(good, scratch, data):
    from rome_smplx.avatar.head import HeadAvatar

    draw = data.draw
    work = _work(scratch)
    bad = work.parent / (work.name + "_in")
    bad.mkdir()
    files = _inputs(draw, good, ["assets"], bad)
    out, _ = _out(draw, work)
    args = ["demo", "--out", out, "--assets", str(files["assets"])]
    for _ in range(draw(st.integers(0, 2))):
        args += _bad_option(draw, {"--frames": INT_JUNK + ["241", "100000"], "--person": INT_JUNK + ["7", "1000"],
                                   "--variant": ["", "half"]})
    _run(args, work, [(HeadAvatar, "from_assets", classmethod(_reached))], "demo")


@FUZZ
@given(data=st.data())
def test_fuzz_assets_check(good, scratch, data):
    draw = data.draw
    work = _work(scratch)
    target = _bad_assets(draw, good["assets"], work)
    args = ["assets", "check", str(target)]
    if draw(st.booleans()):
        args += ["--gender", draw(st.sampled_from(["neutral", "MALE", "other", ""]))]
    _run(args, work, [], "assets check")


@FUZZ
@given(data=st.data(), which=st.sampled_from(["rome", "linear"]))
def test_fuzz_train(good, scratch, data, which):
    import rome_smplx.trainers as trainers
    import rome_smplx.trainers.distill as distill

    draw = data.draw
    work = _work(scratch)
    bad = work.parent / (work.name + "_in")
    bad.mkdir()
    key = f"{which}_config"
    files = _inputs(draw, good, [key, key, "assets"], bad)
    args = ["train", which, "--config", str(files[key]), "--assets", str(files["assets"])]
    # the configs' own output folders are relative: they resolve inside ``work``
    if draw(st.booleans()):
        args += ["--out", _out(draw, work)[0]]
    if draw(st.booleans()):
        args += _bad_option(draw, {"--steps": INT_JUNK, "--bogus": ["1"]})
    _run(args, work, [(trainers, "train_from_config", _reached), (distill, "run_from_yaml", _reached)],
         f"train {which}")
