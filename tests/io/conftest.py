"""Real clients for the export tests: the Khronos glTF validator (node), Blender (bpy), a glTF decoder.

* ``gltf_validator``: runs ``gltf-validator`` (npm) under node on GLB files. It is looked up in
  ``$GLTF_VALIDATOR_DIR``, the project's ``.ci/node/node_modules`` (``npm ci --prefix .ci/node``), or
  installed once with npm into ``$ROME_SMPLX_CACHE/node`` (default ``~/.cache/rome_smplx/node``).
* ``blender``: runs ``tests/io/blender_probe.py`` in a Python that has ``bpy`` (``$ROME_SMPLX_BLENDER_PYTHON``
  or this interpreter when ``bpy`` is importable, i.e. the ``blender`` extra) as a subprocess, so
  Blender's process-wide state never meets the test process.
* ``decode_glb`` / ``evaluate_glb``: an independent reading of a GLB with pygltflib, and glTF's own
  skinning equations (node TRS, inverse bind matrices, morph weights) evaluated at a keyframe.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


# ----------------------------------------------------------------------------------------- validator
def _validator_dir() -> Path | None:
    env = os.environ.get("GLTF_VALIDATOR_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT / ".ci" / "node" / "node_modules")
    cache = Path(os.environ.get("ROME_SMPLX_CACHE", Path.home() / ".cache" / "rome_smplx")).expanduser()
    candidates.append(cache / "node" / "node_modules")
    for c in candidates:
        if (c / "gltf-validator" / "package.json").is_file():
            return c
    npm = shutil.which("npm")
    if npm is None:
        return None
    target = cache / "node"
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(target), "--no-audit", "--no-fund", "gltf-validator"],
                          capture_output=True, text=True, timeout=300)
    if done.returncode == 0 and (target / "node_modules" / "gltf-validator").is_dir():
        return target / "node_modules"
    return None


@pytest.fixture(scope="session")
def gltf_validator():
    """``validate(*paths) -> [report]``; each report has ``numErrors``, ``numWarnings``, ``messages``."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (needed for the Khronos glTF validator)")
    where = _validator_dir()
    if where is None:
        pytest.skip("gltf-validator is not installed and npm could not install it (run `npm ci --prefix .ci/node`)")

    def validate(*paths):
        out = subprocess.run([node, str(HERE / "validate_gltf.mjs"), str(where), *map(str, paths)],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    return validate


# ------------------------------------------------------------------------------------------- blender
def _blender_python() -> str | None:
    env = os.environ.get("ROME_SMPLX_BLENDER_PYTHON")
    if env:
        return env
    if importlib.util.find_spec("bpy") is not None:
        return sys.executable
    return None


@pytest.fixture(scope="session")
def blender(tmp_path_factory):
    """``run(request: dict) -> (report: dict, arrays: dict)`` through ``blender_probe.py``."""
    py = _blender_python()
    if py is None:
        pytest.skip("Blender's bpy module is not installed (pip install 'rome-smplx[blender]')")
    work = tmp_path_factory.mktemp("blender")
    count = [0]

    def run(request: dict):
        count[0] += 1
        req = dict(request)
        req.setdefault("out", str(work / f"out_{count[0]}.npz"))
        path = work / f"request_{count[0]}.json"
        path.write_text(json.dumps(req))
        env = dict(os.environ, OMP_NUM_THREADS="1")
        done = subprocess.run([py, str(HERE / "blender_probe.py"), str(path)], capture_output=True, text=True,
                              timeout=900, env=env)
        assert done.returncode == 0, done.stderr[-4000:]
        with np.load(req["out"]) as z:
            arrays = {k: z[k] for k in z.files}
        return json.loads(Path(req["out"] + ".json").read_text()), arrays

    return run


@pytest.fixture(scope="session")
def smplx_rig(synthetic_dir_small, tmp_path_factory):
    """The synthetic SMPL-X (small head: counts are not the real ones) with shaped template and UVs."""
    import torch
    from smplx.joint_names import JOINT_NAMES

    from rome_smplx.assets import Assets
    from rome_smplx.avatar.export import RigInput

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROME_SMPLX_CACHE", str(tmp_path_factory.mktemp("cache")))
        assets = Assets.from_dir(synthetic_dir_small)
        layer = assets.smplx_layer(num_betas=200, num_expression_coeffs=50)
        vt, ft = assets.smplx_uv_layout()
    betas = torch.zeros(1, 200, dtype=torch.float64)
    betas[0, :4] = torch.tensor([0.8, -0.5, 0.3, 0.2])
    layer = layer.double()
    with torch.no_grad():
        template = layer.v_template + torch.einsum("vck,k->vc", layer.shapedirs, betas[0])
        joints = layer.J_regressor @ template
        jexpr = torch.einsum("jv,vce->jce", layer.J_regressor, layer.expr_dirs)
    n = layer.lbs_weights.shape[1]
    rig = RigInput(template, layer.faces_tensor, joints, layer.parents, layer.lbs_weights, JOINT_NAMES[:n],
                   expr_dirs=layer.expr_dirs, posedirs=layer.posedirs, joint_expr_dirs=jexpr, uvs=vt, uv_faces=ft)
    return rig, layer, betas


# ------------------------------------------------------------------------------------------- decoding
_NP = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5120: np.int8, 5122: np.int16}
_N = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def _accessor(g, blob: bytes, i: int) -> np.ndarray:
    a = g.accessors[i]
    n = _N[a.type]
    dt = np.dtype(_NP[a.componentType])
    if a.bufferView is not None:
        bv = g.bufferViews[a.bufferView]
        off = (bv.byteOffset or 0) + (a.byteOffset or 0)
        assert bv.byteStride in (None, 0, n * dt.itemsize)
        out = np.frombuffer(blob, dtype=dt, count=a.count * n, offset=off).reshape(a.count, n).astype(np.float64)
    else:
        out = np.zeros((a.count, n))
    if a.sparse is not None:
        s = a.sparse
        ib = g.bufferViews[s.indices.bufferView]
        idx = np.frombuffer(blob, dtype=_NP[s.indices.componentType], count=s.count,
                            offset=(ib.byteOffset or 0) + (s.indices.byteOffset or 0))
        vb = g.bufferViews[s.values.bufferView]
        vals = np.frombuffer(blob, dtype=dt, count=s.count * n, offset=(vb.byteOffset or 0) + (s.values.byteOffset or 0))
        out[idx.astype(np.int64)] = vals.reshape(s.count, n)
    if a.normalized:
        out = out / np.iinfo(dt).max
    return out


def decode_glb(path) -> dict:
    """Everything the export tests compare, read with pygltflib (no rome_smplx code)."""
    import pygltflib

    g = pygltflib.GLTF2().load(str(path))
    blob = g.binary_blob()
    mesh = g.meshes[0]
    prim = mesh.primitives[0]
    attrs = {k: v for k, v in prim.attributes.__dict__.items() if v is not None}
    out = {"gltf": g, "blob": blob,
           "indices": _accessor(g, blob, prim.indices).reshape(-1, 3).astype(np.int64),
           "attributes": {k: _accessor(g, blob, v) for k, v in attrs.items()},
           "targets": [_accessor(g, blob, t["POSITION"]) for t in (prim.targets or [])],
           "target_names": (mesh.extras or {}).get("targetNames", []),
           "mesh_weights": np.asarray(mesh.weights or [], np.float64),
           "nodes": g.nodes, "extras": g.asset.extras or {}}
    if g.animations:
        anim = g.animations[0]
        out["animation"] = {(c.target.node, c.target.path): _accessor(g, blob, anim.samplers[c.sampler].output)
                            for c in anim.channels}
    if g.skins:
        skin = g.skins[0]
        out["skin_joints"] = list(skin.joints)
        out["ibm"] = _accessor(g, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    if g.images:
        from io import BytesIO

        from PIL import Image

        bv = g.bufferViews[g.images[0].bufferView]
        data = blob[(bv.byteOffset or 0):(bv.byteOffset or 0) + bv.byteLength]
        out["texture"] = np.asarray(Image.open(BytesIO(data)).convert("RGB"))
    return out


def _quat_to_matrix(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def evaluate_glb(d: dict, frame: int | None = None) -> np.ndarray:
    """Skinned, morphed glTF vertex positions ``(N, 3)`` at animation keyframe ``frame`` (or the static pose)."""
    g, blob = d["gltf"], d["blob"]
    trs = {i: [np.asarray(n.translation or [0, 0, 0], float), np.asarray(n.rotation or [0, 0, 0, 1], float)]
           for i, n in enumerate(g.nodes)}
    weights = d["mesh_weights"].copy()
    if frame is not None:
        anim = g.animations[0]
        for ch in anim.channels:
            s = anim.samplers[ch.sampler]
            out = _accessor(g, blob, s.output)
            if ch.target.path == "weights":
                m = len(weights)
                weights = out.reshape(-1, m)[frame]
            elif ch.target.path == "rotation":
                trs[ch.target.node][1] = out[frame]
            elif ch.target.path == "translation":
                trs[ch.target.node][0] = out[frame]
    parent = {}
    for i, n in enumerate(g.nodes):
        for c in n.children or []:
            parent[c] = i
    world = {}

    def node_world(i):
        if i not in world:
            m = np.eye(4)
            m[:3, :3] = _quat_to_matrix(trs[i][1])
            m[:3, 3] = trs[i][0]
            world[i] = m if i not in parent else node_world(parent[i]) @ m
        return world[i]

    pos = d["attributes"]["POSITION"].copy()
    for w, t in zip(weights, d["targets"]):
        pos += w * t
    if "skin_joints" not in d:
        return pos
    M = np.stack([node_world(j) for j in d["skin_joints"]]) @ d["ibm"]
    J = d["attributes"]["JOINTS_0"].astype(np.int64)
    W = d["attributes"]["WEIGHTS_0"]
    S = np.einsum("vk,vkab->vab", W, M[J])
    return np.einsum("vab,vb->va", S[:, :3, :3], pos) + S[:, :3, 3]


@pytest.fixture(name="decode_glb")
def _decode_fixture():
    return decode_glb


@pytest.fixture(name="evaluate_glb")
def _evaluate_fixture():
    return evaluate_glb
