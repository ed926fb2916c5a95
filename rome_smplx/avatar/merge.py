"""Merge ROME head reconstructions onto SMPL-X bodies: a pure, batched, seamless function.

Recipe (per batch element; every step is a batched tensor operation):

1. **Shapes.** The body's shaped SMPL-X template ``v_template + shapedirs @ betas`` and the
   reconstruction's neutral FLAME head ``flame_template + flame_shapedirs @ shape`` (zero pose and
   expression). The SMPL-X<->FLAME correspondence picks the body's head vertices.
2. **Alignment.** A similarity (Umeyama) from the FLAME head to the body's head, fitted on the face
   and ears only (every FLAME vertex outside ROME's hair and neck lists), absorbs frame, scale and
   placement differences. It is returned as a :class:`~rome_smplx.types.Similarity`.
3. **What the head brings.** ROME's offsets, rotated and scaled into the body frame (``head="hair"``,
   the paper's Fig. 7b: SMPL-X's face with ROME's hair), plus the aligned FLAME shape minus SMPL-X's
   (``head="full"``: ROME's face shape too).
4. **Neck: hair or reshaping.** ROME puts long hair partly on its neck vertices, and reshapes the neck
   and shoulders with the others. A neck offset carries hair when it takes its vertex out of the
   SMPL-X body: the displaced point's signed distance to the body surface (point-to-plane at the
   nearest of the body vertices around it) above ``hair_margin`` makes it hair (smoothstep between the
   two margins, then spread one ring so the hair's edge is soft but hair stays whole); so does an
   optional hair segmentation of the source photo where it covers a neck vertex the source camera
   sees. Hair offsets are kept whole. The rest is reshaping: it fades out with ``1 - smoothstep`` of the graph distance
   over the SMPL-X surface from the head (the FLAME vertices outside the neck list) and is 0 from
   ``blend_width`` on and at the head's border with the body, so the shoulders are SMPL-X's and there
   is no step. The per-vertex weight is the avatar's ``seam_weights``.
5. **New template.** ``template = shaped + offsets``: a new SMPL-X template per subject, as smplx's
   ``v_template=`` argument builds one; the models passed in are only read.
6. **Skeleton.** ``skeleton="body"`` (default) regresses the rest joints from the body without hair
   (SMPL-X's shaped template, plus ROME's face shape for ``head="full"``), so hair on the neck does not
   move the neck and head joints; ``"template"`` regresses them from the merged template, as
   ``smplx.SMPLX(v_template=template)`` does.

Subject-independent data (buffers, graph distances, probe neighbourhoods) is computed once per
model pair and cached (:func:`body_rig`).
"""

from __future__ import annotations

import logging
import math
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch
from torch import Tensor

from rome_smplx.avatar.full_body import (
    PART_BODY,
    PART_COLORS,
    PART_FACE,
    PART_HAIR,
    PART_HEAD,
    PART_NAMES,
    PART_NECK,
    BodyRig,
    FullBodyAvatar,
)
from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import boundary_loops, edges, umeyama, vertex_normals
from rome_smplx.types import HeadReconstruction, Similarity, SmplxParams

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.models.flame import FlameModel
    from rome_smplx.models.smplx_body import SmplxModel

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BLEND_WIDTH",
    "DEFAULT_HAIR_MARGIN",
    "FullBodyAvatar",
    "HEAD_MODES",
    "PART_BODY",
    "PART_COLORS",
    "PART_FACE",
    "PART_HAIR",
    "PART_HEAD",
    "PART_NAMES",
    "PART_NECK",
    "SKELETONS",
    "body_rig",
    "merge",
    "segmented_hair",
]

HEAD_MODES = ("hair", "full")
SKELETONS = ("body", "template")
#: Graph distance (metres over the SMPL-X surface) over which the neck reshaping fades out.
DEFAULT_BLEND_WIDTH = 0.03
#: Signed distance (metres) outside the SMPL-X body from which a neck offset starts / fully counts as hair.
DEFAULT_HAIR_MARGIN = (0.004, 0.008)
#: Body vertices each neck offset is tested against: the nearest ones to the neck vertex, and a
#: farthest-point sample of those within ``PROBE_RADIUS`` metres (shoulders, chest, back).
PROBE_NEAREST = 24
PROBE_SPREAD = 40
PROBE_RADIUS = 0.15

_RIGS: "OrderedDict[tuple, tuple[Any, BodyRig]]" = OrderedDict()
_MAX_RIGS = 8


# ----------------------------------------------------------------------------------------- the rig
def _graph_distances(verts: np.ndarray, faces: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Shortest edge-path length from any of ``sources`` to every vertex (``inf`` if unreachable)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n = len(verts)
    if len(sources) == 0:
        return np.full(n, np.inf)
    e = edges(torch.as_tensor(faces, dtype=torch.long)).numpy()
    w = np.linalg.norm(verts[e[:, 0]] - verts[e[:, 1]], axis=1)
    g = coo_matrix((np.concatenate([w, w]), (np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]]))),
                   shape=(n, n)).tocsr()
    return dijkstra(g, directed=False, indices=np.unique(sources), min_only=True)


def _probe_sets(verts: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(len(centres), PROBE_NEAREST + PROBE_SPREAD)`` body vertex ids per centre vertex: its nearest
    vertices, then a farthest-point sample of the vertices within :data:`PROBE_RADIUS`."""
    V = len(verts)
    k_near = min(PROBE_NEAREST, V)
    k_far = min(PROBE_SPREAD, V)
    c = torch.as_tensor(verts[centres])
    d = torch.cdist(c, torch.as_tensor(verts))  # (Nc, V)
    near = d.topk(k_near, dim=1, largest=False).indices
    pool_n = min(V, 8 * k_far)
    pool = d.topk(pool_n, dim=1, largest=False)
    ids, dist = pool.indices, pool.values
    ids = torch.where(dist <= PROBE_RADIUS, ids, ids[:, :1])  # outside the radius: repeat the centre
    pts = torch.as_tensor(verts)[ids]  # (Nc, P, 3)
    chosen = [ids[:, 0]]
    best = (pts - pts[:, :1]).norm(dim=-1)
    for _ in range(k_far - 1):
        j = best.argmax(1)
        chosen.append(ids.gather(1, j[:, None])[:, 0])
        q = pts.gather(1, j[:, None, None].expand(-1, 1, 3))
        best = torch.minimum(best, (pts - q).norm(dim=-1))
    return torch.cat([near, torch.stack(chosen, 1)], dim=1).numpy().astype(np.int64)


def _cross_stencils(verts: np.ndarray, faces: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``(len(ids), 4)`` vertex ids ``a, b, c, d`` per vertex such that ``(v_a - v_b) x (v_c - v_d)`` is
    along its outward normal: two chords of its one-ring across roughly perpendicular tangent directions
    (the vertex itself stands in for a missing side on a border)."""
    n_all = vertex_normals(torch.as_tensor(verts)[None], torch.as_tensor(faces))[0].numpy()
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(np.concatenate([e, e[:, ::-1]]), axis=1), axis=0)
    nbrs: dict[int, list[int]] = {}
    wanted = set(int(i) for i in ids)
    for a, b in e:
        if a in wanted:
            nbrs.setdefault(int(a), []).append(int(b))
        if b in wanted:
            nbrs.setdefault(int(b), []).append(int(a))
    out = np.zeros((len(ids), 4), dtype=np.int64)
    for r, i in enumerate(ids):
        i = int(i)
        nb = np.array(nbrs.get(i, [i]), dtype=np.int64)
        n = n_all[i]
        d = verts[nb] - verts[i]
        d = d - np.outer(d @ n, n)  # tangential parts
        t1 = d[np.argmax((d * d).sum(1))]
        t1 = t1 / max(np.linalg.norm(t1), 1e-12)
        t2 = np.cross(n, t1)
        a1, a2 = d @ t1, d @ t2
        a = nb[np.argmax(a1)]
        b = nb[np.argmin(a1)] if a1.min() < 0 else i
        c = nb[np.argmax(a2)] if a2.max() > 0 else i
        dd = nb[np.argmin(a2)] if a2.min() < 0 else i
        if np.cross(verts[a] - verts[b], verts[c] - verts[dd]) @ n < 0:
            c, dd = dd, c
        out[r] = (a, b, c, dd)
    return out


def _build_rig(assets: "Assets", smplx_model: "SmplxModel", flame: "FlameModel", *, share: bool = False) -> BodyRig:
    """The rig of ``smplx_model`` and ``flame``; ``share``: the SMPL-X model is the rig's own (built for it), so
    its largest buffer (``posedirs``) is used as it is instead of copied."""
    from smplx.joint_names import JOINT_NAMES

    layer = smplx_model.layer
    dtype, dev = layer.v_template.dtype, layer.v_template.device
    with torch.no_grad():
        vt = layer.v_template.detach().clone()
        V = vt.shape[0]
        sd = layer.shapedirs.detach()  # (V, 3, S)
        xd = layer.expr_dirs.detach()  # (V, 3, E)
        S, E = sd.shape[-1], xd.shape[-1]
        Jr = layer.J_regressor.detach()
        J = Jr.shape[0]
        shapedirs = sd.permute(2, 0, 1).reshape(S, 3 * V).contiguous()
        rows = torch.nonzero(xd.abs().amax(dim=(1, 2)) > 0).flatten()
        exprdirs = xd[rows].permute(2, 0, 1).reshape(E, 3 * len(rows)).contiguous()
        joint_shapedirs = torch.einsum("jv,vcs->sjc", Jr, sd).reshape(S, 3 * J).contiguous()
        joint_exprdirs = torch.einsum("jv,vcs->sjc", Jr, xd).reshape(E, 3 * J).contiguous()
        corr = torch.as_tensor(assets.correspondence(), dtype=torch.long, device=dev)
        N = corr.numel()
        if flame.num_vertices != N:
            raise InputError(f"merge: the FLAME model has {flame.num_vertices} vertices, the correspondence {N}")
        if torch.unique(corr).numel() != N:
            raise InputError("merge: the SMPL-X<->FLAME correspondence maps two FLAME vertices to one SMPL-X vertex")
        data = assets.rome_data()
        hair = torch.zeros(N, dtype=torch.bool, device=dev)
        hair[data.hair_list.to(dev)] = True
        neck = torch.zeros(N, dtype=torch.bool, device=dev)
        neck[data.neck_list.to(dev)] = True
        hair &= ~neck
        align = ~(hair | neck)
        if int(align.sum()) < 3:
            raise InputError(f"merge: only {int(align.sum())} FLAME vertices lie outside ROME's hair and neck lists; "
                             "the alignment needs the face")
        neck_index = torch.nonzero(neck).flatten()

        # seam distances over the SMPL-X template surface
        v_np = vt.cpu().double().numpy()
        f_np = layer.faces_tensor.cpu().numpy().astype(np.int64)
        corr_np = corr.cpu().numpy()
        in_head = np.zeros(V, dtype=bool)
        in_head[corr_np] = True
        e = edges(torch.as_tensor(f_np)).numpy()
        cross = in_head[e[:, 0]] != in_head[e[:, 1]]
        border = np.unique(np.where(in_head[e[cross, 0]], e[cross, 0], e[cross, 1]))
        # where the head is not stitched to the body, its open border on the neck is the border
        neck_np = neck.cpu().numpy()
        for loop in boundary_loops(flame.faces.detach().cpu().long()):
            lp = loop.numpy()
            if len(lp) >= 3 and neck_np[lp].mean() >= 0.9:
                border = np.union1d(border, corr_np[lp])
        core = corr_np[~neck.cpu().numpy()]
        neck_s = corr_np[neck_index.cpu().numpy()]
        d_core = _graph_distances(v_np, f_np, core)[neck_s]
        d_border = _graph_distances(v_np, f_np, border)[neck_s]
        d_core = np.where(np.isfinite(d_core), d_core, 0.0)
        d_border = np.where(np.isfinite(d_border), d_border, np.inf)

        # neighbours among the neck vertices (over the body's faces)
        Nn = len(neck_s)
        pos = np.full(V, -1, dtype=np.int64)
        pos[neck_s] = np.arange(Nn)
        a, b = pos[e[:, 0]], pos[e[:, 1]]
        keep = (a >= 0) & (b >= 0)
        adj = np.zeros((Nn, Nn))
        adj[a[keep], b[keep]] = 1.0
        adj[b[keep], a[keep]] = 1.0
        adj /= np.maximum(adj.sum(1, keepdims=True), 1.0)

        # probes: for each neck vertex, the body vertices its displaced point is tested against: the
        # nearest ones (dense) and a farthest-point sample of a wider neighbourhood (shoulders, back)
        probe = _probe_sets(v_np, neck_s)
        uniq, probe_local = np.unique(probe, return_inverse=True)
        probe_local = probe_local.reshape(probe.shape)
        stencil = _cross_stencils(v_np, f_np, uniq)
        head_joint = list(JOINT_NAMES).index("head")
        f_sd = flame.shapedirs.detach()
        f_xd = flame.exprdirs.detach()
        rig = BodyRig(
            v_template=vt, shapedirs=shapedirs, expr_rows=rows, exprdirs=exprdirs,
            posedirs=layer.posedirs.detach() if share else layer.posedirs.detach().clone(), lbs_weights=layer.lbs_weights.detach().clone(),
            parents=layer.parents.detach().clone().long(), faces=layer.faces_tensor.detach().clone().long(),
            joints_template=Jr @ vt, joint_shapedirs=joint_shapedirs, joint_exprdirs=joint_exprdirs,
            joint_regressor_head=Jr[:, corr].contiguous(), corr=corr,
            flame_template=flame.v_template.detach().to(dev, dtype).clone(),
            flame_shapedirs=f_sd.permute(2, 0, 1).reshape(f_sd.shape[-1], -1).to(dev, dtype).contiguous(),
            flame_exprdirs=f_xd.permute(2, 0, 1).reshape(f_xd.shape[-1], -1).to(dev, dtype).contiguous(),
            flame_root_regressor=flame.J_regressor.detach()[0].to(dev, dtype).clone(),
            flame_root_exprdirs=torch.einsum("n,nce->ec", flame.J_regressor.detach()[0], f_xd).to(dev, dtype).contiguous(),
            align=align, hair=hair, neck_index=neck_index,
            neck_core_distance=torch.as_tensor(d_core, device=dev, dtype=dtype), neck_border_distance=torch.as_tensor(d_border, device=dev, dtype=dtype),
            neck_adjacency=torch.as_tensor(adj, device=dev, dtype=dtype),
            probe_index=torch.as_tensor(probe, device=dev), probe_vertices=torch.as_tensor(uniq, device=dev),
            probe_local=torch.as_tensor(probe_local, device=dev), probe_stencil=torch.as_tensor(stencil, device=dev),
            head_joint=head_joint, joint_names=tuple(JOINT_NAMES[:J]), **_uv_layout(assets, dev, dtype),
        )
    logger.debug("merge rig: %d body vertices, %d head vertices (%d neck, %d align), %d probe vertices",
                 V, N, Nn, int(align.sum()), len(uniq))
    return rig


def _uv_layout(assets: "Assets", dev, dtype) -> dict:
    """SMPL-X's UV layout (``vt``/``ft``) for the rig, when the model file has one."""
    uv = assets.smplx_uv_layout()
    if uv is None:
        return {}
    return {"uvs": torch.as_tensor(uv[0], dtype=dtype, device=dev), "uv_faces": torch.as_tensor(uv[1], device=dev)}


def _key_of(obj: Any) -> tuple:
    return ("object", id(obj))


def body_rig(
    assets: "Assets",
    *,
    smplx_model: Optional["SmplxModel"] = None,
    flame_model: Optional["FlameModel"] = None,
    dtype: Optional[torch.dtype] = None,
    device: Optional[torch.device | str] = None,
) -> BodyRig:
    """The cached :class:`BodyRig` of an asset folder (or of given models, which are only read).

    The cache is keyed by the folder (or the model objects, held weakly) and checks that the models
    still hold the buffers it was built from; a model edited in place is not detected, so treat
    models given here as read-only.
    """
    from rome_smplx.models.flame import FlameModel
    from rome_smplx.models.smplx_body import SmplxModel

    akey = ("assets", str(assets.root), getattr(assets, "gender", ""))
    skey = akey if smplx_model is None else _key_of(smplx_model)
    fkey = akey if flame_model is None else _key_of(flame_model)
    key = (skey, fkey)
    hit = _RIGS.get(key)
    if hit is not None:
        refs, rig = hit
        alive = all(r() is not None for r in refs["objects"])
        same = alive and all(r() is not None and getattr(o(), n, None) is r() for o, n, r in refs["buffers"])
        if same:
            _RIGS.move_to_end(key)
            return rig.to(device=device or rig.device, dtype=dtype or rig.dtype)
        del _RIGS[key]
    # Models the caller did not give are built for the rig and dropped with it: the rig holds everything it
    # uses, and a second copy of SMPL-X's blend shapes (~100 MB) would outlive the merge for nothing.
    sm = smplx_model if smplx_model is not None else SmplxModel.from_assets(assets)
    fm = flame_model if flame_model is not None else FlameModel.from_assets(assets)
    rig = _build_rig(assets, sm, fm, share=smplx_model is None)
    del sm, fm
    refs: dict[str, list] = {"objects": [], "buffers": []}
    if smplx_model is not None:
        layer = smplx_model.layer
        refs["objects"].append(weakref.ref(smplx_model))
        refs["buffers"] += [(weakref.ref(layer), n, weakref.ref(getattr(layer, n)))
                            for n in ("v_template", "shapedirs", "expr_dirs", "posedirs", "J_regressor", "lbs_weights")]
    if flame_model is not None:
        refs["objects"].append(weakref.ref(flame_model))
        refs["buffers"] += [(weakref.ref(flame_model), n, weakref.ref(getattr(flame_model, n)))
                            for n in ("v_template", "shapedirs", "exprdirs", "J_regressor")]
    _RIGS[key] = (refs, rig)
    while len(_RIGS) > _MAX_RIGS:
        _RIGS.popitem(last=False)
    return rig.to(device=device or rig.device, dtype=dtype or rig.dtype)


# ------------------------------------------------------------------------------------------ merge
def _smoothstep(x: Tensor) -> Tensor:
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _coeffs(t: Tensor, n: int, what: str) -> Tensor:
    if t.shape[1] > n:
        raise InputError(f"merge: {what} has {t.shape[1]} coefficients, the model {n}")
    return t


def _hair_weights(rig: BodyRig, shaped: Tensor, base: Tensor, disp: Tensor, lo: float, hi: float,
                  seen: Optional[Tensor] = None) -> Tensor:
    """``(B, Nn)`` in [0, 1]: how much each neck offset carries hair.

    The displaced point ``base + disp`` is tested against the body it was merged onto: its distance in
    front of the tangent plane of the nearest probe vertex (area-weighted vertex normal of the shaped
    body). Offsets shorter than ``lo`` cannot leave the body by ``lo`` (the neck vertex itself is a
    probe), so only the others are tested. Smoothstep between the margins, the maximum with the
    segmentation's hair (``seen``, when given), then spread by one ring (the maximum with the
    neighbours' mean) so hair stays whole and its edge soft.
    """
    B, Nn = disp.shape[:2]
    V = shaped.shape[1]
    out = disp.new_zeros(B, Nn) if seen is None else seen.to(disp.dtype)
    long = disp.norm(dim=-1) >= lo
    if not bool(long.any()):
        return out if seen is None else torch.maximum(out, out @ rig.neck_adjacency.T)
    b, i = torch.nonzero(long, as_tuple=True)
    p = base[b, i] + disp[b, i]  # (M, 3)
    flat = shaped.reshape(B * V, 3)
    U = rig.probe_vertices.shape[0]
    # the probe vertices of every body, coordinates first: the distances are three contiguous passes
    sub = shaped.index_select(1, rig.probe_vertices).permute(2, 0, 1).reshape(3, B * U)
    lid = rig.probe_local[i] + (b * U)[:, None]  # (M, K)
    cand = sub.index_select(1, lid.reshape(-1)).view(3, *lid.shape)
    d2 = (cand[0] - p[:, 0:1]).square() + (cand[1] - p[:, 1:2]).square() + (cand[2] - p[:, 2:3]).square()
    k = d2.argmin(1)
    vid = rig.probe_index[i].gather(1, k[:, None])[:, 0]
    c = flat.index_select(0, vid + b * V)
    # the shaped body's normal at the nearest probe vertex: the cross product of two chords through it
    st = rig.probe_stencil[rig.probe_local[i].gather(1, k[:, None])[:, 0]] + (b * V)[:, None]  # (M, 4)
    q = flat.index_select(0, st.reshape(-1)).view(-1, 4, 3)
    n = torch.cross(q[:, 0] - q[:, 1], q[:, 2] - q[:, 3], dim=-1)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    outside = ((p - c) * n).sum(-1)
    out[b, i] = torch.maximum(out[b, i], _smoothstep((outside - lo) / (hi - lo)))
    return torch.maximum(out, out @ rig.neck_adjacency.T)


def segmented_hair(rig: BodyRig, recon: HeadReconstruction, seg: Tensor, B: int) -> Tensor:
    """``(B, Nn)``: the hair segmentation of the source image at every neck vertex it sees.

    The reconstruction's deformed source mesh is projected with its camera and global rotation (ROME's
    projection) and rasterised at the segmentation's size; a neck vertex counts where it is visible
    (within 5 mm of the nearest surface at its pixel) and takes the segmentation's value there.
    """
    from rome_smplx.render.cameras import rome_project_for_raster
    from rome_smplx.render.raster import rasterize

    flame = recon.flame
    if flame.cam is None:
        raise InputError("merge: hair_segmentation needs the reconstruction's camera (recon.flame.cam = [s, tx, ty])")
    if seg.dim() != 4 or seg.shape[1] != 1 or seg.shape[0] not in (1, B):
        raise InputError(f"merge: hair_segmentation must be (B, 1, H, W) with B = {B} or 1, found {tuple(seg.shape)}")
    dtype = rig.dtype

    def ex(t: Tensor) -> Tensor:
        return t.expand(B, *t.shape[1:]) if t.shape[0] != B else t

    verts = ex(recon.vertices.to(dtype))
    cam, rot = ex(flame.cam.to(dtype)), ex(flame.global_rot.to(dtype))
    root = torch.einsum("n,bnc->bc", rig.flame_root_regressor, verts - ex(recon.offsets.to(dtype)))
    ndc = rome_project_for_raster(verts, cam, root, rot)
    H, W = int(seg.shape[-2]), int(seg.shape[-1])
    frags = rasterize(ndc, recon.faces.to(verts.device), (H, W), backend="auto")
    zbuf = torch.where(frags.pix_to_face[..., 0] >= 0, frags.zbuf[..., 0], torch.full_like(frags.zbuf[..., 0], float("inf")))
    q = ndc[:, rig.neck_index]  # (B, Nn, 3)
    col = ((q[..., 0] + 1) * W / 2).floor().long()
    row = ((q[..., 1] + 1) * H / 2).floor().long()
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H)
    z = zbuf.reshape(B, -1).gather(1, (row.clamp(0, H - 1) * W + col.clamp(0, W - 1)))
    visible = inside & (q[..., 2] <= z + 0.005 * cam[:, :1])
    value = torch.nn.functional.grid_sample(ex(seg.to(dtype)), q[:, :, None, :2], mode="bilinear", align_corners=False)
    return value[:, 0, :, 0].clamp(0, 1) * visible.to(dtype)


def merge(
    recon: HeadReconstruction,
    body: SmplxParams,
    assets: "Assets",
    *,
    head: str = "hair",
    blend_width: float = DEFAULT_BLEND_WIDTH,
    hair_margin: tuple[float, float] = DEFAULT_HAIR_MARGIN,
    skeleton: str = "body",
    hair_segmentation: Optional[Tensor] = None,
    renderer: Optional["HeadAvatar"] = None,
    smplx_model: Optional["SmplxModel"] = None,
    flame_model: Optional["FlameModel"] = None,
) -> FullBodyAvatar:
    """Put ROME heads on SMPL-X bodies (batched; nothing passed in is modified).

    Args:
        recon: :class:`HeadReconstruction` with batch B (or 1, shared by every body).
        body: SMPL-X parameters with batch B (or 1), y-up (``bridges.pixie.to_y_up`` for PIXIE's).
        assets: the asset folder (SMPL-X and FLAME models, correspondence, ROME vertex lists).
        head: ``"hair"`` (SMPL-X's face and shoulders, ROME's hair) or ``"full"`` (ROME's face shape too).
        blend_width: graph distance (metres over the SMPL-X surface, from the head) over which ROME's
            neck and shoulder reshaping fades out.
        hair_margin: ``(start, full)`` signed distances (metres) outside the SMPL-X body from which a neck
            offset starts to count, and fully counts, as hair (kept whole).
        skeleton: ``"body"`` (rest joints from the body without hair) or ``"template"`` (from the merged
            template, smplx's rule).
        hair_segmentation: optional ``(B, 1, H, W)`` hair probability of the reconstruction's source image
            (its aligned crop, e.g. a face parser's hair class): neck vertices it covers, where the
            source camera sees them, carry hair whatever their offsets.
        renderer: the :class:`~rome_smplx.avatar.head.HeadAvatar` that made ``recon``, kept for
            :meth:`FullBodyAvatar.render` (optional).
        smplx_model, flame_model: models to read the buffers from instead of the assets' (never written).

    Returns:
        :class:`FullBodyAvatar` with batch B, posed with ``body``.

    Raises:
        InputError: wrong types, batch sizes, frame, coefficient or vertex counts, or options.
    """
    if not isinstance(recon, HeadReconstruction):
        raise InputError(f"merge: recon must be a HeadReconstruction, found {type(recon).__name__}")
    if not isinstance(body, SmplxParams):
        raise InputError(f"merge: body must be SmplxParams, found {type(body).__name__}")
    if head not in HEAD_MODES:
        raise InputError(f"merge: head must be one of {HEAD_MODES}, found {head!r}")
    if skeleton not in SKELETONS:
        raise InputError(f"merge: skeleton must be one of {SKELETONS}, found {skeleton!r}")
    if not (isinstance(blend_width, (int, float)) and math.isfinite(blend_width) and blend_width > 0):
        raise InputError(f"merge: blend_width must be a positive number of metres, found {blend_width!r}")
    lo, hi = (float(m) for m in hair_margin)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise InputError(f"merge: hair_margin must be (start, full) metres with start < full, found {hair_margin!r}")
    if body.frame != "y_up":
        raise InputError("merge: the body parameters are in PIXIE's y-down frame; convert with bridges.pixie.to_y_up")
    B = max(recon.batch_size, body.batch_size)
    if recon.batch_size not in (1, B) or body.batch_size not in (1, B):
        raise InputError(f"merge: batch sizes differ: {recon.batch_size} reconstructions, {body.batch_size} bodies")
    dev = recon.offsets.device
    rig = body_rig(assets, smplx_model=smplx_model, flame_model=flame_model, device=dev)
    dtype = rig.dtype
    N, V = rig.num_head_vertices, rig.num_vertices
    if recon.offsets.shape[1:] != (N, 3):
        raise InputError(f"merge: the reconstruction's offsets are {tuple(recon.offsets.shape)}, expected (B, {N}, 3) "
                         f"for the FLAME model of {assets.root}")

    def ex(t: Tensor) -> Tensor:
        return t.expand(B, *t.shape[1:]) if t.shape[0] != B else t

    betas = _coeffs(ex(body.betas.to(dev, dtype)), rig.num_betas, "the body's betas")
    shape = _coeffs(ex(recon.flame.shape.to(dev, dtype)), rig.flame_shapedirs.shape[0], "the FLAME shape")
    offsets_f = ex(recon.offsets.to(dtype))

    # 1. shapes
    shaped = rig.v_template + (betas @ rig.shapedirs[: betas.shape[1]]).view(B, V, 3)
    flame_v = rig.flame_template + (shape @ rig.flame_shapedirs[: shape.shape[1]]).view(B, N, 3)
    target = shaped.index_select(1, rig.corr)
    # 2. alignment on the face and ears
    s, R, t = umeyama(flame_v[:, rig.align], target[:, rig.align])
    sim = Similarity(s, R, t)
    # 3. what the head brings, in the body frame
    disp = sim.apply_vectors(offsets_f)
    sigma = sim.apply(flame_v) - target if head == "full" else None
    if sigma is not None:
        disp = disp + sigma
    # 4. the neck: hair (outside the body) or reshaping (fades out)
    ni = rig.neck_index
    seen = None if hair_segmentation is None else segmented_hair(rig, recon, hair_segmentation.to(dev), B)
    hair_w = _hair_weights(rig, shaped, target[:, ni], disp[:, ni], lo, hi, seen)
    reshape_w = rig.neck_falloff(blend_width)
    seam_f = torch.ones(B, N, dtype=dtype, device=dev)
    seam_f[:, ni] = hair_w + (1 - hair_w) * reshape_w
    moved = seam_f[..., None] * disp
    offsets = torch.zeros(B, V, 3, dtype=dtype, device=dev).index_copy(1, rig.corr, moved)
    # 5. the new template
    template = shaped + offsets
    # 6. the skeleton
    joints = rig.joints_template + (betas @ rig.joint_shapedirs[: betas.shape[1]]).view(B, -1, 3)
    if skeleton == "template":
        joints = joints + torch.einsum("jn,bnc->bjc", rig.joint_regressor_head, moved)
    elif sigma is not None:
        joints = joints + torch.einsum("jn,bnc->bjc", rig.joint_regressor_head, seam_f[..., None] * sigma)

    parts_f = torch.full((B, N), PART_FACE, dtype=torch.long, device=dev)
    parts_f[:, rig.hair] = PART_HAIR
    parts_f[:, ni] = torch.where(hair_w >= 0.5, PART_HAIR, PART_NECK)
    parts = torch.full((B, V), PART_BODY, dtype=torch.long, device=dev).index_copy(1, rig.corr, parts_f)
    seam = torch.zeros(B, V, dtype=dtype, device=dev).index_copy(1, rig.corr, seam_f)
    flame_mask = torch.ones(N, dtype=dtype, device=dev)
    flame_mask[ni] = reshape_w
    root = torch.einsum("n,bnc->bc", rig.flame_root_regressor, flame_v)
    cam = recon.flame.cam
    if logger.isEnabledFor(logging.INFO):
        res = (sim.apply(flame_v[:, rig.align]) - target[:, rig.align]).norm(dim=-1).mean(-1)
        logger.info("merge: %d avatar(s), similarity scale %s, face residual %s mm, %d neck vertices carry hair",
                    B, np.round(s.detach().cpu().numpy(), 4).tolist()[:4],
                    np.round(1000 * res.detach().cpu().numpy(), 2).tolist()[:4], int((hair_w >= 0.5).sum()))
    avatar = FullBodyAvatar(
        template=template, offsets=offsets, rest_joints=joints, vertices=template, joints=joints,
        transforms=torch.eye(4, dtype=dtype, device=dev).expand(B, joints.shape[1], 4, 4),
        params=body.to(device=dev, dtype=dtype) if body.batch_size == B else body.to(device=dev, dtype=dtype).index(
            torch.zeros(B, dtype=torch.long, device=dev)),
        parts=parts, seam_weights=seam, hair_weights=hair_w, similarity=sim, flame_mask=flame_mask,
        flame_root=sim.apply(root[:, None])[:, 0], rig=rig, texture=ex(recon.texture),
        source_cam=None if cam is None else ex(cam.to(dev, dtype)), renderer=renderer, head=head,
    )
    return avatar.pose(avatar.params)
