"""One-shot head avatar (ROME): reconstruct from one image, drive with FLAME parameters, render.

``reconstruct`` extracts what depends on the source image only (neural texture T, identity, and for
the linear variant the hair/neck basis coefficients) into a :class:`HeadReconstruction`;
``render`` re-runs only what depends on the target (FLAME pose/expression, offsets of the full
variant, rasterisation, E_img), so driving many frames from one source is cheap.

Variants:
    ``"full"``: offsets from the geometry U-Net E_geom and the per-vertex MLP G_geom:
    ``offsets = tanh(G_geom(Z(uv), harmonic(uv))) * mask * n`` (per axis, ``n`` the vertex normals of
    the posed FLAME mesh with the mouth-closing faces, ``mask`` the deformable vertices). Which UV
    G_geom encodes is a profile switch (:attr:`~rome_smplx.models.rome.RomeProfile.mlp_uv_grid_size`):
    the release (``official``) reads it from a ``linspace(-1, 1, 256)`` grid image sampled at the
    vertex UV with ``align_corners=False``, which is *not* the vertex UV: it is scaled by 256/255
    inside and fades to 0 through the zero padding within a texel of the border, and after the
    ``2**k`` harmonic encoding the two differ by up to 2. ``paper`` encodes the vertex UV itself.
    ``"linear"``: ROME's distilled model: a ResNet-50 regresses the coefficients of a linear basis
    (50 hair + 10 neck components); ``offsets = basis @ coeffs + mean`` (full 3D offsets).

The deformable vertices are :attr:`rome_smplx.assets.RomeData.deform_mask`: ROME's rule on its
lists, ``hair_list`` ∪ ``neck_list`` minus the front-of-throat FLAME vertices the release fixes (on
FLAME-sized heads only; see :mod:`rome_smplx.assets.flame_topology`).

The hard mask is cleaned by the profile's opening
(:attr:`~rome_smplx.models.rome.RomeProfile.mask_opening`): the vertical 9x1 one the release
really applies (``official``) or a true 9x9 one (``paper``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import vertex_normals
from rome_smplx.models.flame import FlameModel
from rome_smplx.models.rome import LinearHairRegressor, RomeNetworks, load_linear_regressor, load_official
from rome_smplx.render.cameras import rome_project, rome_project_for_raster
from rome_smplx.render.neural import DeferredNeuralRenderer, unwrap_image, uv_fragments, world2uv
from rome_smplx.types import FlameParams, HeadReconstruction, RenderOutput

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets

logger = logging.getLogger(__name__)

VARIANTS = ("full", "linear")

__all__ = ["HeadAvatar", "VARIANTS"]


def _image_in_unit_range(name: str, t: Tensor, shape: str, dims: dict | None = None) -> dict:
    """``t`` is a float tensor of ``shape`` (a :func:`~rome_smplx.checks.check_shape` spec) with finite
    values in [0, 1]; returns the sizes of the spec's names."""
    dims = check_shape(t, shape, name, dims=dims, dtype="float")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name}: contains NaN or inf values")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(f"{name}: values must lie in [0, 1], found range [{lo:.3g}, {hi:.3g}]")
    return dims


class HeadAvatar(nn.Module):
    """ROME head avatar: FLAME + neural texture + hair/neck/shoulder offsets + deferred neural rendering.

    Args:
        flame: the FLAME model (DECA's 100 shape / 50 expression coefficients by default).
        networks: the ROME networks (:class:`~rome_smplx.models.rome.RomeNetworks`).
        faces: (F, 3) faces to render (FLAME faces plus mouth-closing triangles, ``faces_v2``).
        uv_coords: (U, 2) UV coordinates in ROME's convention, indexed by ``uv_faces`` (F, 3).
        vertex_uvs: (N, 2) per-vertex UVs (where G_geom samples Z).
        deform_mask: (N,) 1 for deformable vertices, 0 elsewhere.
        basis: (3N, K) linear offset basis; mean_deform: (N, 3) (used by the linear variant).
        variant: ``"full"`` or ``"linear"``.
        regressor: the linear variant's coefficient regressor.
        image_size: output and source resolution (ROME: 256).
        backend: rasteriser backend (``"auto"``, ``"torch"``, ``"pytorch3d"``).
    """

    def __init__(
        self,
        flame: FlameModel,
        networks: RomeNetworks,
        faces: Tensor,
        uv_coords: Tensor,
        uv_faces: Tensor,
        vertex_uvs: Tensor,
        deform_mask: Tensor,
        basis: Tensor,
        mean_deform: Tensor,
        *,
        variant: str = "full",
        regressor: Optional[LinearHairRegressor] = None,
        image_size: int = 256,
        backend: str = "auto",
        offsets: bool = True,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise InputError(f"variant: expected one of {VARIANTS}, found {variant!r}")
        if variant == "linear" and regressor is None:
            raise InputError("variant 'linear' needs a regressor (LinearHairRegressor)")
        n = flame.num_vertices
        for name, t, shape in (
            ("vertex_uvs", vertex_uvs, (n, 2)),
            ("deform_mask", deform_mask, (n,)),
            ("mean_deform", mean_deform, (n, 3)),
        ):
            if tuple(t.shape) != shape:
                raise InputError(f"HeadAvatar.{name}: expected shape {shape} (FLAME has {n} vertices), found {tuple(t.shape)}")
        if basis.dim() != 2 or basis.shape[0] != 3 * n:
            raise InputError(f"HeadAvatar.basis: expected shape (3 * {n}, K), found {tuple(basis.shape)}")
        if faces.shape != uv_faces.shape:
            raise InputError(f"HeadAvatar: faces {tuple(faces.shape)} and uv_faces {tuple(uv_faces.shape)} differ")
        self.flame = flame
        self.networks = networks
        self.regressor = regressor
        self.variant = variant
        self.image_size = int(image_size)
        self.backend = backend
        self.use_offsets = bool(offsets)
        self.register_buffer("faces", faces.to(torch.long).clone())
        self.register_buffer("uv_coords", uv_coords.to(torch.float32).clone())
        self.register_buffer("uv_faces", uv_faces.to(torch.long).clone())
        self.register_buffer("vertex_uvs", vertex_uvs.to(torch.float32).clone())
        self.register_buffer("deform_mask", deform_mask.to(torch.float32).clone())
        self.register_buffer("basis", basis.to(torch.float32).clone())
        self.register_buffer("mean_deform", mean_deform.to(torch.float32).clone())
        self._uv_frags: dict = {}  # (size, device, dtype) -> uv_fragments of the UV layout

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_assets(
        cls,
        assets: "Assets",
        variant: str = "full",
        *,
        profile: str = "official",
        size: str = "full",
        weights: Optional[str] = None,
        linear_weights: Optional[str] = None,
        image_size: Optional[int] = None,
        backend: str = "auto",
        device: Optional[torch.device | str] = None,
        seed: int = 0,
        defaults: bool = True,
        offsets: bool = True,
    ) -> "HeadAvatar":
        """Build from an asset folder.

        Weights: ``weights`` (our safetensors checkpoint or the released ``rome.pth``) and
        ``linear_weights`` (``linear_hair.pth``, or our linear-model file) default to the asset folder's
        ``rome/rome.pth`` and ``rome/linear_hair.pth``. With the synthetic stand-in assets the weights
        this project trained on them (:mod:`rome_smplx.weights`) are the default (``defaults=False``
        turns that off). Otherwise, when no weights exist, the networks are initialised randomly from
        ``seed`` and a warning says so: the avatar then runs end to end but its images are not
        meaningful until trained or loaded.

        ``image_size`` defaults to the networks' training resolution; ``offsets=False`` renders the
        bare FLAME mesh (the "w/o offsets" ablation's weights).
        """
        from rome_smplx import weights as shipped
        from rome_smplx.models.rome import load as load_ours

        flame = FlameModel.from_assets(assets)
        data = assets.rome_data()
        wpath = weights if weights is not None else assets.find("rome_weights")
        use_shipped = defaults and wpath is None and shipped.defaults_for(assets)
        basis, mean = data.basis, data.mean_deform
        if use_shipped:
            logger.info("synthetic stand-in assets: using the weights trained on them (%s)", shipped.path("full"))
            networks = load_ours(shipped.path("full"), dtype=torch.float32, discriminator=False)
        elif wpath is not None:
            wpath = str(wpath)
            if wpath.endswith(".pth") or wpath.endswith(".pt") or wpath.endswith(".tar"):
                networks = load_official(wpath, profile, size=size)
            else:
                networks = load_ours(wpath, dtype=torch.float32, discriminator=False)
        else:
            logger.warning(
                "no ROME weights found (looked for %s): the %s/%s networks are randomly initialised (seed %d)",
                assets.root / "rome" / "rome.pth", profile, size, seed,
            )
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                networks = RomeNetworks.from_profile(profile, size)
        regressor = None
        if variant == "linear":
            lpath = linear_weights if linear_weights is not None else assets.find("linear_weights")
            if lpath is None and use_shipped and shipped.path("linear") is not None:
                lpath = shipped.path("linear")
            if lpath is not None and str(lpath).endswith(".safetensors"):
                regressor, basis, mean = shipped.load_linear(lpath)
            elif lpath is not None:
                regressor = load_linear_regressor(lpath)
            else:
                logger.warning("no linear_hair.pth found: the linear regressor is randomly initialised (seed %d)", seed)
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed + 1)
                    regressor = LinearHairRegressor(int(data.basis.shape[1]))
                # A random regressor's coefficients are large; keep the offsets near the mean.
                with torch.no_grad():
                    regressor.fc.weight.mul_(1e-3)
                    regressor.fc.bias.zero_()
        uv_coords, uv_faces = assets.uv_layout() if hasattr(assets, "uv_layout") else (None, None)
        if uv_coords is None:
            # No separate UV layout: use the per-vertex UVs (seam faces stretch across the texture).
            uv_coords, uv_faces = data.vertex_uvs, data.faces
        deform_mask = data.deform_mask
        avatar = cls(
            flame, networks, data.faces, uv_coords, uv_faces, data.vertex_uvs, deform_mask, basis,
            mean, variant=variant, regressor=regressor,
            image_size=networks.profile.image_size if image_size is None else image_size, backend=backend,
            offsets=offsets,
        )
        avatar.eval()
        return avatar.to(device) if device is not None else avatar

    # ------------------------------------------------------------------ pieces
    @property
    def profile(self):
        return self.networks.profile

    @property
    def renderer(self) -> DeferredNeuralRenderer:
        """The deferred neural renderer of this head: rasterisation, neural texture sampling and E_img
        (called as ``renderer(texture, verts, ndc, faces, uv_coords, uv_faces, (H, W))``)."""
        return DeferredNeuralRenderer(
            self.networks.render_logits, self.profile.harmonic, self.image_size, backend=self.backend,
            opening_shape=self.profile.mask_opening,
        )

    def _resize(self, t: Tensor, mode: str) -> Tensor:
        if t.shape[-2:] == (self.image_size, self.image_size):
            return t
        if mode == "nearest":
            return F.interpolate(t, size=(self.image_size, self.image_size), mode="nearest")
        return F.interpolate(t, size=(self.image_size, self.image_size), mode=mode, align_corners=False, antialias=True)

    def encode_texture(self, image: Tensor, mask: Tensor, unwrapped: Optional[Tensor] = None) -> Tensor:
        """E_tex on the source: ``(B, 3, H, W)``, ``(B, 1, H, W)`` -> ``(B, C, 256, 256)``.

        ROME resizes the texture to 256 (nearest) when E_tex's output has another size. Profiles with
        :attr:`~rome_smplx.models.rome.RomeProfile.texture_unwrap` also need ``unwrapped``
        (:meth:`unwrap_source`).
        """
        tex = self.networks.encode_texture(image, mask, unwrapped)
        size = self.profile.image_size
        if tex.shape[-1] != size:
            tex = F.interpolate(tex, size=(size, size), mode="nearest")
        return tex

    def uv_fragments(self):
        """:func:`~rome_smplx.render.neural.uv_fragments` of the UV layout at the profile's size (cached)."""
        size = self.profile.image_size
        key = (size, self.uv_coords.device, self.uv_coords.dtype, self.backend)
        frags = self._uv_frags.get(key)
        if frags is None:
            frags = self._uv_frags[key] = uv_fragments(self.uv_coords, self.uv_faces, size, backend=self.backend)
        return frags

    def project(self, verts: Tensor, params: FlameParams, root: Tensor) -> Tensor:
        """FLAME-frame vertices (before the global rotation) -> image NDC with ROME's positive depth."""
        return rome_project_for_raster(verts, params.cam, root, params.global_rot)

    def unwrap_source(self, image: Tensor, mask: Tensor, params: FlameParams, flame_out=None) -> Tensor:
        """The source image in UV space through its FLAME mesh (no offsets): ``(B, 4, S, S)``
        (:func:`~rome_smplx.render.neural.unwrap_image`); ``params`` needs ``cam``."""
        if params.cam is None:
            raise InputError("this profile unwraps the source into UV space: the source FlameParams needs cam = [s, tx, ty]")
        out = self.flame(params) if flame_out is None else flame_out
        ndc = self.project(out.vertices, params, out.joints[:, 0])
        return unwrap_image(image, mask, ndc, self.faces, self.uv_coords, self.uv_faces, self.profile.image_size,
                            backend=self.backend, fragments=self.uv_fragments())

    def uv_xyz(self, verts: Tensor) -> Tensor:
        """The posed mesh rasterised into UV space, ``(B, 3, H, W)`` (E_geom's geometry input, unscaled)."""
        size = self.profile.image_size
        return world2uv(verts, self.faces, self.uv_coords, self.uv_faces, size, backend=self.backend,
                        fragments=self.uv_fragments())

    def offset_mlp_inputs(self, texture: Tensor, verts: Tensor) -> tuple[Tensor, Tensor]:
        """G_geom's per-vertex input for posed FLAME vertices.

        ``cat([Z sampled at the vertex UV, harmonic(uv)])`` where ``Z = E_geom(cat[T, harmonic(5 *
        world2uv(verts))])`` and ``uv`` is the profile's :meth:`~rome_smplx.models.rome.RomeProfile.offset_mlp_uv`.

        Args:
            texture: (B, C, Ht, Wt) neural texture (detached inside, as in ROME).
            verts: (B, N, 3) posed FLAME vertices (no global rotation).

        Returns:
            MLP input (B, N, Cz + C_uv), latent map Z (B, Cz, H, W).
        """
        prof = self.profile
        xyz = self.uv_xyz(verts.detach()).detach() * prof.xyz_scale
        enc = prof.harmonic(xyz.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        latent = self.networks.mesh_deformer(torch.cat([texture.detach(), enc], dim=1))
        B, N = verts.shape[:2]
        uvs = self.vertex_uvs.to(latent.dtype)
        grid = uvs.view(1, N, 1, 2).expand(B, -1, -1, -1)
        z_v = F.grid_sample(latent, grid, mode="bilinear", align_corners=False)[..., 0].permute(0, 2, 1)
        uv_enc = prof.harmonic(prof.offset_mlp_uv(uvs)).unsqueeze(0).expand(B, -1, -1)
        return torch.cat([z_v, uv_enc], dim=-1), latent

    def full_offsets(self, texture: Tensor, verts: Tensor) -> tuple[Tensor, Tensor]:
        """Offsets of the full model for posed FLAME vertices.

        Args:
            texture: (B, C, Ht, Wt) neural texture (detached inside, as in ROME).
            verts: (B, N, 3) posed FLAME vertices (no global rotation).

        Returns:
            offsets (B, N, 3), latent map Z (B, Cz, H, W).
        """
        mlp_in, latent = self.offset_mlp_inputs(texture, verts)
        B, N = verts.shape[:2]
        raw = self.networks.mlp_deformer(mlp_in.reshape(B * N, -1)).view(B, N, 3)
        normals = vertex_normals(verts, self.faces)  # the rendered faces, mouth-closing ones included
        scale = float(self.profile.offset_scale)
        offsets = torch.tanh(raw) * scale * self.deform_mask.to(raw.dtype)[None, :, None] * normals
        return offsets, latent

    def linear_offsets(self, coeffs: Tensor) -> Tensor:
        """``basis @ coeffs + mean``: (B, K) -> (B, N, 3)."""
        if coeffs.dim() != 2 or coeffs.shape[1] != self.basis.shape[1]:
            raise InputError(f"coeffs: expected (B, {self.basis.shape[1]}), found {tuple(coeffs.shape)}")
        n = self.flame.num_vertices
        return (coeffs.to(self.basis.dtype) @ self.basis.T).view(-1, n, 3) + self.mean_deform

    # ------------------------------------------------------------------ API
    def reconstruct(self, image: Tensor, mask: Tensor, flame: FlameParams) -> HeadReconstruction:
        """One-shot reconstruction from a source image.

        Args:
            image: (B, 3, H, W) aligned source image in [0, 1] (resized to ``image_size``).
            mask: (B, 1, H, W) its matte in [0, 1].
            flame: source :class:`FlameParams` (batch B; ``cam`` optional here).

        Returns:
            :class:`HeadReconstruction` with the neural texture, the source-pose offsets and vertices.
        """
        dims = _image_in_unit_range("image", image, "B,3,H,W")
        _image_in_unit_range("mask", mask, "B,1,H,W", dims)
        if not isinstance(flame, FlameParams) or flame.batch_size != image.shape[0]:
            raise InputError(
                f"flame: expected FlameParams with batch {image.shape[0]}, found "
                f"{flame.batch_size if isinstance(flame, FlameParams) else type(flame).__name__}"
            )
        dev, dtype = self.faces.device, self.vertex_uvs.dtype
        image = self._resize(image.to(dev, dtype), "bilinear")
        mask = self._resize(mask.to(dev, dtype), "bilinear")
        flame = flame.to(dev)
        out = self.flame(flame)
        unwrapped = self.unwrap_source(image, mask, flame, out) if self.profile.texture_unwrap else None
        texture = self.encode_texture(image, mask, unwrapped)
        verts = out.vertices
        latent = coeffs = None
        if not self.use_offsets:  # the "w/o offsets" ablation: the bare FLAME mesh
            offsets = torch.zeros_like(verts)
        elif self.variant == "full":
            offsets, latent = self.full_offsets(texture, verts)
        else:
            coeffs = self.regressor(image)
            offsets = self.linear_offsets(coeffs)
        return HeadReconstruction(
            texture=texture, offsets=offsets, vertices=verts + offsets, faces=self.faces, uv_faces=self.uv_faces,
            uvs=self.uv_coords, flame=flame, latent=latent, hair_coeffs=coeffs, source_image=image, source_mask=mask,
        )

    def target_params(self, recon: HeadReconstruction, flame: Optional[FlameParams]) -> FlameParams:
        """The identity of ``recon`` with the pose, expression and camera of ``flame`` (ROME's mixing)."""
        return self.mix_params(recon.flame, flame)

    def mix_params(self, source: FlameParams, target: Optional[FlameParams]) -> FlameParams:
        """ROME's mixing: the shape of ``source`` with the expression, rotations and camera of ``target``
        (``None``: the source's own). Batch 1 on either side broadcasts over the other."""
        src = source
        tgt = src if target is None else target.to(self.faces.device)
        B = max(src.batch_size, tgt.batch_size)
        if src.batch_size not in (1, B) or tgt.batch_size not in (1, B):
            raise InputError(f"batch sizes of the reconstruction ({src.batch_size}) and target ({tgt.batch_size}) differ")

        def ex(t: Optional[Tensor]) -> Optional[Tensor]:
            return None if t is None else t.expand(B, *t.shape[1:])

        if tgt.cam is None:
            raise InputError("the target FlameParams has no camera (cam = [s, tx, ty]); pass one to render")
        return FlameParams(
            shape=ex(src.shape), expression=ex(tgt.expression), global_rot=ex(tgt.global_rot), jaw_rot=ex(tgt.jaw_rot),
            neck_rot=ex(tgt.neck_rot), eye_rots=ex(tgt.eye_rots), cam=ex(tgt.cam),
        )

    def posed_mesh(self, recon: HeadReconstruction, flame: Optional[FlameParams] = None) -> tuple[Tensor, Tensor, FlameParams, Tensor]:
        """Deformed mesh for a target: vertices (B, N, 3) in the FLAME frame (before the global rotation),
        image-NDC vertices (B, N, 3) with positive depth, the mixed parameters and the root joints (B, 3)."""
        params = self.target_params(recon, flame)
        verts, ndc, _, root = self.deform(params, texture=recon.texture, offsets=recon.offsets)
        return verts, ndc, params, root

    def deform(self, params: FlameParams, *, texture: Optional[Tensor] = None,
               offsets: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The FLAME mesh of ``params`` with this head's offsets, and its projection.

        Args:
            params: (mixed) :class:`FlameParams` of batch B, with ``cam``.
            texture: (1|B, C, Ht, Wt) neural texture: the full variant predicts the offsets from it on
                the posed mesh (as ROME does for every target).
            offsets: (1|B, N, 3) fixed offsets: the linear variant's.

        Returns:
            vertices (B, N, 3) in the FLAME frame (before the global rotation), image-NDC vertices
            (B, N, 3) with positive depth, the offsets (B, N, 3) (zero for a head built with
            ``offsets=False``) and the root joints (B, 3).
        """
        out = self.flame(params)
        B = params.batch_size
        if not self.use_offsets:
            off = torch.zeros_like(out.vertices)
        elif self.variant == "full":
            if texture is None:
                raise InputError("deform: the full variant predicts its offsets from the neural texture; pass texture")
            off, _ = self.full_offsets(texture.expand(B, *texture.shape[1:]), out.vertices)
        else:
            if offsets is None:
                raise InputError("deform: the linear variant needs its offsets; pass offsets")
            off = offsets.expand(B, *offsets.shape[1:])
        verts = out.vertices + off
        root = out.joints[:, 0]
        return verts, self.project(verts, params, root), off, root

    def target_landmarks(self, verts: Tensor, params: FlameParams, root: Tensor) -> Tensor:
        """ROME's 68 target landmarks of a deformed mesh, in image NDC (x right, y down).

        Args:
            verts: (B, N, 3) deformed mesh in the FLAME frame, before the global rotation (the first
                output of :meth:`posed_mesh`).
            params: the mixed target parameters (third output of :meth:`posed_mesh`).
            root: (B, 3) root joints (fourth output).

        Returns:
            (B, 68, 2): 17 contour points, then 51 inner-face points. The contour row follows the
            profile's :attr:`~rome_smplx.models.rome.RomeProfile.landmark_contour`.
        """
        from smplx.lbs import vertices2landmarks

        from rome_smplx.models.flame import contour_bins

        fl = self.flame
        rot = params.global_rot.to(verts.dtype)
        if self.profile.landmark_contour == "release":
            # The square of the global rotation; conjugating by a mirror of x negates its yaw
            # exactly (DECA's code bins +yaw where FlameModel bins -yaw).
            mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=verts.dtype, device=verts.device))
            head_rot = mirror @ (rot @ rot) @ mirror
        else:
            head_rot = rot @ params.neck_rot.to(verts.dtype)
        B = verts.shape[0]
        rows = contour_bins(head_rot, fl.dynamic_lmk_faces_idx.shape[0])
        faces_idx = torch.cat([fl.dynamic_lmk_faces_idx[rows], fl.lmk_faces_idx.expand(B, -1)], dim=1)
        bary = torch.cat([fl.dynamic_lmk_bary_coords[rows], fl.lmk_bary_coords.expand(B, -1, -1)], dim=1)
        points = vertices2landmarks(verts, fl.faces, faces_idx, bary.to(verts.dtype))
        return rome_project(points, params.cam, root, rot)[..., :2]

    def render(
        self, recon: HeadReconstruction, flame: Optional[FlameParams] = None, *, image_size: Optional[int] = None
    ) -> RenderOutput:
        """Render the avatar in the pose/expression/camera of ``flame`` (default: the source's).

        Args:
            recon: output of :meth:`reconstruct` (batch 1 broadcasts over the target batch).
            flame: target :class:`FlameParams` with ``cam``; its ``shape`` is ignored (identity comes
                from the source).
            image_size: output side (default ``self.image_size``).

        Returns:
            :class:`RenderOutput`: image (B, 3, H, W), mask (B, 1, H, W), hard_mask, composite (on
            white), silhouette (rasterised mesh coverage), normals.
        """
        verts, ndc, params, _ = self.posed_mesh(recon, flame)
        B = params.batch_size
        texture = recon.texture.expand(B, *recon.texture.shape[1:])
        size = self.image_size if image_size is None else int(image_size)
        return self.renderer(texture, verts, ndc, self.faces, self.uv_coords, self.uv_faces, (size, size))

    def drive(self, recon: HeadReconstruction, frames: FlameParams, *, chunk: int = 8) -> RenderOutput:
        """Render a sequence of target frames (``frames`` batch T) from one reconstruction, in chunks,
        with a progress bar. Returns a :class:`RenderOutput` with batch T."""
        from tqdm.auto import tqdm

        if recon.batch_size != 1:
            raise InputError(f"drive: expected a reconstruction of batch 1, found {recon.batch_size}")
        outs = []
        for i in tqdm(range(0, frames.batch_size, chunk), desc="driving", unit="chunk", leave=False):
            outs.append(self.render(recon, frames.index(slice(i, i + chunk))))
        fields = {}
        for name in ("image", "mask", "hard_mask", "composite", "silhouette", "normals"):
            fields[name] = torch.cat([getattr(o, name) for o in outs], dim=0)
        return RenderOutput(**fields)
