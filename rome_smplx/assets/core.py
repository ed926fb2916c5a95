"""The :class:`Assets` object: finds, validates, loads and caches the files of one asset folder.

Everything is lazy: nothing is read until an accessor or :meth:`Assets.check` asks for it, and each
file is read and validated once per :class:`Assets` object.

The ``smplx`` package reads model files itself with plain ``pickle`` (which needs chumpy for real
FLAME files and runs any code a pickle carries). So rome-smplx writes sanitized, numpy-only copies
(hands_* keys patched, landmark embeddings converted to RingNet's format) into a cache folder keyed
by the source files' content hashes, and points smplx at those:
``$ROME_SMPLX_CACHE/sanitized/<hash>/`` (default ``~/.cache/rome_smplx``), written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rome_smplx.assets import layout
from rome_smplx.assets import readers as rd
from rome_smplx.assets import validate as va
from rome_smplx.errors import AssetError, InputError
from rome_smplx.io.atomic import atomic_dir

log = logging.getLogger(__name__)

#: Name of the marker file the synthetic generator writes at the root of a synthetic folder.
SYNTHETIC_MARKER = "SYNTHETIC"
#: Bump when the layout of the sanitized copies changes (part of the cache key).
_SANITIZED_FORMAT = "rome-smplx-sanitized-v1"
_LANDMARK_KEYS = ("flame_static_embedding", "flame_dynamic_embedding", "deca_landmark_embedding")


def cache_root() -> Path:
    """``$ROME_SMPLX_CACHE`` or ``~/.cache/rome_smplx``."""
    env = os.environ.get("ROME_SMPLX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rome_smplx"


@dataclass
class LandmarkEmbedding:
    """FLAME landmark embedding (faces + barycentric coordinates).

    Attributes:
        static_faces: ``(51,)`` int64 face indices of the 51 inner-face landmarks.
        static_bary: ``(51, 3)`` float32 barycentric coordinates.
        dynamic_faces: ``(79, 17)`` int64 contour faces per yaw bin (-39..39 degrees).
        dynamic_bary: ``(79, 17, 3)`` float32.
        full_faces: ``(68,)`` int64 (DECA only) or ``None``.
        full_bary: ``(68, 3)`` float32 or ``None``.
        source: ``"deca"`` or ``"ringnet"``.
    """

    static_faces: np.ndarray
    static_bary: np.ndarray
    dynamic_faces: np.ndarray
    dynamic_bary: np.ndarray
    full_faces: np.ndarray | None = None
    full_bary: np.ndarray | None = None
    source: str = "ringnet"


@dataclass
class RomeData:
    """ROME's data files as tensors (leading batch dims of the ``.pth`` files squeezed).

    Attributes:
        hair_list: ``(Nh,)`` int64 scalp vertex indices.
        neck_list: ``(Nn,)`` int64 neck/shoulder vertex indices.
        hair_edge_list: ``(Nhe,)`` int64 hair vertices plus boundary.
        neck_edge_list: ``(Nne,)`` int64.
        hair_faces: ``(Fh, 3)`` int64, indices into ``hair_edge_list``.
        neck_faces: ``(Fn, 3)`` int64, indices into ``neck_edge_list``.
        faces: ``(F, 3)`` int64 FLAME faces plus mouth-closing faces.
        uv_faces: ``(F, 3)`` int64 UV faces matching ``faces``.
        vertex_uvs: ``(N, 2)`` float32 per-vertex UVs in ``[-1, 1]``.
        basis: ``(3N, K)`` float32 linear hair/neck basis (vertex-major, orthonormal columns).
        mean_deform: ``(N, 3)`` float32 mean offsets.

    The vertices the hair/neck offsets may move are :attr:`deform_mask` (ROME's rule on the lists),
    not the support of ``mean_deform``; the two agree on ROME's files and on the synthetic ones from
    generator version 3 on.
    """

    hair_list: torch.Tensor
    neck_list: torch.Tensor
    hair_edge_list: torch.Tensor
    neck_edge_list: torch.Tensor
    hair_faces: torch.Tensor
    neck_faces: torch.Tensor
    faces: torch.Tensor
    uv_faces: torch.Tensor
    vertex_uvs: torch.Tensor
    basis: torch.Tensor
    mean_deform: torch.Tensor

    @property
    def num_vertices(self) -> int:
        """Vertex count of the head these files describe (rows of ``vertex_uvs``)."""
        return int(self.vertex_uvs.shape[0])

    @property
    def deformable(self) -> torch.Tensor:
        """``(D,)`` int64 sorted ids of the deformable vertices: ``hair_list ∪ neck_list`` minus the
        front-of-throat vertices ROME's release fixes, the latter only on a FLAME-sized head (see
        :mod:`rome_smplx.assets.flame_topology`)."""
        from rome_smplx.assets.flame_topology import deformable_vertices

        ids = deformable_vertices(self.hair_list.cpu().numpy(), self.neck_list.cpu().numpy(), self.num_vertices)
        return torch.from_numpy(ids).to(self.hair_list.device)

    @property
    def deform_mask(self) -> torch.Tensor:
        """``(N,)`` float32: 1 on :attr:`deformable`, 0 elsewhere (ROME's ``deforms_mask``)."""
        mask = torch.zeros(self.num_vertices, dtype=torch.float32, device=self.vertex_uvs.device)
        mask[self.deformable.to(mask.device)] = 1.0
        return mask

    def mean_deform_support(self) -> torch.Tensor:
        """``(N,)`` bool: vertices where ``mean_deform`` is non-zero (for checking against the rule)."""
        return self.mean_deform.abs().sum(-1) > 0


@dataclass
class _Loaded:
    value: Any
    issues: list  # list[va.Issue]
    path: Path | None
    missing: bool = False


def _hash_file(path: Path, h: hashlib._Hash) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)


class Assets:
    """One asset folder (real or synthetic): file lookup, validation and cached, validated data.

    Use :meth:`from_dir` or :meth:`discover`; see :mod:`rome_smplx.assets.layout` for the layout.
    """

    def __init__(self, root: str | os.PathLike, *, gender: str = "NEUTRAL") -> None:
        root = Path(root).expanduser()
        g = str(gender).upper()
        if g not in layout.GENDERS:
            raise InputError(f"gender: expected one of {layout.GENDERS}, found {gender!r}")
        self._root = root
        self.gender = g
        self._cache: dict[str, _Loaded] = {}
        self._sanitized: Path | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dir(cls, path: str | os.PathLike, *, gender: str = "NEUTRAL", validate: bool = True) -> Assets:
        """Open the asset folder ``path``.

        Args:
            path: the folder (see the layout in :mod:`rome_smplx.assets.layout`).
            gender: ``"NEUTRAL"``, ``"MALE"`` or ``"FEMALE"`` (which SMPL-X / FLAME file to use).
            validate: check every file now and raise one :class:`AssetError` listing every problem
                with a required file; with ``False`` files are checked when first used.

        Raises:
            AssetError: the folder does not exist / is not a folder, or (``validate``) is not usable.
        """
        root = Path(path).expanduser()
        if not root.exists():
            raise AssetError(
                "asset folder not found (create it with `rome-smplx assets synth DIR` or download the "
                "files listed by `rome-smplx assets where`)",
                path=root,
            )
        if not root.is_dir():
            raise AssetError("expected an asset folder, found a file", path=root)
        assets = cls(root, gender=gender)
        if validate:
            report = assets.check()
            if not report.ok:
                lines = [f"  {e.key}: {e.path}: {e.status}: {e.reason} (get it from: {e.source})" for e in report.blocking]
                raise AssetError(
                    f"asset folder is not usable ({len(lines)} problem(s)):\n" + "\n".join(lines), path=root
                )
        return assets

    @classmethod
    def discover(cls, *, gender: str = "NEUTRAL", validate: bool = True) -> Assets:
        """``$ROME_SMPLX_ASSETS`` if set, else the cached synthetic stand-ins (with a warning)."""
        env = os.environ.get("ROME_SMPLX_ASSETS")
        if env:
            return cls.from_dir(env, gender=gender, validate=validate)
        from rome_smplx.assets.synthetic import default_dir

        root = default_dir()
        log.warning(
            "ROME_SMPLX_ASSETS is not set: using synthetic stand-in assets in %s (procedural files, not "
            "the real SMPL-X / FLAME / ROME models; results are not realistic)",
            root,
        )
        return cls.from_dir(root, gender=gender, validate=validate)

    # ------------------------------------------------------------------ paths
    @property
    def root(self) -> Path:
        """The asset folder."""
        return self._root

    @property
    def is_synthetic(self) -> bool:
        """True when the folder holds the generator's synthetic stand-ins (marker file present)."""
        return (self._root / SYNTHETIC_MARKER).exists()

    def _spec(self, key: str) -> layout.AssetSpec:
        try:
            spec = layout.SPEC_BY_KEY[key]
        except KeyError:
            raise InputError(f"unknown asset key {key!r}; known: {', '.join(layout.SPEC_BY_KEY)}") from None
        if key == "smplx":
            return layout.AssetSpec(key, spec.folder, layout.smplx_names(self.gender), spec.required, spec.source, spec.what)
        if key == "flame":
            return layout.AssetSpec(key, spec.folder, layout.flame_names(self.gender), spec.required, spec.source, spec.what)
        return spec

    def find(self, key: str) -> Path | None:
        """The existing path for ``key`` (first accepted name present, file or not), else ``None``."""
        spec = self._spec(key)
        folder = self._root / spec.folder
        for name in spec.names:
            p = folder / name
            if p.exists():
                return p
        return None

    def path(self, key: str) -> Path:
        """The file for asset ``key``.

        Raises:
            AssetError: not found (names the folder searched, the accepted names and the source).
        """
        p = self.find(key)
        if p is None:
            spec = self._spec(key)
            raise AssetError(
                f"not found; looked in {self._root / spec.folder} for {', '.join(spec.names)}",
                key=key,
                source=spec.source,
            )
        return p

    # ------------------------------------------------------------------ loading core
    def _load(self, key: str, fn: Callable[[Path], tuple[Any, list]]) -> _Loaded:
        if key in self._cache:
            return self._cache[key]
        p = self.find(key)
        if p is None:
            res = _Loaded(None, [], None, missing=True)
        else:
            try:
                value, issues = fn(p)
            except AssetError as e:
                value, issues = None, [va.Issue("invalid", _strip_path(str(e), p))]
            except Exception as e:  # never let a parser error escape as a bare traceback
                value, issues = None, [va.Issue("invalid", f"unexpected error while reading ({type(e).__name__}: {e})")]
            if value is None and not any(i.status == "invalid" for i in issues):
                issues = list(issues) + [va.Issue("invalid", "unusable content")]
            res = _Loaded(value, list(issues), p)
        self._cache[key] = res
        return res

    def _require(self, key: str, loaded: _Loaded, what: str = "") -> Any:
        spec = self._spec(key)
        if loaded.missing:
            raise AssetError(
                f"not found; looked in {self._root / spec.folder} for {', '.join(spec.names)}",
                key=key,
                source=spec.source,
            )
        bad = [i.reason for i in loaded.issues if i.status == "invalid"]
        if bad or loaded.value is None:
            raise AssetError("; ".join(bad) or "unusable", path=loaded.path, source=spec.source)
        return loaded.value

    # individual loaders ---------------------------------------------------
    def _smplx(self) -> _Loaded:
        return self._load("smplx", lambda p: _none_if_failed(va.validate_smplx(rd.read_model_file(p))))

    def _flame(self) -> _Loaded:
        return self._load("flame", lambda p: _none_if_failed(va.validate_flame(rd.read_model_file(p))))

    def _flame_counts(self) -> tuple[int | None, int | None]:
        fl = self._flame().value
        if not fl or "v_template" not in fl or fl.get("v_template") is None:
            return None, None
        nf = fl["f"].shape[0] if fl.get("f") is not None else None
        return fl["v_template"].shape[0], nf

    def _embedding(self, key: str) -> _Loaded:
        _, nf = self._flame_counts()
        if key == "flame_static_embedding":
            return self._load(key, lambda p: _emb(va.validate_static_embedding(rd.read_pickle_any(p), nf)))
        if key == "flame_dynamic_embedding":
            return self._load(key, lambda p: _emb(va.validate_dynamic_embedding(rd.load_npy_any(p), nf)))
        return self._load(key, lambda p: _emb(va.validate_deca_embedding(rd.load_npy_any(p), nf)))

    def _corr(self) -> _Loaded:
        n, _ = self._flame_counts()
        sm = self._smplx().value
        ns = sm["v_template"].shape[0] if sm and sm.get("v_template") is not None else None
        return self._load(
            "smplx_flame_correspondence",
            lambda p: va.validate_correspondence(rd.load_npy_any(p), n, ns),
        )

    def _rome_file(self, key: str) -> _Loaded:
        rule = va.ROME_FILE_RULES.get(key)
        if rule is None:
            raise InputError(f"unknown ROME data key {key!r}")
        n, nf = self._flame_counts()
        context = va.RomeContext(n, nf, {k: self._rome_file(k).value for k in rule.needs})
        return self._load(key, lambda p: rule.load(p, context))

    def _checkpoint(self, key: str) -> _Loaded:
        def fn(p: Path):
            rd.check_checkpoint_header(p)
            return p, []
        return self._load(key, fn)

    # ------------------------------------------------------------------ check
    def check(self) -> va.AssetReport:
        """Validate every file of the folder; collect every problem (never stops at the first).

        Returns:
            :class:`~rome_smplx.assets.validate.AssetReport`; ``.ok`` is True when usable.
        """
        entries: list[va.AssetEntry] = []

        def add(key: str, loaded: _Loaded, required: bool) -> None:
            spec = self._spec(key)
            if loaded.missing:
                where = self._root / spec.folder / spec.names[0]
                reason = f"not found (accepted names: {', '.join(spec.names)})"
                entries.append(va.AssetEntry(key, where, "missing", reason, spec.source, required))
                return
            if not loaded.issues:
                entries.append(va.AssetEntry(key, loaded.path, "ok", "", spec.source, required))
            for i in loaded.issues:
                entries.append(va.AssetEntry(key, loaded.path, i.status, i.reason, spec.source, required))

        add("smplx", self._smplx(), True)
        add("flame", self._flame(), True)
        emb = {k: self._embedding(k) for k in _LANDMARK_KEYS}
        ringnet_ok = all(_usable(emb[k]) for k in _LANDMARK_KEYS[:2])
        deca_ok = _usable(emb["deca_landmark_embedding"])
        for k in _LANDMARK_KEYS:
            required = not (ringnet_ok or deca_ok)
            if required and emb[k].missing and k != "deca_landmark_embedding" and not emb["deca_landmark_embedding"].missing:
                required = False  # the DECA file is present (and reported as invalid itself)
            if required and k == "deca_landmark_embedding" and not all(emb[j].missing for j in _LANDMARK_KEYS[:2]):
                required = False  # the RingNet pair is (partly) present and reported itself
            if emb[k].missing and required:
                spec = self._spec(k)
                entries.append(va.AssetEntry(
                    k, self._root / spec.folder / spec.names[0], "missing",
                    "no usable landmark embedding: need flame_static_embedding.pkl + "
                    "flame_dynamic_embedding.npy (RingNet) or landmark_embedding.npy (DECA)",
                    spec.source, True,
                ))
            else:
                add(k, emb[k], required)
        for spec in layout.SPECS:
            if spec.key in ("smplx", "flame") or spec.key in _LANDMARK_KEYS:
                continue
            if spec.key == "smplx_flame_correspondence":
                add(spec.key, self._corr(), True)
            elif spec.folder == "rome" and spec.required:
                add(spec.key, self._rome_file(spec.key), True)
            elif spec.key == "head_template":
                add(spec.key, self._head_template(), False)
            elif spec.key == "mano_smplx_correspondence":
                add(spec.key, self._load(spec.key, lambda p: (_check_mano(rd.read_pickle_any(p)), [])), False)
            else:
                add(spec.key, self._checkpoint(spec.key), spec.required)
        return va.AssetReport(self._root, entries)

    # ------------------------------------------------------------------ validated data
    def smplx_data(self) -> dict[str, np.ndarray]:
        """Validated SMPL-X arrays (float32 / int64; hands_* patched when absent).

        Keys: ``v_template`` (V, 3), ``f`` (F, 3), ``shapedirs`` (V, 3, K>=400), ``posedirs``
        (V, 3, 486), ``J_regressor`` (55, V), ``weights`` (V, 55), ``kintree_table`` (2, 55),
        ``parents`` (55,), ``hands_components{l,r}``, ``hands_mean{l,r}``, ``lmk_faces_idx`` (51,),
        ``lmk_bary_coords`` (51, 3) and, when present, ``dynamic_lmk_*`` and the UV layout ``vt``
        (U, 2) / ``ft`` (F, 3) (see :meth:`smplx_uv_layout`).
        """
        return self._require("smplx", self._smplx())

    def smplx_uv_layout(self) -> tuple[np.ndarray, np.ndarray] | None:
        """SMPL-X's UV layout: ``vt`` (U, 2) float32 (v up, as in OBJ files) and ``ft`` (F, 3) int64, one UV
        triangle per face of ``f``; ``None`` when the model file has none (an invalid one makes the
        whole file invalid, see :meth:`smplx_data`)."""
        data = self.smplx_data()
        if data.get("vt") is None:
            return None
        return data["vt"], data["ft"]

    def flame_data(self) -> dict[str, np.ndarray]:
        """Validated FLAME arrays: ``v_template`` (N, 3), ``f`` (F, 3), ``shapedirs`` (N, 3, K>=400),
        ``posedirs`` (N, 3, 36), ``J_regressor`` (5, N), ``weights`` (N, 5), ``kintree_table`` (2, 5),
        ``parents`` (5,)."""
        return self._require("flame", self._flame())

    def landmark_embedding(self) -> LandmarkEmbedding:
        """The FLAME landmark embedding (DECA's file if usable, else RingNet's pair)."""
        self.flame_data()
        emb = {k: self._embedding(k) for k in _LANDMARK_KEYS}
        if _usable(emb["deca_landmark_embedding"]):
            e = emb["deca_landmark_embedding"].value
            return LandmarkEmbedding(e.static_faces, e.static_bary, e.dynamic_faces, e.dynamic_bary,
                                     e.full_faces, e.full_bary, source="deca")
        if all(_usable(emb[k]) for k in _LANDMARK_KEYS[:2]):
            s, d = emb["flame_static_embedding"].value, emb["flame_dynamic_embedding"].value
            return LandmarkEmbedding(s.static_faces, s.static_bary, d.dynamic_faces, d.dynamic_bary, source="ringnet")
        problems = []
        for k in _LANDMARK_KEYS:
            if emb[k].missing:
                problems.append(f"{self._spec(k).names[0]}: not found")
            else:
                problems += [f"{emb[k].path.name}: {i.reason}" for i in emb[k].issues if i.status == "invalid"]
        raise AssetError(
            "no usable FLAME landmark embedding (need flame_static_embedding.pkl + flame_dynamic_embedding.npy, "
            "or landmark_embedding.npy): " + "; ".join(problems),
            path=self._root / "flame",
            source=layout.EMBEDDING_SOURCE,
        )

    def correspondence(self) -> np.ndarray:
        """``(N,)`` int64: SMPL-X vertex index of each FLAME vertex."""
        self.flame_data()
        self.smplx_data()
        return self._require("smplx_flame_correspondence", self._corr())

    def rome_data(self) -> RomeData:
        """ROME's data files as tensors (validated against the FLAME model).

        Raises:
            AssetError: listing every problem among the ROME data files.
        """
        self.flame_data()
        keys = ("hair_list", "neck_list", "hair_edge_list", "neck_edge_list", "hair_faces", "neck_faces",
                "faces", "uv_faces", "vertex_uvs", "linear_basis", "mean_deform")
        vals, errors = {}, []
        for k in keys:
            try:
                vals[k] = self._require(k, self._rome_file(k))
            except AssetError as e:
                errors.append(str(e))
        if errors:
            raise AssetError(f"ROME data files are not usable ({len(errors)} problem(s)):\n  " + "\n  ".join(errors))
        t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in vals.items()}
        data = RomeData(
            hair_list=t["hair_list"], neck_list=t["neck_list"], hair_edge_list=t["hair_edge_list"],
            neck_edge_list=t["neck_edge_list"], hair_faces=t["hair_faces"], neck_faces=t["neck_faces"],
            faces=t["faces"], uv_faces=t["uv_faces"], vertex_uvs=t["vertex_uvs"], basis=t["linear_basis"],
            mean_deform=t["mean_deform"],
        )
        differ = int((data.mean_deform_support() != (data.deform_mask > 0)).sum())
        if differ and not getattr(self, "_deform_warned", False):
            self._deform_warned = True
            log.warning(
                "%s: mean_deform.pt is non-zero on a vertex set that differs from the deformable vertices "
                "(hair_list + neck_list minus ROME's fixed throat vertices) on %d vertices; the offsets "
                "follow the lists", self._root / "rome", differ,
            )
        return data

    def _head_template(self) -> _Loaded:
        def fn(p: Path):
            uv, ft = rd.read_obj_uvs(p)
            issues = []
            uv_faces = self._rome_file("uv_faces").value
            if uv_faces is not None and uv_faces.size and int(uv_faces.max()) >= uv.shape[0]:
                issues.append(va.Issue(
                    "invalid", f"has {uv.shape[0]} UV vertices but uvfaces_v2 indexes up to {int(uv_faces.max())}"
                ))
                return None, issues
            return (uv, ft), issues

        return self._load("head_template", fn)

    def uv_layout(self) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
        """The UV layout ROME renders with: ``uv_coords`` (U, 2) in ROME's convention ``(2u - 1, -(2v - 1))``
        (from ``flame/head_template.obj``) and ``uv_faces`` (F, 3) (``rome/uvfaces_v2.pth``).

        Returns ``(None, None)`` when the optional template is absent; an invalid one raises
        :class:`AssetError`.
        """
        loaded = self._head_template()
        if loaded.missing:
            return None, None
        uv, _ = self._require("head_template", loaded)
        uv_faces = self.rome_data().uv_faces
        coords = torch.from_numpy(np.stack([2.0 * uv[:, 0] - 1.0, -(2.0 * uv[:, 1] - 1.0)], axis=1).astype(np.float32))
        return coords, uv_faces

    @property
    def num_flame_vertices(self) -> int:
        """Vertex count of the FLAME (head) model."""
        return int(self.flame_data()["v_template"].shape[0])

    @property
    def num_smplx_vertices(self) -> int:
        """Vertex count of the SMPL-X body model."""
        return int(self.smplx_data()["v_template"].shape[0])

    # ------------------------------------------------------------------ sanitized copies + smplx
    def sanitized_dir(self) -> Path:
        """Folder with chumpy-free copies for the smplx package (written once, atomically).

        Layout: ``smplx/SMPLX_{G}.npz``, ``flame/FLAME_{G}.pkl``, ``flame/flame_static_embedding.pkl``,
        ``flame/flame_dynamic_embedding.npy``.
        """
        if self._sanitized is not None and (self._sanitized / "COMPLETE").exists():
            return self._sanitized
        smplx_d, flame_d, emb = self.smplx_data(), self.flame_data(), self.landmark_embedding()
        h = hashlib.sha256(_SANITIZED_FORMAT.encode())
        h.update(self.gender.encode())
        used = [self.path("smplx"), self.path("flame")] + [
            p for p in (self.find(k) for k in _LANDMARK_KEYS) if p is not None and p.is_file()
        ]
        for p in used:
            h.update(p.name.encode())
            _hash_file(p, h)
        out = cache_root() / "sanitized" / h.hexdigest()[:20]
        if not (out / "COMPLETE").exists():
            log.info("writing sanitized model copies for smplx to %s", out)
            with atomic_dir(out) as tmp:
                (tmp / "smplx").mkdir()
                (tmp / "flame").mkdir()
                skip = {"parents"}
                np.savez(tmp / "smplx" / f"SMPLX_{self.gender}.npz",
                         **{k: v for k, v in smplx_d.items() if k not in skip and v is not None})
                with open(tmp / "flame" / f"FLAME_{self.gender}.pkl", "wb") as fh:
                    pickle.dump({k: v for k, v in flame_d.items() if k not in skip and v is not None}, fh, protocol=4)
                with open(tmp / "flame" / "flame_static_embedding.pkl", "wb") as fh:
                    pickle.dump({"lmk_face_idx": emb.static_faces, "lmk_b_coords": emb.static_bary}, fh, protocol=4)
                np.save(tmp / "flame" / "flame_dynamic_embedding.npy",
                        np.array({"lmk_face_idx": emb.dynamic_faces, "lmk_b_coords": emb.dynamic_bary}, dtype=object),
                        allow_pickle=True)
                (tmp / "COMPLETE").write_text(_SANITIZED_FORMAT + "\n")
        self._sanitized = out
        return out

    def _counts(self, num_betas: int, num_expression_coeffs: int, model: str) -> None:
        import smplx

        cls = smplx.SMPLX if model == "SMPL-X" else smplx.FLAME
        for name, v, hi in (("num_betas", num_betas, cls.SHAPE_SPACE_DIM),
                            ("num_expression_coeffs", num_expression_coeffs, cls.EXPRESSION_SPACE_DIM)):
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
                raise InputError(f"{name}: expected an integer in [1, {hi}] for {model}, found {v!r}")

    def smplx_layer(self, num_betas: int = 200, num_expression_coeffs: int = 50, **kwargs: Any):
        """``smplx.SMPLXLayer`` (rotation-matrix inputs) built from the sanitized SMPL-X copy.

        ``num_betas`` and ``num_expression_coeffs`` are always passed explicitly (PyPI and master
        smplx differ in their defaults). Extra ``kwargs`` go to smplx (``use_face_contour`` defaults
        to True when the file has the dynamic contour).
        """
        import smplx

        self._counts(num_betas, num_expression_coeffs, "SMPL-X")
        path = self.sanitized_dir() / "smplx" / f"SMPLX_{self.gender}.npz"
        kw = dict(gender=self.gender.lower(), ext="npz", use_pca=False, flat_hand_mean=True,
                  use_face_contour="dynamic_lmk_faces_idx" in self.smplx_data())
        kw.update(kwargs)
        return smplx.build_layer(str(path), model_type="smplx", num_betas=num_betas,
                                 num_expression_coeffs=num_expression_coeffs, **kw)

    def smplx_model(self, num_betas: int = 200, num_expression_coeffs: int = 50, **kwargs: Any):
        """``smplx.SMPLX`` via ``smplx.create`` (axis-angle inputs; ``use_pca=False``,
        ``flat_hand_mean=True`` unless overridden) from the sanitized SMPL-X copy."""
        import smplx

        self._counts(num_betas, num_expression_coeffs, "SMPL-X")
        path = self.sanitized_dir() / "smplx" / f"SMPLX_{self.gender}.npz"
        kw = dict(gender=self.gender.lower(), ext="npz", use_pca=False, flat_hand_mean=True,
                  use_face_contour="dynamic_lmk_faces_idx" in self.smplx_data())
        kw.update(kwargs)
        return smplx.create(str(path), model_type="smplx", num_betas=num_betas,
                            num_expression_coeffs=num_expression_coeffs, **kw)

    def flame_smplx_model(self, num_betas: int = 100, num_expression_coeffs: int = 50, **kwargs: Any):
        """``smplx.FLAME`` (axis-angle inputs) from the sanitized FLAME copy (reference model)."""
        import smplx

        self._counts(num_betas, num_expression_coeffs, "FLAME")
        folder = self.sanitized_dir() / "flame"
        kw = dict(gender=self.gender.lower(), ext="pkl")
        kw.update(kwargs)
        return smplx.FLAME(str(folder), num_betas=num_betas, num_expression_coeffs=num_expression_coeffs, **kw)

    def __repr__(self) -> str:
        return f"Assets(root={str(self._root)!r}, gender={self.gender!r}, synthetic={self.is_synthetic})"


# ---------------------------------------------------------------------- helpers
def _none_if_failed(result: tuple[dict, list]) -> tuple[dict | None, list]:
    data, issues = result
    if any(i.status == "invalid" for i in issues):
        return None, issues
    return data, issues


def _emb(result: tuple[va.Embedding, list]) -> tuple[va.Embedding | None, list]:
    emb, issues = result
    if any(i.status == "invalid" for i in issues):
        return None, issues
    return emb, issues


def _usable(loaded: _Loaded) -> bool:
    return not loaded.missing and loaded.value is not None and not any(i.status == "invalid" for i in loaded.issues)


def _strip_path(msg: str, path: Path) -> str:
    prefix = f"{path}: "
    return msg.removeprefix(prefix)


def _check_mano(obj: Any) -> dict:
    if not isinstance(obj, dict) or not {"left_hand", "right_hand"} <= set(obj):
        raise AssetError("expected a dict with 'left_hand' and 'right_hand' index arrays")
    return {k: rd.as_index_array(obj[k], k) for k in ("left_hand", "right_hand")}


__all__ = ["SYNTHETIC_MARKER", "Assets", "LandmarkEmbedding", "RomeData", "cache_root"]
