"""Shape, dtype and range rules for every asset file, and the report :meth:`Assets.check` returns.

The rules follow what the ``smplx`` package needs to build its models (see
``docs``/reference: 55 SMPL-X joints, ``posedirs`` 9 x (J - 1) wide, 300 shape + 100 expression
components, hands_* keys present), plus what rome-smplx needs on top (landmark embeddings, the FLAME
-> SMPL-X correspondence, ROME's data files). Vertex, face and joint counts are read from the files
and cross-checked between them; only the smplx package's own constants and the 68-landmark layout are
fixed.

Validators never raise on bad content: they collect every problem as an :class:`Issue` so a report
can list all of them at once.

Decision on small shape spaces: a SMPL-X or FLAME file with fewer than 400 shape components
(e.g. SMPL-X v1.0 with 10 + 10) is ``invalid``. smplx would silently fall back to 10 betas and 10
expressions, which cannot represent PIXIE's 200 betas + 50 expressions or DECA's 100 + 50.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rome_smplx.assets.readers import read_pickle_any, read_tensor_file, to_numpy

# The 68-point landmark layout of FLAME/DECA/smplx: 51 static inner-face points + 17 contour points;
# the contour look-up table has one row per degree of yaw in [-39, 39] (79 rows).
NUM_STATIC_LANDMARKS = 51
NUM_CONTOUR_LANDMARKS = 17
NUM_YAW_BINS = 79

#: Tolerance on ``|U^T U - I|`` for the orthonormal linear basis ``u_full.pt``.
ORTHONORMAL_TOL = 1e-3


def _smplx_consts() -> dict[str, int]:
    """Constants the smplx package hard-codes (taken from its classes, not re-typed here)."""
    import smplx
    from smplx.vertex_ids import vertex_ids

    return {
        "smplx_joints": smplx.SMPLX.NUM_JOINTS + 1,  # + root
        "smplx_hand_dims": 3 * smplx.SMPLX.NUM_HAND_JOINTS,
        "smplx_components": smplx.SMPLX.SHAPE_SPACE_DIM + smplx.SMPLX.EXPRESSION_SPACE_DIM,
        "smplx_min_vertices": max(int(v) for v in vertex_ids["smplx"].values()) + 1,
        "flame_joints": smplx.FLAME.NUM_JOINTS,  # global, neck, jaw, left eye, right eye
        "flame_components": smplx.FLAME.SHAPE_SPACE_DIM + smplx.FLAME.EXPRESSION_SPACE_DIM,
    }


@dataclass(frozen=True)
class Issue:
    """One problem found in one file: ``status`` is ``"invalid"`` or ``"patched"``."""

    status: str
    reason: str


class Collector:
    """Collects issues while pulling typed arrays out of a dict (never raises on bad content)."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def invalid(self, reason: str) -> None:
        self.issues.append(Issue("invalid", reason))

    def patched(self, reason: str) -> None:
        self.issues.append(Issue("patched", reason))

    @property
    def failed(self) -> bool:
        return any(i.status == "invalid" for i in self.issues)

    def array(
        self,
        data: Any,
        key: str | None,
        kind: str,
        ndim: int | tuple[int, ...] | None = None,
        required: bool = True,
        label: str | None = None,
    ) -> np.ndarray | None:
        """``data[key]`` (or ``data`` itself when ``key`` is None) as a checked ndarray.

        Args:
            kind: ``"float"`` (floating, finite) or ``"int"`` (signed/unsigned integer).
            ndim: accepted number(s) of dimensions.
        Returns:
            float32 / int64 ndarray, or ``None`` when absent or invalid (the issue is recorded).
        """
        name = label or (f"key '{key}'" if key is not None else "content")
        if key is not None:
            if not isinstance(data, dict) or key not in data:
                if required:
                    self.invalid(f"missing {name}")
                return None
            value = data[key]
        else:
            value = data
        try:
            arr = to_numpy(value)
        except Exception as e:  # TypeError / ValueError from ragged or non-numeric content
            self.invalid(f"{name}: expected a numeric array, found {type(value).__name__} ({e})")
            return None
        dims = (ndim,) if isinstance(ndim, int) else ndim
        if dims is not None and arr.ndim not in dims:
            want = " or ".join(f"{d}-D" for d in dims)
            self.invalid(f"{name}: expected a {want} array, found shape {arr.shape}")
            return None
        if kind == "float":
            if arr.dtype.kind != "f":
                self.invalid(f"{name}: expected a floating-point array, found dtype {arr.dtype}")
                return None
            if not np.isfinite(arr).all():
                bad = int((~np.isfinite(arr)).sum())
                self.invalid(f"{name}: contains {bad} NaN/inf value(s)")
                return None
            return arr.astype(np.float32, copy=False)
        if kind == "int":
            if arr.dtype.kind not in "iu":
                self.invalid(f"{name}: expected an integer array, found dtype {arr.dtype}")
                return None
            return arr.astype(np.int64)
        raise ValueError(kind)  # programming error, not a file problem

    def shape(self, arr: np.ndarray | None, name: str, want: tuple, what: str = "") -> bool:
        """Check ``arr.shape`` against ``want`` (``None`` = free); record an issue when it differs."""
        if arr is None:
            return False
        if arr.ndim != len(want) or any(w is not None and w != s for w, s in zip(want, arr.shape)):
            w = "(" + ", ".join("*" if x is None else str(x) for x in want) + ("," if len(want) == 1 else "") + ")"
            self.invalid(f"{name}: expected shape {w}{what}, found {tuple(arr.shape)}")
            return False
        return True

    def in_range(self, arr: np.ndarray | None, name: str, hi: int | None, what: str) -> bool:
        """Check integer ``arr`` lies in ``[0, hi)``."""
        if arr is None:
            return False
        if arr.size == 0:
            return True
        lo_v, hi_v = int(arr.min()), int(arr.max())
        if lo_v < 0 or (hi is not None and hi_v >= hi):
            bound = f"[0, {hi})" if hi is not None else "[0, inf)"
            self.invalid(f"{name}: indices must lie in {bound} ({what}), found range [{lo_v}, {hi_v}]")
            return False
        return True


def _parents_ok(c: Collector, kintree: np.ndarray, name: str) -> np.ndarray | None:
    parents = kintree[0].astype(np.int64).copy()
    parents[0] = -1  # smplx forces the root's parent (often uint32 max) to -1
    idx = np.arange(len(parents))
    bad = np.nonzero((parents[1:] < 0) | (parents[1:] >= idx[1:]))[0]
    if bad.size:
        j = int(bad[0]) + 1
        c.invalid(f"{name}: row 0 must list each joint's parent before it, joint {j} has parent {int(parents[j])}")
        return None
    return parents


def _validate_body(c: Collector, raw: dict, joints: int, min_components: int, model: str) -> dict:
    """Rules shared by SMPL-X and FLAME: template, faces, blend shapes, skinning."""
    out: dict[str, Any] = {}
    v = c.array(raw, "v_template", "float", 2)
    nv = v.shape[0] if c.shape(v, "key 'v_template'", (None, 3)) else None
    out["v_template"] = v if nv else None

    f = c.array(raw, "f", "int", 2)
    if c.shape(f, "key 'f'", (None, 3)) and c.in_range(f, "key 'f'", nv, "vertex count of v_template"):
        out["f"] = f

    sd = c.array(raw, "shapedirs", "float", (2, 3))
    if sd is not None:
        if sd.ndim == 2:
            sd = sd[:, :, None]
        if c.shape(sd, "key 'shapedirs'", (nv, 3, None)):
            if sd.shape[2] < min_components:
                c.invalid(
                    f"key 'shapedirs': expected at least {min_components} components (300 shape + 100 "
                    f"expression, as {model} 2020 files have), found {sd.shape[2]}; an older {model} "
                    "file cannot hold 200/100 shape and 50 expression coefficients"
                )
            else:
                out["shapedirs"] = sd

    npose = 9 * (joints - 1)
    pd = c.array(raw, "posedirs", "float", (2, 3))
    if pd is not None:
        ok = pd.shape[-1] == npose and (nv is None or int(np.prod(pd.shape[:-1])) == 3 * nv)
        if not ok:
            c.invalid(
                f"key 'posedirs': expected shape ({nv if nv else 'V'}, 3, {npose}) "
                f"({joints - 1} joints x 9), found {tuple(pd.shape)}"
            )
        elif nv:
            out["posedirs"] = pd.reshape(nv, 3, npose)

    jr = c.array(raw, "J_regressor", "float", 2)
    if c.shape(jr, "key 'J_regressor'", (joints, nv), f" ({joints} joints x vertices)"):
        out["J_regressor"] = jr
    w = c.array(raw, "weights", "float", 2)
    if c.shape(w, "key 'weights'", (nv, joints), f" (vertices x {joints} joints)"):
        out["weights"] = w
    kt = c.array(raw, "kintree_table", "int", 2)
    if c.shape(kt, "key 'kintree_table'", (2, joints)):
        parents = _parents_ok(c, kt, "key 'kintree_table'")
        if parents is not None:
            out["kintree_table"] = kt
            out["parents"] = parents
    return out


def _validate_uv_layout(c: Collector, raw: dict, nf: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """SMPL-X's optional UV layout: ``vt`` (U, 2) finite floats and ``ft`` (F, 3) indices into ``vt``,
    one row per row of ``f``. Absent (neither key): ``None`` without an issue. One key without the
    other, or either malformed: an ``invalid`` issue (the file is damaged, not merely older)."""
    has_vt, has_ft = "vt" in raw, "ft" in raw
    if not (has_vt or has_ft):
        return None
    if has_vt != has_ft:
        present, absent = ("vt", "ft") if has_vt else ("ft", "vt")
        c.invalid(f"key '{present}' (UV layout) is present but key '{absent}' is missing; the UV layout needs "
                  "both vt (U, 2) and ft (F, 3)")
        return None
    vt = c.array(raw, "vt", "float", 2)
    ft = c.array(raw, "ft", "int", 2)
    ok = c.shape(vt, "key 'vt'", (None, 2), " (UV coordinates)")
    ok = c.shape(ft, "key 'ft'", (nf, 3), " (one UV triangle per face of f)") and ok
    if ok and c.in_range(ft, "key 'ft'", vt.shape[0], "row count of vt"):
        return vt, ft
    return None


def validate_smplx(raw: dict) -> tuple[dict, list[Issue]]:
    """Validate a SMPL-X model dict; returns (clean arrays, issues). Patches missing hands_* keys."""
    k = _smplx_consts()
    c = Collector()
    out = _validate_body(c, raw, k["smplx_joints"], k["smplx_components"], "SMPL-X")
    v = out.get("v_template")
    nv = None if v is None else v.shape[0]
    if nv is not None and nv < k["smplx_min_vertices"]:
        c.invalid(
            f"key 'v_template': smplx picks extra joints by vertex index up to {k['smplx_min_vertices'] - 1}, "
            f"but the mesh has only {nv} vertices"
        )
    nf = out["f"].shape[0] if "f" in out else None
    hd = k["smplx_hand_dims"]
    for side in ("l", "r"):
        comp_key, mean_key = f"hands_components{side}", f"hands_mean{side}"
        if comp_key in raw:
            comp = c.array(raw, comp_key, "float", 2)
            if c.shape(comp, f"key '{comp_key}'", (None, hd)):
                out[comp_key] = comp
        else:
            c.patched(f"key '{comp_key}' missing: using a {hd}x{hd} identity (full hand poses need no PCA)")
            out[comp_key] = np.eye(hd, dtype=np.float32)
        if mean_key in raw:
            mean = c.array(raw, mean_key, "float", 1)
            if c.shape(mean, f"key '{mean_key}'", (hd,)):
                out[mean_key] = mean
        else:
            c.patched(f"key '{mean_key}' missing: using a zero mean (flat hand)")
            out[mean_key] = np.zeros(hd, dtype=np.float32)

    uv = _validate_uv_layout(c, raw, nf)
    if uv is not None:
        out["vt"], out["ft"] = uv

    li = c.array(raw, "lmk_faces_idx", "int", 1)
    lb = c.array(raw, "lmk_bary_coords", "float", 2)
    if c.in_range(li, "key 'lmk_faces_idx'", nf, "face count of f") and c.shape(
        lb, "key 'lmk_bary_coords'", (li.shape[0], 3)
    ):
        out["lmk_faces_idx"], out["lmk_bary_coords"] = li, lb
    if "dynamic_lmk_faces_idx" in raw or "dynamic_lmk_bary_coords" in raw:
        di = c.array(raw, "dynamic_lmk_faces_idx", "int", 2)
        db = c.array(raw, "dynamic_lmk_bary_coords", "float", 3)
        ok = c.shape(di, "key 'dynamic_lmk_faces_idx'", (NUM_YAW_BINS, None))
        ok = c.in_range(di, "key 'dynamic_lmk_faces_idx'", nf, "face count of f") and ok
        if ok and c.shape(db, "key 'dynamic_lmk_bary_coords'", (NUM_YAW_BINS, di.shape[1], 3)):
            out["dynamic_lmk_faces_idx"], out["dynamic_lmk_bary_coords"] = di, db
    return out, c.issues


def validate_flame(raw: dict) -> tuple[dict, list[Issue]]:
    """Validate a FLAME model dict (chumpy arrays already converted); returns (clean, issues)."""
    k = _smplx_consts()
    c = Collector()
    out = _validate_body(c, raw, k["flame_joints"], k["flame_components"], "FLAME")
    return out, c.issues


@dataclass
class Embedding:
    """Landmark embedding arrays (numpy) as read from RingNet or DECA files."""

    static_faces: np.ndarray | None = None
    static_bary: np.ndarray | None = None
    dynamic_faces: np.ndarray | None = None
    dynamic_bary: np.ndarray | None = None
    full_faces: np.ndarray | None = None
    full_bary: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def _static(c: Collector, raw: Any, fk: str, bk: str, nf: int | None) -> tuple:
    fi = c.array(raw, fk, "int", (1, 2))
    if fi is not None and fi.ndim == 2 and fi.shape[0] == 1:
        fi = fi[0]
    fb = c.array(raw, bk, "float", (2, 3))
    if fb is not None and fb.ndim == 3 and fb.shape[0] == 1:
        fb = fb[0]
    ok = c.shape(fi, f"key '{fk}'", (NUM_STATIC_LANDMARKS,), " (51 static landmarks)")
    ok = c.in_range(fi, f"key '{fk}'", nf, "FLAME face count") and ok
    ok = c.shape(fb, f"key '{bk}'", (NUM_STATIC_LANDMARKS, 3)) and ok
    return (fi, fb) if ok else (None, None)


def _dynamic(c: Collector, raw: Any, fk: str, bk: str, nf: int | None) -> tuple:
    fi = c.array(raw, fk, "int", 2)
    fb = c.array(raw, bk, "float", 3)
    ok = c.shape(fi, f"key '{fk}'", (NUM_YAW_BINS, NUM_CONTOUR_LANDMARKS), " (79 yaw bins x 17 contour points)")
    ok = c.in_range(fi, f"key '{fk}'", nf, "FLAME face count") and ok
    ok = c.shape(fb, f"key '{bk}'", (NUM_YAW_BINS, NUM_CONTOUR_LANDMARKS, 3)) and ok
    return (fi, fb) if ok else (None, None)


def _need_dict(c: Collector, raw: Any) -> bool:
    if not isinstance(raw, dict):
        c.invalid(f"expected a dict of landmark arrays, found a {type(raw).__name__}")
        return False
    return True


def validate_static_embedding(raw: Any, num_faces: int | None) -> tuple[Embedding, list[Issue]]:
    """RingNet ``flame_static_embedding.pkl``: ``lmk_face_idx`` (51,), ``lmk_b_coords`` (51, 3)."""
    c = Collector()
    emb = Embedding()
    if _need_dict(c, raw):
        emb.static_faces, emb.static_bary = _static(c, raw, "lmk_face_idx", "lmk_b_coords", num_faces)
    return emb, c.issues


def validate_dynamic_embedding(raw: Any, num_faces: int | None) -> tuple[Embedding, list[Issue]]:
    """RingNet ``flame_dynamic_embedding.npy``: lists of 79 arrays, (79, 17) and (79, 17, 3)."""
    c = Collector()
    emb = Embedding()
    if _need_dict(c, raw):
        emb.dynamic_faces, emb.dynamic_bary = _dynamic(c, raw, "lmk_face_idx", "lmk_b_coords", num_faces)
    return emb, c.issues


def validate_deca_embedding(raw: Any, num_faces: int | None) -> tuple[Embedding, list[Issue]]:
    """DECA ``landmark_embedding.npy``: static (51), dynamic (79, 17) and optional full 68 points."""
    c = Collector()
    emb = Embedding()
    if not _need_dict(c, raw):
        return emb, c.issues
    emb.static_faces, emb.static_bary = _static(
        c, raw, "static_lmk_faces_idx", "static_lmk_bary_coords", num_faces
    )
    emb.dynamic_faces, emb.dynamic_bary = _dynamic(
        c, raw, "dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords", num_faces
    )
    if "full_lmk_faces_idx" in raw:
        n_full = NUM_STATIC_LANDMARKS + NUM_CONTOUR_LANDMARKS
        fi = c.array(raw, "full_lmk_faces_idx", "int", (1, 2))
        fb = c.array(raw, "full_lmk_bary_coords", "float", (2, 3))
        fi = fi[0] if fi is not None and fi.ndim == 2 else fi
        fb = fb[0] if fb is not None and fb.ndim == 3 else fb
        ok = c.shape(fi, "key 'full_lmk_faces_idx'", (n_full,))
        ok = c.in_range(fi, "key 'full_lmk_faces_idx'", num_faces, "FLAME face count") and ok
        if c.shape(fb, "key 'full_lmk_bary_coords'", (n_full, 3)) and ok:
            emb.full_faces, emb.full_bary = fi, fb
    return emb, c.issues


def validate_correspondence(raw: Any, num_flame: int | None, num_smplx: int | None):
    """``SMPL-X__FLAME_vertex_ids.npy``: (N_flame,) integer SMPL-X vertex indices."""
    c = Collector()
    arr = c.array(raw, None, "int", 1, label="correspondence array")
    if arr is not None:
        ok = c.shape(arr, "correspondence array", (num_flame,), " (one SMPL-X index per FLAME vertex)")
        ok = c.in_range(arr, "correspondence array", num_smplx, "SMPL-X vertex count") and ok
        if ok:
            return arr, c.issues
    return None, c.issues


def validate_index_list(raw: Any, num_vertices: int | None, label: str):
    """A ROME ``*_list.pkl``: 1-D integer FLAME vertex indices."""
    c = Collector()
    arr = c.array(raw, None, "int", 1, label=label)
    if arr is not None and c.in_range(arr, label, num_vertices, "FLAME vertex count"):
        if len(np.unique(arr)) != len(arr):
            c.invalid(f"{label}: contains duplicate vertex indices")
            return None, c.issues
        return arr, c.issues
    return None, c.issues


def validate_faces_tensor(
    raw: Any, hi: int | None, label: str, what: str, min_faces: int | None = None
) -> tuple[np.ndarray | None, list[Issue]]:
    """A ROME face tensor: (1, F, 3) or (F, 3) integers in ``[0, hi)``."""
    c = Collector()
    arr = c.array(raw, None, "int", (2, 3), label=label)
    if arr is not None and arr.ndim == 3:
        if arr.shape[0] != 1:
            c.invalid(f"{label}: expected shape (1, F, 3), found {tuple(arr.shape)}")
            return None, c.issues
        arr = arr[0]
    if c.shape(arr, label, (None, 3)) and c.in_range(arr, label, hi, what):
        if min_faces is not None and arr.shape[0] < min_faces:
            c.invalid(f"{label}: expected at least {min_faces} faces (the FLAME faces), found {arr.shape[0]}")
            return None, c.issues
        return arr, c.issues
    return None, c.issues


def validate_float_tensor(raw: Any, want: tuple, label: str, squeeze_batch: bool = True):
    """A float tensor of shape ``want`` (``None`` = free), optionally with a leading batch dim of 1."""
    c = Collector()
    arr = c.array(raw, None, "float", None, label=label)
    if arr is not None and squeeze_batch and arr.ndim == len(want) + 1 and arr.shape[0] == 1:
        arr = arr[0]
    if c.shape(arr, label, want):
        return arr, c.issues
    return None, c.issues


def check_orthonormal(basis: np.ndarray, label: str) -> list[Issue]:
    """Issues when the columns of ``basis`` (3N, K) are not orthonormal within :data:`ORTHONORMAL_TOL`."""
    b = basis.astype(np.float64)
    err = float(np.abs(b.T @ b - np.eye(b.shape[1])).max()) if b.size else 0.0
    if err > ORTHONORMAL_TOL:
        return [Issue("invalid", f"{label}: columns are not orthonormal (max |U^T U - I| = {err:.3g} > {ORTHONORMAL_TOL})")]
    return []


# ---------------------------------------------------------------------------------------------------
# ROME's data files: one rule per key of layout.SPECS


@dataclass(frozen=True)
class RomeContext:
    """What a ROME file's rule may compare against.

    Attributes:
        num_vertices: FLAME's vertex count (None when the FLAME file is unusable).
        num_faces: FLAME's face count (None likewise).
        needed: the validated values of the keys the rule ``needs`` (None where unusable or missing).
    """

    num_vertices: int | None
    num_faces: int | None
    needed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RomeFileRule:
    """How one ROME data file is read and checked.

    Attributes:
        read: the reader of the file (``path -> raw content``), e.g. the restricted unpickler.
        check: ``(raw, context) -> (value or None, issues)``; never raises on bad content.
        needs: keys of other ROME files whose validated values ``check`` compares against.
    """

    read: Callable[[Path], Any]
    check: Callable[[Any, RomeContext], tuple[Any, list[Issue]]]
    needs: tuple[str, ...] = ()

    def load(self, path: Path, context: RomeContext) -> tuple[Any, list[Issue]]:
        """Read ``path`` and check its content."""
        return self.check(self.read(path), context)


def _index_list(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
    return validate_index_list(raw, ctx.num_vertices, "index list")


def _edge_list(base: str) -> Callable[[Any, RomeContext], tuple[Any, list[Issue]]]:
    """A ``*_edge_list.pkl``: an index list holding every vertex of ``base`` (its inner list)."""

    def check(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
        arr, issues = validate_index_list(raw, ctx.num_vertices, "index list")
        inner = ctx.needed.get(base)
        if arr is not None and inner is not None:
            extra = np.setdiff1d(inner, arr)
            if extra.size:
                return None, issues + [Issue("invalid", f"must contain every vertex of {base}.pkl, misses {extra.size} of them")]
        return arr, issues

    return check


def _part_faces(part: str) -> Callable[[Any, RomeContext], tuple[Any, list[Issue]]]:
    """``hair_faces.pth`` / ``neck_faces.pth``: faces indexing the part's edge list."""

    def check(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
        edge = ctx.needed.get(f"{part}_edge_list")
        return validate_faces_tensor(raw, None if edge is None else len(edge), "faces", f"length of {part}_edge_list")

    return check


def _faces(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
    return validate_faces_tensor(raw, ctx.num_vertices, "faces", "FLAME vertex count", min_faces=ctx.num_faces)


def _uv_faces(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
    arr, issues = validate_faces_tensor(raw, None, "uv faces", "")
    faces = ctx.needed.get("faces")
    if arr is not None and faces is not None and arr.shape != faces.shape:
        return None, issues + [Issue("invalid", f"expected the shape of faces_v2 {tuple(faces.shape)}, found {tuple(arr.shape)}")]
    return arr, issues


def _vertex_uvs(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
    arr, issues = validate_float_tensor(raw, (ctx.num_vertices, 2), "vertex uvs")
    if arr is not None and np.abs(arr).max(initial=0.0) > 1.0 + 1e-5:
        return None, issues + [Issue("invalid", f"vertex uvs must lie in [-1, 1], found max |uv| = {np.abs(arr).max():.4g}")]
    return arr, issues


def _linear_basis(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
    n = ctx.num_vertices
    arr, issues = validate_float_tensor(raw, (None if n is None else 3 * n, None), "basis", squeeze_batch=False)
    if arr is not None:
        more = check_orthonormal(arr, "basis")
        if more:
            return None, issues + more
    return arr, issues


def _mean_deform(raw: Any, ctx: RomeContext) -> tuple[Any, list[Issue]]:
    return validate_float_tensor(raw, (ctx.num_vertices, 3), "mean offsets")


#: The rule of every ROME data file, keyed like :data:`rome_smplx.assets.layout.SPECS` (the network
#: weights ``rome_weights``/``linear_weights`` are checkpoints, checked by their header instead).
ROME_FILE_RULES: dict[str, RomeFileRule] = {
    "hair_list": RomeFileRule(read_pickle_any, _index_list),
    "neck_list": RomeFileRule(read_pickle_any, _index_list),
    "hair_edge_list": RomeFileRule(read_pickle_any, _edge_list("hair_list"), needs=("hair_list",)),
    "neck_edge_list": RomeFileRule(read_pickle_any, _edge_list("neck_list"), needs=("neck_list",)),
    "hair_faces": RomeFileRule(read_tensor_file, _part_faces("hair"), needs=("hair_edge_list",)),
    "neck_faces": RomeFileRule(read_tensor_file, _part_faces("neck"), needs=("neck_edge_list",)),
    "faces": RomeFileRule(read_tensor_file, _faces),
    "uv_faces": RomeFileRule(read_tensor_file, _uv_faces, needs=("faces",)),
    "vertex_uvs": RomeFileRule(read_tensor_file, _vertex_uvs),
    "linear_basis": RomeFileRule(read_tensor_file, _linear_basis),
    "mean_deform": RomeFileRule(read_tensor_file, _mean_deform),
}


# ---------------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class AssetEntry:
    """One line of an :class:`AssetReport`.

    Attributes:
        key: logical asset key (see :mod:`rome_smplx.assets.layout`).
        path: the file (or the first accepted name when missing).
        status: ``"ok"``, ``"missing"``, ``"invalid"`` or ``"patched"`` (usable, fixed in memory).
        reason: what is wrong (empty for ``ok``).
        source: where to get the file.
        required: whether the SDK cannot work without it.
    """

    key: str
    path: Any
    status: str
    reason: str
    source: str
    required: bool

    def __iter__(self):  # unpacks as (key, path, status, reason, source)
        return iter((self.key, self.path, self.status, self.reason, self.source))


@dataclass
class AssetReport:
    """Per-file validation result of an asset folder (every problem, not only the first)."""

    root: Any
    entries: list[AssetEntry]

    @property
    def ok(self) -> bool:
        """True when every required asset is usable (``ok`` or ``patched``)."""
        return not self.blocking

    @property
    def blocking(self) -> list[AssetEntry]:
        """Entries that make the folder unusable (required and missing / invalid)."""
        return [e for e in self.entries if e.required and e.status in ("missing", "invalid")]

    @property
    def problems(self) -> list[AssetEntry]:
        """Every entry that is not ``ok`` and not an absent optional file."""
        return [
            e for e in self.entries if e.status != "ok" and not (e.status == "missing" and not e.required)
        ]

    def status(self, key: str) -> str:
        """Worst status of ``key`` (``missing`` > ``invalid`` > ``patched`` > ``ok``)."""
        order = {"missing": 3, "invalid": 2, "patched": 1, "ok": 0}
        st = [e.status for e in self.entries if e.key == key]
        return max(st, key=order.__getitem__) if st else "missing"

    def format(self) -> str:
        """Human-readable report: one line per problem (with where to get the file), then a summary."""
        lines = []
        for e in self.problems:
            tag = e.status.upper() if e.required or e.status == "patched" else f"{e.status.upper()} (optional)"
            line = f"{tag:<18} {e.key}: {e.path}: {e.reason}"
            if e.status in ("missing", "invalid"):
                line += f"\n{'':<19}get it from: {e.source}"
            lines.append(line)
        n_ok = len({e.key for e in self.entries if e.status == "ok"})
        n_blocking = len(self.blocking)
        if n_blocking:
            lines.append(f"asset folder {self.root}: NOT usable ({n_blocking} blocking problem(s); {n_ok} file(s) ok)")
        else:
            lines.append(f"asset folder {self.root}: usable ({n_ok} file(s) ok, {len(self.problems)} note(s))")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


__all__ = [
    "NUM_CONTOUR_LANDMARKS",
    "NUM_STATIC_LANDMARKS",
    "NUM_YAW_BINS",
    "AssetEntry",
    "AssetReport",
    "Collector",
    "Embedding",
    "Issue",
    "ROME_FILE_RULES",
    "RomeContext",
    "RomeFileRule",
    "check_orthonormal",
    "validate_correspondence",
    "validate_deca_embedding",
    "validate_dynamic_embedding",
    "validate_faces_tensor",
    "validate_flame",
    "validate_float_tensor",
    "validate_index_list",
    "validate_smplx",
    "validate_static_embedding",
]
