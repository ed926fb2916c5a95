"""The full-body merge: purity, batching, the seam, long hair on the neck, posing, FLAME driving, rendering.

Everything runs on the synthetic world, whose truth is known: the body's head is the FLAME head (shifted),
its shape and expression components are FLAME's, and a long-hair offset field is made here on ROME's neck
vertices. Whether a displaced neck point is outside the body is decided independently of the merge by an
exact oracle (nearest surface sample distance, sign from the generalised winding number).
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch
from rome_smplx.bridges import deca, pixie
from smplx.joint_names import JOINT_NAMES

import rome_smplx as rs
from rome_smplx.assets.synthetic.body import BODY_SHAPE_COMPONENTS
from rome_smplx.assets.synthetic.video import SyntheticSubject
from rome_smplx.avatar.merge import (
    DEFAULT_BLEND_WIDTH,
    DEFAULT_HAIR_MARGIN,
    PART_BODY,
    PART_HAIR,
    PART_NECK,
    merge,
)
from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import edges, face_normals, vertex_normals
from rome_smplx.geometry.rotations import axis_angle_to_matrix
from rome_smplx.io.images import load_image, load_mask
from rome_smplx.metrics import psnr
from rome_smplx.models.smplx_body import SmplxModel
from rome_smplx.render.full_body import OrthographicCamera
from rome_smplx.types import FlameParams, HeadReconstruction, SmplxParams

SIZE = 64


def _smoothstep(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return x * x * (3 - 2 * x)


def long_hair(recon: HeadReconstruction, head: rs.HeadAvatar, assets, *, length: float = 0.03) -> HeadReconstruction:
    """The reconstruction with long hair on the back of ROME's neck (out along the normals and down) and a
    thin reshaping layer on its front (4 mm along the normals); offsets elsewhere unchanged."""
    neck = assets.rome_data().neck_list
    neutral = head.flame(FlameParams(shape=recon.flame.shape, expression=recon.flame.expression[:, :1] * 0)).vertices
    n = vertex_normals(neutral, head.faces)[:, neck]  # (B, Nn, 3)
    back = _smoothstep((-n[..., 2] - 0.3) / 0.4)[..., None]
    front = _smoothstep((n[..., 2] - 0.2) / 0.4)[..., None]
    down = torch.tensor([0.0, -1.0, 0.0])
    off = recon.offsets.clone()
    off[:, neck] = back * (length * n + 0.5 * length * down) + front * 0.004 * n
    return dataclasses.replace(recon, offsets=off)


def stack(recons: list[HeadReconstruction]) -> HeadReconstruction:
    f = recons[0].flame
    flame = FlameParams(**{k: torch.cat([getattr(r.flame, k) for r in recons]) for k in
                           ("shape", "expression", "global_rot", "jaw_rot", "neck_rot", "eye_rots", "cam")})
    del f
    cat = {k: torch.cat([getattr(r, k) for r in recons]) for k in
           ("texture", "offsets", "vertices", "hair_coeffs", "source_image", "source_mask")}
    return dataclasses.replace(recons[0], flame=flame, **cat)


def stack_params(ps: list[SmplxParams]) -> SmplxParams:
    keys = ("betas", "expression", "global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose",
            "left_hand_pose", "right_hand_pose")
    return SmplxParams(**{k: torch.cat([getattr(p, k) for p in ps]) for k in keys})


def random_pose(B: int, g: torch.Generator, *, expression: int = 50, transl: bool = True) -> SmplxParams:
    def rot(*shape, s=0.4):
        return axis_angle_to_matrix(s * torch.randn(*shape, 3, generator=g))

    return SmplxParams(
        betas=torch.zeros(B, 1), expression=0.5 * torch.randn(B, expression, generator=g), global_orient=rot(B),
        body_pose=rot(B, 21), jaw_pose=rot(B, s=0.2), leye_pose=rot(B, s=0.1), reye_pose=rot(B, s=0.1),
        left_hand_pose=rot(B, 15), right_hand_pose=rot(B, 15),
        transl=0.3 * torch.randn(B, 3, generator=g) if transl else None,
    )


def signed_distance(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, samples: int = 6) -> torch.Tensor:
    """Oracle: ``(M,)`` signed distance of points to a mesh (positive outside). Magnitude: the nearest of
    dense barycentric samples of every face; sign: the generalised winding number (> 1/2 inside)."""
    tri = verts[faces].double()  # (F, 3, 3)
    ij = [(i, j) for i in range(samples + 1) for j in range(samples + 1 - i)]
    w = torch.tensor([(i / samples, j / samples, 1 - (i + j) / samples) for i, j in ij], dtype=torch.float64)
    pts = torch.einsum("sk,fkc->fsc", w, tri).reshape(-1, 3)
    p = points.double()
    dist = torch.cat([torch.cdist(p[i : i + 64], pts).amin(1) for i in range(0, len(p), 64)])
    wind = []
    for i in range(0, len(p), 32):
        a, b, c = (tri[None, :, k] - p[i : i + 32, None] for k in range(3))
        la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
        num = (a * torch.cross(b, c, dim=-1)).sum(-1)
        den = la * lb * lc + (a * b).sum(-1) * lc + (a * c).sum(-1) * lb + (b * c).sum(-1) * la
        wind.append((2 * torch.atan2(num, den)).sum(-1) / (4 * math.pi))
    inside = torch.cat(wind).abs() > 0.5
    return torch.where(inside, -dist, dist).to(points.dtype)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def world(synthetic_dir_small):
    assets = rs.Assets.from_dir(synthetic_dir_small)
    folder = synthetic_dir_small / "people" / "person_000"
    head = rs.HeadAvatar.from_assets(assets, variant="linear", size="small", image_size=SIZE, backend="torch")
    flame = deca.load(folder / "person_000_deca.pkl")
    with torch.no_grad():
        recon = head.reconstruct(load_image(folder / "photo_256.png"), load_mask(folder / "mask_256.png"), flame)
    body = pixie.to_y_up(pixie.load(folder / "person_000_param.pkl"))
    model = SmplxModel.from_assets(assets)
    return {"assets": assets, "head": head, "recon": recon, "body": body, "flame": flame, "model": model}


@pytest.fixture(scope="module")
def haired(world):
    """Long hair on the neck, merged (hair mode)."""
    with torch.no_grad():
        recon = long_hair(world["recon"], world["head"], world["assets"])
        avatar = merge(recon, world["body"], world["assets"], flame_model=world["head"].flame)
    return recon, avatar


def _aligned_rome(avatar, recon, head) -> torch.Tensor:
    """The ROME head (neutral FLAME of the identity + offsets) in the body frame: (B, N, 3)."""
    zero = recon.flame.expression * 0
    neutral = head.flame(FlameParams(shape=recon.flame.shape, expression=zero)).vertices
    return avatar.similarity.apply(neutral + recon.offsets)


def _head_height(head, recon) -> float:
    v = head.flame(FlameParams(shape=recon.flame.shape, expression=recon.flame.expression * 0)).vertices
    return float(v[..., 1].amax() - v[..., 1].amin())


# ---------------------------------------------------------------------------------------------- purity
def test_merging_twice_with_one_model_is_identical_and_leaves_the_model_unchanged(world):
    model, recon, body = world["model"], world["recon"], world["body"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recon_before, body_before = recon.offsets.clone(), body.betas.clone()
    with torch.no_grad():
        a = merge(recon, body, world["assets"], smplx_model=model, flame_model=world["head"].flame)
        b = merge(recon, body, world["assets"], smplx_model=model, flame_model=world["head"].flame)
    for name in ("template", "offsets", "vertices", "joints", "seam_weights", "parts", "hair_weights"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert float(a.offsets.abs().max()) > 1e-3  # something was merged
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), f"merge changed the model's {k}"
    assert torch.equal(recon.offsets, recon_before) and torch.equal(body.betas, body_before)
    # A bare forward of the model still gives the plain body (the hair did not stack into it).
    plain = model(body).vertices
    moved = (a.vertices - plain).norm(dim=-1)
    assert float(moved[a.parts == PART_BODY].max()) < 1e-6 and float(moved.max()) > 1e-3


def test_a_batch_of_eight_equals_eight_single_merges(world):
    g = torch.Generator().manual_seed(3)
    base, head = world["recon"], world["head"]
    recons, bodies = [], []
    for i in range(8):
        r = dataclasses.replace(base, offsets=base.offsets * (0.5 + 0.2 * i))
        if i % 2:
            r = long_hair(r, head, world["assets"], length=0.02 + 0.005 * i)
        recons.append(r)
        betas = world["body"].betas + 0.3 * torch.randn(world["body"].betas.shape, generator=g)
        bodies.append(dataclasses.replace(world["body"], betas=betas))
    with torch.no_grad():
        batch = merge(stack(recons), stack_params(bodies), world["assets"], flame_model=head.flame)
        singles = [merge(r, b, world["assets"], flame_model=head.flame) for r, b in zip(recons, bodies)]
    assert batch.batch_size == 8
    for name in ("template", "vertices", "joints"):  # metres
        torch.testing.assert_close(getattr(batch, name), torch.cat([getattr(s, name) for s in singles]),
                                   atol=1e-6, rtol=0, msg=name)
    for name in ("seam_weights", "hair_weights"):  # rounding of the positions, times the smoothstep's slope
        torch.testing.assert_close(getattr(batch, name), torch.cat([getattr(s, name) for s in singles]),
                                   atol=1e-5, rtol=0, msg=name)
    assert torch.equal(batch.parts, torch.cat([s.parts for s in singles]))
    torch.testing.assert_close(batch.similarity.scale, torch.cat([s.similarity.scale for s in singles]), atol=1e-6, rtol=0)
    # index() gives the single avatar back
    torch.testing.assert_close(batch.index(5).vertices, singles[5].vertices, atol=1e-6, rtol=0)
    assert int((batch.hair_weights >= 0.5).sum(1)[1::2].min()) > 0  # the long-haired ones carry neck hair


# ------------------------------------------------------------------------------------------- the seam
def test_body_beyond_the_blend_band_equals_plain_smplx(world, haired):
    _, avatar = haired
    model = world["model"]
    seam = avatar.seam_weights[0]
    beyond = seam == 0
    neck_beyond = beyond & (avatar.parts[0] == PART_NECK)
    assert int(neck_beyond.sum()) > 0, "the band should end on the neck"
    assert int(((seam > 0) & (seam < 1)).sum()) > 0, "the band is empty"
    g = torch.Generator().manual_seed(1)
    poses = random_pose(4, g)
    body = world["body"]
    with torch.no_grad():
        plain_rest = model(body).vertices
        torch.testing.assert_close(avatar.vertices[0, beyond], plain_rest[0, beyond], atol=1e-6, rtol=0)
        for i in range(4):
            p = dataclasses.replace(poses.index(i), betas=body.betas)
            posed = avatar.pose(p).vertices
            torch.testing.assert_close(posed[0, beyond], model(p).vertices[0, beyond], atol=1e-6, rtol=0)


def test_hair_and_neck_hair_equal_the_aligned_rome_head(world, haired):
    recon, avatar = haired
    head, assets = world["head"], world["assets"]
    corr = avatar.rig.corr
    tol = 1e-4 * _head_height(head, recon)
    with torch.no_grad():
        rome = _aligned_rome(avatar, recon, head)
        shaped = avatar.template - avatar.offsets
        # oracle: which displaced neck points leave the body, and by how much
        neck = assets.rome_data().neck_list
        sd = signed_distance(rome[0, neck], shaped[0], avatar.faces)
    lo, hi = DEFAULT_HAIR_MARGIN
    clear_hair = sd > hi + 0.002
    clear_body = sd < lo - 0.002
    assert int(clear_hair.sum()) >= 10 and int(clear_body.sum()) >= 10
    kept = avatar.template[0, corr]
    hair = avatar.rig.hair
    err_scalp = (kept[hair] - rome[0, hair]).norm(dim=-1)
    assert float(err_scalp.max()) <= tol
    err_neck = (kept[neck[clear_hair]] - rome[0, neck[clear_hair]]).norm(dim=-1)
    assert float(err_neck.max()) <= tol
    assert bool((avatar.parts[0, corr[neck[clear_hair]]] == PART_HAIR).all())
    # neck vertices whose offsets stay on (or in) the body are reshaping: they fade
    hw = avatar.hair_weights[0]
    assert float((avatar.parts[0, corr[neck[clear_body]]] == PART_NECK).float().mean()) > 0.9
    reshaped = clear_body & (hw == 0)
    torch.testing.assert_close(avatar.seam_weights[0, corr[neck[reshaped]]],
                               avatar.rig.neck_falloff(DEFAULT_BLEND_WIDTH)[reshaped], atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_long_haired_synthetic_subject_keeps_its_curtain_and_sheds_the_neck_layer(world, seed):
    head, assets = world["head"], world["assets"]
    subj = SyntheticSubject.from_seed(seed, assets, family="long")
    recon = dataclasses.replace(world["recon"], offsets=subj.offsets[None],
                                flame=dataclasses.replace(world["recon"].flame, shape=subj.shape[None]))
    body = SmplxParams(betas=torch.as_tensor(subj.body["betas"], dtype=torch.float32)[None], expression=torch.zeros(1, 50))
    with torch.no_grad():
        avatar = merge(recon, body, assets, flame_model=head.flame)
        rome = _aligned_rome(avatar, recon, head)
        neck = assets.rome_data().neck_list
        sd = signed_distance(rome[0, neck], (avatar.template - avatar.offsets)[0], avatar.faces)
    corr = avatar.rig.corr
    truth = subj.hair_weight[neck]
    covered, bare = truth >= 0.99, truth == 0
    assert int(covered.sum()) > 20 and int(bare.sum()) > 20
    err = (avatar.template[0, corr[neck]] - rome[0, neck]).norm(dim=-1)
    whole = err <= 1e-4 * _head_height(head, recon)
    assert float(whole[covered].float().mean()) >= 0.95  # the curtain is kept whole ...
    beyond = covered & (sd > DEFAULT_HAIR_MARGIN[1] + 0.002)
    assert bool(whole[beyond].all())  # ... every part of it that leaves the body by the margin
    assert float((avatar.parts[0, corr[neck[covered]]] == PART_HAIR).float().mean()) >= 0.95
    # the thin layer on the bare neck is reshaping: it fades, and beyond the band it is gone
    assert float((avatar.parts[0, corr[neck[bare]]] == PART_NECK).float().mean()) >= 0.9
    seam = avatar.seam_weights[0, corr[neck]]
    assert float(avatar.offsets[0, corr[neck[bare & (seam == 0)]]].abs().max()) == 0.0


def test_a_hair_segmentation_keeps_thin_hair_the_source_camera_sees(world):
    """Hair too thin to leave the body by the margin is told apart by the photo's hair segmentation."""
    from rome_smplx.assets.synthetic.video import SEGMENTATION_LABELS
    from rome_smplx.avatar.merge import segmented_hair

    head, assets = world["head"], world["assets"]
    data = assets.rome_data()
    neck = data.neck_list
    subj = SyntheticSubject.from_seed(1, assets, family="long")
    frame = subj.render(dataclasses.replace(subj.walk(1)[0], yaw=0.8, pitch=0.0, roll=0.0), image_size=128)
    seg = (frame.segmentation == SEGMENTATION_LABELS["hair"]).float()[None, None]
    thin = frame.offsets.clone()
    thin[neck] *= 0.25  # the curtain pressed onto the neck: a few mm
    recon = HeadReconstruction(texture=torch.zeros(1, 8, 4, 4), offsets=thin[None],
                               vertices=(frame.vertices - frame.offsets + thin)[None], faces=data.faces,
                               uv_faces=data.uv_faces, uvs=data.vertex_uvs, flame=frame.flame)
    body = SmplxParams(betas=torch.as_tensor(subj.body["betas"], dtype=torch.float32)[None], expression=torch.zeros(1, 50))
    with torch.no_grad():
        plain = merge(recon, body, assets, flame_model=head.flame)
        segmented = merge(recon, body, assets, flame_model=head.flame, hair_segmentation=seg)
        seen = segmented_hair(plain.rig, recon, seg, 1)[0]
    truth = subj.hair_weight[neck]
    covered = (truth >= 0.99) & (seen >= 0.99)
    bare = truth == 0
    assert int(covered.sum()) >= 5 and float(seen[bare].max()) < 0.5  # it sees some curtain, no hair on bare skin
    corr = plain.rig.corr

    def kept(av):
        return av.seam_weights[0, corr[neck]] > 0.9999

    assert bool(kept(segmented)[covered].all())
    assert float(kept(plain)[covered].float().mean()) < 0.5  # the geometry alone cannot tell
    for av in (plain, segmented):
        assert float((av.parts[0, corr[neck[bare]]] == PART_NECK).float().mean()) >= 0.9
    with pytest.raises(InputError, match="hair_segmentation"):
        merge(recon, body, assets, hair_segmentation=seg[0])


def test_full_mode_takes_rome_face_shape_and_hair_mode_keeps_smplx_face(world):
    head, assets = world["head"], world["assets"]
    g = torch.Generator().manual_seed(7)
    body = world["body"]
    betas = body.betas + torch.cat([torch.zeros(1, 20), 1.5 * torch.randn(1, body.betas.shape[1] - 20, generator=g)], 1)
    other = dataclasses.replace(body, betas=betas)  # a SMPL-X head shape that is not the photo's
    recon = world["recon"]
    with torch.no_grad():
        hair = merge(recon, other, assets, flame_model=head.flame)
        full = merge(recon, other, assets, flame_model=head.flame, head="full")
        rome = _aligned_rome(full, recon, head)
    corr, rig = full.rig.corr, full.rig
    tol = 1e-4 * _head_height(head, recon)
    core = torch.ones(rig.num_head_vertices, dtype=torch.bool)
    core[rig.neck_index] = False
    err_full = (full.template[0, corr[core]] - rome[0, core]).norm(dim=-1)
    assert float(err_full.max()) <= tol
    # hair mode: SMPL-X's face (no offsets on the non-deformable face), ROME's offsets on the scalp
    face = rig.align
    shaped = hair.template - hair.offsets
    torch.testing.assert_close(hair.template[0, corr[face]], shaped[0, corr[face]], atol=1e-6, rtol=0)
    err_face_shape = (shaped[0, corr[face]] - rome[0, face]).norm(dim=-1)
    assert float(err_face_shape.max()) > 10 * tol  # the two face shapes really differ
    torch.testing.assert_close(hair.offsets[0, corr[rig.hair]], hair.similarity.apply_vectors(recon.offsets)[0, rig.hair],
                               atol=1e-6, rtol=0)


def test_no_face_in_the_band_flips(world, haired):
    for head_mode in ("hair", "full"):
        recon, _ = haired
        with torch.no_grad():
            avatar = merge(recon, world["body"], world["assets"], flame_model=world["head"].flame, head=head_mode)
        seam = avatar.seam_weights[0]
        neck = avatar.parts[0] == PART_NECK
        band_v = ((seam > 0) & (seam < 1)) | neck
        faces = avatar.faces
        band_f = band_v[faces].any(1)
        n_new = face_normals(avatar.template, faces)[0, band_f]
        n_old = face_normals(avatar.template - avatar.offsets, faces)[0, band_f]
        dots = (n_new * n_old).sum(-1)
        assert int(band_f.sum()) > 50
        assert float(dots.min()) > 0, f"{head_mode}: a face in the band flipped"


def test_the_band_is_as_smooth_as_the_rome_head(world, haired):
    recon, avatar = haired
    head = world["head"]
    e = edges(avatar.faces)
    o = avatar.offsets[0]
    seam = avatar.seam_weights[0]
    in_band = (seam > 0) & (seam < 1)
    across = in_band[e[:, 0]] | in_band[e[:, 1]]
    step_band = (o[e[across, 0]] - o[e[across, 1]]).norm(dim=-1).max()
    fe = edges(head.faces)
    d = avatar.similarity.apply_vectors(recon.offsets)[0]
    step_head = (d[fe[:, 0]] - d[fe[:, 1]]).norm(dim=-1).max()
    assert int(across.sum()) > 50
    assert float(step_band) <= float(step_head)
    # and the falloff reaches 0 at the head's border with the body
    w = avatar.rig.neck_falloff(DEFAULT_BLEND_WIDTH)
    assert float(w.max()) <= 1 and float(w.min()) == 0.0
    assert float(w[avatar.rig.neck_border_distance.argmin()]) == 0.0


def test_wider_bands_reach_further(world):
    with torch.no_grad():
        narrow = merge(world["recon"], world["body"], world["assets"], flame_model=world["head"].flame, blend_width=0.01)
        wide = merge(world["recon"], world["body"], world["assets"], flame_model=world["head"].flame, blend_width=0.06)
    n = narrow.rig.neck_index
    c = narrow.rig.corr[n]
    assert int((narrow.seam_weights[0, c] > 0).sum()) < int((wide.seam_weights[0, c] > 0).sum())
    assert bool((narrow.seam_weights[0, c] <= wide.seam_weights[0, c] + 1e-6).all())


# ---------------------------------------------------------------------------------------------- posing
@pytest.mark.parametrize("head_mode", ["hair", "full"])
def test_posing_equals_smplx_lbs_of_the_merged_template(world, haired, head_mode):
    recon, _ = haired
    assets = world["assets"]
    with torch.no_grad():
        avatar = merge(recon, world["body"], assets, flame_model=world["head"].flame, head=head_mode,
                       skeleton="template")
        layer = assets.smplx_layer(v_template=avatar.template[0].clone())  # smplx's own model of the template
        g = torch.Generator().manual_seed(11)
        poses = random_pose(10, g)
        ours = avatar.pose(poses)
        ref = layer(betas=torch.zeros(10, 200), expression=poses.expression, global_orient=poses.global_orient,
                    body_pose=poses.body_pose, jaw_pose=poses.jaw_pose, leye_pose=poses.leye_pose,
                    reye_pose=poses.reye_pose, left_hand_pose=poses.left_hand_pose,
                    right_hand_pose=poses.right_hand_pose, transl=poses.transl)
    assert ours.batch_size == 10  # a batch-1 avatar broadcasts over the frames
    torch.testing.assert_close(ours.vertices, ref.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.joints, ref.joints[:, : ours.joints.shape[1]], atol=1e-5, rtol=0)


def test_the_body_skeleton_ignores_the_hair(world, haired):
    _, avatar = haired
    model = world["model"]
    with torch.no_grad():
        zero = SmplxParams(betas=world["body"].betas, expression=torch.zeros(1, 50))
        rest = model(zero).joints[:, : avatar.rest_joints.shape[1]]
        templ = merge(haired[0], world["body"], world["assets"], flame_model=world["head"].flame, skeleton="template")
    torch.testing.assert_close(avatar.rest_joints, rest, atol=1e-6, rtol=0)
    head_joint = JOINT_NAMES.index("head")
    assert float((templ.rest_joints - avatar.rest_joints)[0, head_joint].norm()) > 1e-5  # hair moves smplx's joints


@pytest.mark.parametrize("basis", ["smplx", "flame"])
def test_flame_expression_and_jaw_drive_the_face_like_flame_plus_offsets(world, basis):
    head, recon = world["head"], world["recon"]
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        avatar = merge(recon, world["body"], world["assets"], flame_model=head.flame)
        drive = FlameParams(shape=recon.flame.shape.expand(3, -1), expression=1.5 * torch.randn(3, 50, generator=g),
                            jaw_rot=axis_angle_to_matrix(torch.tensor([[0.3, 0.0, 0.0], [0.1, 0.05, 0.0], [0.0, 0, 0]])))
        still = SmplxParams(betas=world["body"].betas, expression=torch.zeros(1, 50))
        driven = avatar.pose(still, flame=drive, expression_basis=basis)
        flame_v = head.flame(drive).vertices + recon.offsets
        expected = avatar.similarity.apply(flame_v.expand(3, -1, -1).contiguous()) if False else \
            driven.similarity.apply(flame_v)
    rig = avatar.rig
    core = torch.ones(rig.num_head_vertices, dtype=torch.bool)
    core[rig.neck_index] = False
    got = driven.vertices[:, rig.corr[core]]
    moved = (got - avatar.vertices[:, rig.corr[core]]).norm(dim=-1)
    assert float(moved.max()) > 5e-3  # the face really moved
    torch.testing.assert_close(got, expected[:, core], atol=1e-4, rtol=0)


def test_pose_rejects_bad_input(world):
    with torch.no_grad():
        avatar = merge(world["recon"], world["body"], world["assets"], flame_model=world["head"].flame)
    with pytest.raises(InputError, match="y-up"):
        avatar.pose(dataclasses.replace(world["body"], frame="y_down"))
    with pytest.raises(InputError, match="expression_basis"):
        avatar.pose(world["body"], expression_basis="dense")
    with pytest.raises(InputError, match="expression coefficients"):
        avatar.pose(SmplxParams(betas=world["body"].betas, expression=torch.zeros(1, 120)))
    two = avatar.pose(stack_params([world["body"], world["body"]]))
    with pytest.raises(InputError, match="batch sizes differ"):
        two.pose(stack_params([world["body"]] * 3))


# ---------------------------------------------------------------------------------------------- inputs
def test_merge_rejects_bad_input(world):
    recon, body, assets = world["recon"], world["body"], world["assets"]
    with pytest.raises(InputError, match="y-down"):
        merge(recon, dataclasses.replace(body, frame="y_down"), assets)
    with pytest.raises(InputError, match="head must be one of"):
        merge(recon, body, assets, head="face")
    with pytest.raises(InputError, match="blend_width"):
        merge(recon, body, assets, blend_width=0.0)
    with pytest.raises(InputError, match="hair_margin"):
        merge(recon, body, assets, hair_margin=(0.02, 0.01))
    with pytest.raises(InputError, match="batch sizes differ"):
        merge(stack([recon, recon]), stack_params([body] * 3), assets)
    with pytest.raises(InputError, match=r"offsets are .* expected \(B, \d+, 3\)"):
        merge(dataclasses.replace(recon, offsets=recon.offsets[:, :-5]), body, assets)
    with pytest.raises(InputError, match="HeadReconstruction"):
        merge(body, body, assets)


def test_to_and_detach_keep_the_numbers(world):
    with torch.no_grad():
        avatar = merge(world["recon"], world["body"], world["assets"], flame_model=world["head"].flame)
    d = avatar.to(torch.float64)
    assert d.template.dtype == torch.float64 and d.parts.dtype == torch.long and d.rig.v_template.dtype == torch.float64
    again = d.pose(d.params.to(torch.float64))
    torch.testing.assert_close(again.vertices.float(), avatar.vertices, atol=1e-5, rtol=0)
    assert avatar.to(torch.float64).rig is d.rig  # moved rigs are shared
    off = avatar.offsets.clone().requires_grad_(True)
    g = dataclasses.replace(avatar, offsets=off * 2).detach()
    assert not g.offsets.requires_grad


# --------------------------------------------------------------------------------------------- render
def _head_only(recon: HeadReconstruction, assets) -> HeadReconstruction:
    off = recon.offsets.clone()
    off[:, assets.rome_data().neck_list] = 0  # nothing to fade: the merged head is ROME's head
    return dataclasses.replace(recon, offsets=off)


def test_neural_render_head_crop_matches_head_avatar_render(world):
    head, assets, flame = world["head"], world["assets"], world["flame"]
    recon = _head_only(world["recon"], assets)
    turn = axis_angle_to_matrix(torch.tensor([[0.1, 0.45, 0.0], [0.0, 0.0, 0.0]]))
    jaw = axis_angle_to_matrix(torch.tensor([[0.2, 0.0, 0.0], [0.05, 0.0, 0.0]]))
    g = torch.Generator().manual_seed(4)
    target = FlameParams(shape=recon.flame.shape.expand(2, -1), expression=torch.randn(2, 50, generator=g),
                         global_rot=turn, jaw_rot=jaw, cam=flame.cam.expand(2, -1))
    # The synthetic body's own shape fields bend its neck (the head moves rigidly, the neck blends): without
    # them the SMPL-X neck joint is FLAME's root, the pivot of ROME's global rotation.
    body = world["body"]
    body = dataclasses.replace(body, betas=torch.cat([body.betas[:, :BODY_SHAPE_COMPONENTS] * 0,
                                                      body.betas[:, BODY_SHAPE_COMPONENTS:]], 1))
    with torch.no_grad():
        avatar = merge(stack([recon, recon]), stack_params([body] * 2), assets, flame_model=head.flame,
                       renderer=head)
        ref = head.render(recon, target)
        # the body turns its neck like ROME's global rotation (about FLAME's root = the SMPL-X neck joint)
        R = avatar.similarity.rotation
        pose = torch.eye(3).expand(2, 21, 3, 3).clone()
        pose[:, JOINT_NAMES.index("neck") - 1] = R @ turn @ R.transpose(-1, -2)
        still = SmplxParams(betas=avatar.params.betas, expression=torch.zeros(2, 50), body_pose=pose)
        posed = avatar.pose(still, flame=target)
        cam = OrthographicCamera.from_rome(flame.cam.expand(2, -1), avatar.similarity)
        out = posed.render(cam, image_size=SIZE)
        singles = [posed.index(i).render(OrthographicCamera.from_rome(flame.cam, avatar.similarity.index(i)),
                                         image_size=SIZE) for i in range(2)]
    mask = ref.silhouette * (out.part_faces == 1).to(ref.silhouette.dtype)
    assert float(mask.sum(dim=(1, 2, 3)).min()) > 0.1 * SIZE * SIZE
    # one output pixel per network pixel, in place
    torch.testing.assert_close(out.head_crop, torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2), atol=1e-5, rtol=0)
    assert float(psnr(out.head_image, ref.image, mask=mask).min()) >= 35.0
    for i in range(2):  # batched == one by one
        torch.testing.assert_close(out.image[i : i + 1], singles[i].image, atol=1e-5, rtol=0)


def test_neural_render_of_a_merged_neck_matches_the_head_with_those_offsets(world):
    """With neck reshaping the merged head is not ROME's; it renders like ROME's head carrying the merged
    offsets (mapped back to the FLAME frame)."""
    head, assets, flame = world["head"], world["assets"], world["flame"]
    recon = world["recon"]
    with torch.no_grad():
        avatar = merge(recon, world["body"], assets, flame_model=head.flame, renderer=head)
        kept = avatar.similarity.inverse().apply_vectors(avatar.offsets[:, avatar.rig.corr])
        ref = head.render(dataclasses.replace(recon, offsets=kept), dataclasses.replace(flame, global_rot=torch.eye(3)[None]))
        posed = avatar.pose(SmplxParams(betas=avatar.params.betas, expression=torch.zeros(1, 50)), flame=flame)
        out = posed.render(OrthographicCamera.from_rome(flame.cam, avatar.similarity), image_size=SIZE)
    mask = ref.silhouette * (out.part_faces == 1).to(ref.silhouette.dtype)
    assert float(psnr(out.head_image, ref.image, mask=mask)[0]) >= 35.0


def test_render_composites_body_and_head_by_depth(world):
    head, assets = world["head"], world["assets"]
    with torch.no_grad():
        avatar = merge(world["recon"], world["body"], assets, flame_model=head.flame, renderer=head)
        cam = OrthographicCamera.framing(avatar.vertices)
        neural = avatar.render(cam, "neural", image_size=96, background=(0.0, 1.0, 0.0))
        shaded = avatar.render(cam, "shaded", image_size=96, background=(0.0, 1.0, 0.0))
        red = avatar.render(cam, "neural", image_size=96, body_colors=torch.tensor([1.0, 0.0, 0.0]))
    for out in (neural, shaded):
        assert out.image.shape == (1, 3, 96, 96)
        off = out.mask[0, 0] == 0
        assert int(off.sum()) > 0
        torch.testing.assert_close(out.image[0, :, off], torch.tensor([0.0, 1.0, 0.0])[:, None].expand(3, int(off.sum())))
    # body pixels far from the head get the body colour, shaded (red only), and no network colour
    body_px = (red.part_faces[0, 0] == 0) & (red.head_alpha[0, 0] == 0)
    assert int(body_px.sum()) > 100
    px = red.image[0][:, body_px]
    assert float(px[1:].abs().max()) == 0.0 and float(px[0].min()) > 0.2
    # head pixels carry the network's colour
    hp = red.head_alpha[0, 0] > 0.99
    torch.testing.assert_close(red.image[0][:, hp], red.head_image[0][:, hp], atol=1e-6, rtol=0)
    # a texture in SMPL-X's UV layout (a baked photo) colours the body the same way
    assert avatar.rig.uvs is not None
    half = torch.zeros(1, 3, 8, 8)
    half[:, 2] = 1.0  # blue everywhere
    tex = SimpleNamespace(image=half, uvs=avatar.rig.uvs, uv_faces=avatar.rig.uv_faces)
    with torch.no_grad():
        blue = avatar.render(cam, "neural", image_size=96, body_texture=tex)
        blue_shaded = avatar.render(cam, "shaded", image_size=96, body_texture=tex)
    for out in (blue, blue_shaded):
        px = out.image[0][:, body_px]
        assert float(px[:2].abs().max()) == 0.0 and float(px[2].min()) > 0.2
    with pytest.raises(InputError, match="uv_faces"):
        avatar.render(cam, body_texture=SimpleNamespace(image=half, uvs=avatar.rig.uvs, uv_faces=avatar.rig.uv_faces[:-1]))
    with pytest.raises(InputError, match="mode"):
        avatar.render(cam, "wireframe")
    bare = dataclasses.replace(avatar, renderer=None)
    with pytest.raises(InputError, match="renderer=head"):
        bare.render(cam)


def test_orthographic_camera_from_rome_matches_rome_projection(world):
    from rome_smplx.render.cameras import rome_project
    from rome_smplx.types import Similarity

    g = torch.Generator().manual_seed(0)
    R = axis_angle_to_matrix(0.3 * torch.randn(2, 3, generator=g))
    sim = Similarity(torch.tensor([1.1, 0.9]), R, torch.randn(2, 3, generator=g))
    cam = torch.tensor([[5.0, 0.01, -0.02], [4.0, -0.03, 0.05]])
    f = 0.1 * torch.randn(2, 50, 3, generator=g)
    eye = torch.eye(3).expand(2, 3, 3)
    expected = rome_project(f, cam, torch.zeros(2, 3), eye)
    got = OrthographicCamera.from_rome(cam, sim).project(sim.apply(f), (64, 64))
    torch.testing.assert_close(got[..., :2], expected[..., :2], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[..., 2], expected[..., 2] + 10.0, atol=1e-5, rtol=0)
