"""`rome-smplx batch`: manifests, the local and Ray engines, resuming, bad rows (issue 12, item 5).

Eight synthetic people (photo, matte, PIXIE file, a two-frame motion for the GLB) go through both
engines; the meshes in the written GLBs must agree with each other and with what the single-photo
pipeline (`rome-smplx avatar`) writes for the same row.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

from rome_smplx import batch as rb
from rome_smplx.assets.pickle_safe import load_pickle
from rome_smplx.cli import main
from rome_smplx.io.atomic import MARKER

#: People of the seed-1 synthetic set whose photos mediapipe finds a face in (person 4's it does not:
#: it serves as a bad row below).
GOOD = (0, 1, 2, 3, 5, 6, 7, 8)
NO_FACE = 4
TEXTURE = 64


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Assets with 9 synthetic people, a 2-frame motion and a JSONL manifest of the 8 good ones."""
    from rome_smplx.assets.synthetic import write_synthetic_assets

    d = tmp_path_factory.mktemp("batch_world")
    assets = write_synthetic_assets(d / "assets", seed=1, head_vertices=1800, people=max(GOOD) + 1)
    np.savez(d / "wave.npz", poses=np.zeros((2, 165)), trans=np.zeros((2, 3)), mocap_frame_rate=np.array(30.0))
    rows = []
    for i in GOOD:
        p = f"assets/people/person_{i:03d}"
        rows.append({"id": f"person-{i}", "image": f"{p}/photo_256.png", "pixie": f"{p}/person_{i:03d}_param.pkl",
                     "mask": f"{p}/mask_256.png", "motion": str(d / "wave.npz")})  # relative and absolute paths
    _write_jsonl(d / "people.jsonl", rows)
    return {"dir": d, "assets": Path(assets), "rows": rows, "manifest": d / "people.jsonl"}


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _write_csv(path: Path, rows, columns=rb.MANIFEST_KEYS) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns))
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in columns})
    return path


def _settings(**kw) -> rb.BatchSettings:
    return rb.BatchSettings(texture_size=TEXTURE, **kw)


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / rb.RESULTS_FILE).read_text().splitlines()]


def _glb_vertices(path: Path) -> np.ndarray:
    return np.asarray(trimesh.load(path, force="mesh", process=False).vertices)


@pytest.fixture(scope="module")
def local_out(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch_local") / "avatars"
    results = rb.run_batch(world["manifest"], out, engine="local", assets=world["assets"], settings=_settings())
    return out, results


# ------------------------------------------------------------------------------------------ manifests
def test_jsonl_and_csv_manifests_give_the_same_rows(world, tmp_path):
    rows = world["rows"] + [{"id": "only.required", "image": "/abs/photo.png", "pixie": "x_param.pkl"}]
    a = rb.read_manifest(_write_jsonl(tmp_path / "m.jsonl", rows))
    b = rb.read_manifest(_write_csv(tmp_path / "m.csv", rows))
    assert [dataclass_dict(r) for r in a] == [dataclass_dict(r) for r in b]
    assert [r.line for r in a] == list(range(1, len(rows) + 1)) and [r.line for r in b] == list(range(2, len(rows) + 2))
    # relative paths are taken from the manifest's folder, absolute ones are kept; empty optionals are None
    assert a[0].image == str(tmp_path / world["rows"][0]["image"]) and a[0].motion == world["rows"][0]["motion"]
    assert a[-1].image == "/abs/photo.png" and a[-1].mask is None and b[-1].deca is None


def dataclass_dict(row: rb.BatchRow) -> dict:
    d = row.to_dict()
    d.pop("line")
    return d


_GOOD_ROW = {"id": "a", "image": "a.png", "pixie": "a_param.pkl"}


@pytest.mark.parametrize(("content", "name", "pattern"), [
    ([_GOOD_ROW, {"id": "b", "image": "b.png"}], "m.jsonl", r"m\.jsonl:2: missing key 'pixie'"),
    ([_GOOD_ROW, {**_GOOD_ROW, "image": "c.png"}], "m.jsonl", r"m\.jsonl:2: duplicate id 'a' \(first on line 1\)"),
    ([_GOOD_ROW, {**_GOOD_ROW, "id": "A"}], "m.csv", r"m\.csv:3: duplicate id 'A' \(first on line 2\)"),
    ([{**_GOOD_ROW, "id": "../escape"}], "m.jsonl", r"m\.jsonl:1: id '\.\./escape' is not a safe folder name"),
    ([_GOOD_ROW, {**_GOOD_ROW, "id": "x/y"}], "m.csv", r"m\.csv:3: id 'x/y' is not a safe folder name"),
    ([{**_GOOD_ROW, "id": "results.jsonl"}], "m.jsonl", r"m\.jsonl:1: id 'results\.jsonl' is not a safe"),
    ([{**_GOOD_ROW, "maks": "m.png"}], "m.jsonl", r"m\.jsonl:1: unknown key 'maks'"),
    ([{**_GOOD_ROW, "id": 7}], "m.jsonl", r"m\.jsonl:1: 'id' must be a string, found int"),
    ('{"id": "a", "image": "a.png", "pixie": "p.pkl"}\n\n{"id": "b",\n', "m.jsonl", r"m\.jsonl:3: expected one JSON"),
    ("[1, 2]\n", "m.jsonl", r"m\.jsonl:1: expected a JSON object, found list"),
    ("id,image\na,a.png\n", "m.csv", r"m\.csv:1: missing column 'pixie'"),
    ("id,image,pixie\na,a.png,p.pkl,extra\n", "m.csv", r"m\.csv:2: more fields than the header"),
    ("\n\n", "m.jsonl", r"m\.jsonl: the manifest has no rows"),
    ("id,image,pixie\n", "m.txt", r"m\.txt: expected a \.jsonl or \.csv manifest"),
])
def test_bad_manifest_is_one_error_line_naming_file_and_line(tmp_path, monkeypatch, content, name, pattern):
    def boom(*a, **k):
        raise AssertionError("models were loaded before the manifest was checked")

    monkeypatch.setattr(rb.AvatarWorker, "__init__", boom)
    m = tmp_path / name
    if isinstance(content, str):
        m.write_text(content)
    elif name.endswith(".csv"):
        _write_csv(m, content, columns=("id", "image", "pixie"))
    else:
        _write_jsonl(m, content)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["batch", "--manifest", str(m), "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and re.search(pattern, lines[0]), res.output
    assert "Traceback" not in res.output and not out.exists()


def test_missing_manifest_and_address_without_ray(tmp_path):
    res = CliRunner().invoke(main, ["batch", "--manifest", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "none.jsonl: manifest not found" in res.output
    m = _write_jsonl(tmp_path / "m.jsonl", [_GOOD_ROW])
    res = CliRunner().invoke(main, ["batch", "--manifest", str(m), "--out", str(tmp_path / "o"), "--address", "auto"])
    assert res.exit_code == 2 and "--address joins a Ray cluster: it needs --engine ray" in res.output
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------ engines
def test_local_engine_writes_every_row_atomically(world, local_out):
    out, results = local_out
    ids = [r["id"] for r in world["rows"]]
    assert [r["id"] for r in results] == ids and _results(out) == results
    assert all(r["status"] == "ok" and r["error"] is None and r["seconds"] > 0 for r in results), results
    for rid in ids:
        folder = out / rid
        assert sorted(p.name for p in folder.iterdir()) == sorted([rb.AVATAR_FILE, rb.SUMMARY_FILE, MARKER])
        summary = json.loads((folder / rb.SUMMARY_FILE).read_text())
        assert summary["id"] == rid and summary["flame_source"] == "landmark_fit"
        assert 0 < summary["landmark_fit_error_px"] < 6.0  # mean px at 256 on a synthetic photo
        assert set(summary["timings_s"]) == set(rb.STAGES) and all(v >= 0 for v in summary["timings_s"].values())
        assert summary["flame_fit_s"] == summary["timings_s"]["flame"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_local_engine_equals_the_single_photo_pipeline(world, local_out):
    """The batch reuses one head model and merges 4 rows at once; `rome-smplx avatar` loads the model
    and merges one photo: the written meshes are the same."""
    out, _ = local_out
    row = world["rows"][5]
    d = world["dir"]
    args = ["avatar", "--image", str(d / row["image"]), "--pixie", str(d / row["pixie"]), "--mask",
            str(d / row["mask"]), "--motion", row["motion"], "--assets", str(world["assets"]), "--texture-size",
            str(TEXTURE), "--out", str(d / "single.glb")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    single, batched = _glb_vertices(d / "single.glb"), _glb_vertices(out / row["id"] / rb.AVATAR_FILE)
    assert single.shape == batched.shape
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=0)
    # and the people differ from each other (the comparison is not vacuous)
    other = _glb_vertices(out / world["rows"][0]["id"] / rb.AVATAR_FILE)
    assert np.abs(other - single).max() > 1e-3


def test_second_run_skips_every_row_and_csv_agrees(world, local_out, tmp_path, monkeypatch):
    out, first = local_out
    stamps = {p: p.stat().st_mtime_ns for p in out.glob(f"*/{rb.AVATAR_FILE}")}

    def boom(*a, **k):
        raise AssertionError("a complete row was run again")

    monkeypatch.setattr(rb.AvatarWorker, "run", boom)
    again = rb.run_batch(world["manifest"], out, assets=world["assets"], settings=_settings())
    assert [r["status"] for r in again] == ["skipped"] * len(first) and _results(out) == again
    # The same rows as CSV (beside the JSONL, so the same relative paths) describe the same inputs.
    csv_manifest = _write_csv(world["dir"] / "people.csv", world["rows"])
    res = CliRunner().invoke(main, ["batch", "--manifest", str(csv_manifest), "--out", str(out), "--assets",
                                    str(world["assets"]), "--texture-size", str(TEXTURE)])
    assert res.exit_code == 0, res.output
    assert f"0 written, {len(first)} skipped, 0 failed" in res.output
    assert {p: p.stat().st_mtime_ns for p in out.glob(f"*/{rb.AVATAR_FILE}")} == stamps
    # Other settings are other outputs: nothing is skipped then.
    todo = []

    def fake_engine(rows, out_dir, assets, settings, report, **kw):
        todo.extend(r.id for r in rows)
        for r in rows:
            report(rb._result(r.id, "ok", 0.0))

    monkeypatch.setattr(rb, "_run_local", fake_engine)
    rb.run_batch(world["manifest"], out, assets=world["assets"], settings=_settings(variant="full"))
    assert todo == [r["id"] for r in world["rows"]]
    _write_results_back(out, again)


def _write_results_back(out: Path, results) -> None:
    (out / rb.RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in results))


class _Evil:
    def __init__(self, flag: Path):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def test_bad_rows_are_recorded_and_the_others_complete(world, tmp_path):
    d, assets = tmp_path, world["assets"]
    people = assets / "people"
    good = {"id": "good", "image": str(people / "person_000/photo_256.png"),
            "pixie": str(people / "person_000/person_000_param.pkl"), "mask": str(people / "person_000/mask_256.png"),
            "motion": str(world["dir"] / "wave.npz")}
    params = load_pickle(people / "person_000/person_000_param.pkl")
    params["shape"] = np.full_like(params["shape"], np.nan)
    (d / "nan_param.pkl").write_bytes(pickle.dumps(params))
    flag = d / "pwned"
    (d / "evil_param.pkl").write_bytes(pickle.dumps({"shape": _Evil(flag)}))
    (d / "corrupt_param.pkl").write_bytes(b"\x80\x02}q\x00(X\x05\x00\x00\x00shape")
    (d / "text.png").write_text("this is not an image")
    (d / "taken").mkdir()
    (d / "taken" / "mine.txt").write_text("keep")
    rows = [
        {**good, "id": "missing-image", "image": "nowhere.png"},
        {**good, "id": "nan-pixie", "pixie": "nan_param.pkl"},
        good,
        {**good, "id": "evil-pixie", "pixie": "evil_param.pkl"},
        {**good, "id": "corrupt-pixie", "pixie": "corrupt_param.pkl"},
        {**good, "id": "not-an-image", "image": "text.png"},
        {**good, "id": "no-face", "image": str(people / f"person_{NO_FACE:03d}/photo_256.png"),
         "mask": str(people / f"person_{NO_FACE:03d}/mask_256.png")},
        {**good, "id": "bad-motion", "motion": "text.png"},
    ]
    out = d
    res = CliRunner().invoke(main, ["batch", "--manifest", str(_write_jsonl(d / "m.jsonl", rows)), "--out", str(out),
                                    "--assets", str(assets), "--texture-size", str(TEXTURE)])
    assert res.exit_code == 1, res.output
    assert "1 written, 0 skipped, 7 failed" in res.output and "Traceback" not in res.output
    got = {r["id"]: r for r in _results(out)}
    assert list(got) == [r["id"] for r in rows]
    assert got["good"]["status"] == "ok" and (out / "good" / rb.AVATAR_FILE).is_file()
    expect = {
        "missing-image": "nowhere.png", "nan-pixie": "nan_param.pkl", "evil-pixie": "evil_param.pkl",
        "corrupt-pixie": "corrupt_param.pkl", "not-an-image": "text.png", "no-face": "no face found",
        "bad-motion": "text.png",
    }
    for rid, needle in expect.items():
        r = got[rid]
        assert r["status"] == "error" and needle in r["error"] and "\n" not in r["error"], r
        assert not (out / rid).exists()
    assert "NaN" in got["nan-pixie"]["error"] and not flag.exists()
    # a folder that is not ours is never replaced
    rows2 = [{**good, "id": "taken"}]
    res = CliRunner().invoke(main, ["batch", "--manifest", str(_write_jsonl(d / "m2.jsonl", rows2)), "--out", str(out),
                                    "--assets", str(assets)])
    assert res.exit_code == 1 and "not written by rome-smplx" in _results(out)[0]["error"]
    assert sorted(p.name for p in (d / "taken").iterdir()) == ["mine.txt"]


# ------------------------------------------------------------------------------------------------ ray
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    rb.start_local_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine_gives_the_local_engines_meshes(world, local_out, ray_cluster, tmp_path):
    out_local, _ = local_out
    out = tmp_path / "ray"
    results = rb.run_batch(world["manifest"], out, engine="ray", assets=world["assets"], workers=2,
                           settings=_settings(batch_size=2))
    assert [r["id"] for r in results] == [r["id"] for r in world["rows"]] and _results(out) == results
    assert all(r["status"] == "ok" for r in results), results
    for row in world["rows"]:
        a, b = _glb_vertices(out_local / row["id"] / rb.AVATAR_FILE), _glb_vertices(out / row["id"] / rb.AVATAR_FILE)
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=0, err_msg=row["id"])
    # the Ray run resumes like the local one
    again = rb.run_batch(world["manifest"], out, engine="ray", assets=world["assets"], settings=_settings(batch_size=2))
    assert [r["status"] for r in again] == ["skipped"] * len(results)
