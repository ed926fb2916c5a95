"""Training losses of the full ROME model (reference section 4), each a function plus, where it holds
weights or state, a thin ``nn.Module``.

Image tensors are ``(B, C, H, W)`` in ``[0, 1]``; masks ``(B, 1, H, W)`` in ``[0, 1]``; 2D points are in
image NDC (x right, y down, ``[-1, 1]``). Every function returns a scalar tensor (mean over the batch
unless said otherwise) and is differentiable in its prediction argument.

| loss | function | module |
|---|---|---|
| VGG19 perceptual | :func:`perceptual_loss` | :class:`PerceptualLoss` |
| gaze (VGG16 eye features) | :func:`gaze_loss` | :class:`GazeLoss` |
| identity (1 - cos) | :func:`identity_loss` | :class:`IdentityLoss` |
| hinge adversarial | :func:`hinge_generator_loss`, :func:`hinge_discriminator_loss` | |
| feature matching | :func:`feature_matching_loss` | |
| Dice segmentation | :func:`dice_loss` | |
| silhouette MSE | :func:`silhouette_mse` (with :func:`detach_where`) | |
| 2D Chamfer | :func:`chamfer_2d`, :func:`mask_points` | |
| Laplacian on offsets | :func:`laplacian_offsets_loss` | :class:`LaplacianLoss` |
| keypoints | :func:`keypoint_loss` (:func:`keypoint_weights`) | :class:`KeypointLoss` |
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import laplacian_apply, uniform_laplacian
from rome_smplx.models.vgg import DEFAULT_LAYERS, VGGFeatures, load_vgg

logger = logging.getLogger(__name__)

__all__ = [
    "GAZE_LAYERS",
    "LAYER_WEIGHTS",
    "GazeLoss",
    "IdentityLoss",
    "KeypointLoss",
    "LaplacianLoss",
    "PerceptualLoss",
    "chamfer_2d",
    "detach_where",
    "dice_loss",
    "eye_masks_from_keypoints",
    "feature_matching_loss",
    "gaze_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "identity_loss",
    "keypoint_loss",
    "keypoint_weights",
    "laplacian_offsets_loss",
    "mask_points",
    "perceptual_loss",
    "silhouette_mse",
]

#: Per-layer weights of the perceptual and gaze losses (relu1_1 .. relu5_1).
LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
#: The gaze loss reads VGG16 ``features`` indices 1, 6, 11, 18, 25, i.e. these ReLUs.
GAZE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Landmarks (68-point order) outlining the two eyes.
EYE_LANDMARKS = (tuple(range(36, 42)), tuple(range(42, 48)))


# ---------------------------------------------------------------------------------------- checks
def _image_pair(name: str, pred: Tensor, target: Tensor) -> dict[str, int]:
    """``pred`` and ``target`` as ``(B, 3, H, W)`` of one shape (:func:`~rome_smplx.checks.check_shape`)."""
    dims = check_shape(pred, "B,3,H,W", f"{name}: pred", dtype="float")
    return check_shape(target, "B,3,H,W", f"{name}: target", dims=dims, dtype="float")


def _weighted_l1(feats_a: Sequence[Tensor], feats_b: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    if len(weights) != len(feats_a):
        raise InputError(f"expected {len(feats_a)} layer weights, found {len(weights)}")
    total = feats_a[0].new_zeros(())
    for fa, fb, w in zip(feats_a, feats_b, weights):
        total = total + w * F.l1_loss(fa, fb)
    return total


# ---------------------------------------------------------------------------------------- perceptual
def perceptual_loss(
    features: nn.Module, pred: Tensor, target: Tensor, weights: Sequence[float] = LAYER_WEIGHTS
) -> Tensor:
    """Weighted L1 between VGG activations of ``pred`` and ``target`` (target features detached).

    Args:
        features: ``(B, 3, H, W) -> list of (B, C_l, H_l, W_l)``, e.g. :class:`VGGFeatures` (which
            applies the ImageNet normalisation itself).
        pred, target: ``(B, 3, H, W)`` in [0, 1].
        weights: one weight per returned layer (ROME: 1/32, 1/16, 1/8, 1/4, 1).

    Returns:
        scalar ``sum_l w_l * mean |phi_l(pred) - phi_l(target)|``.
    """
    _image_pair("perceptual_loss", pred, target)
    with torch.no_grad():
        ft = [f.detach() for f in features(target)]
    fp = features(pred)
    return _weighted_l1(fp, ft, weights)


def _vgg(arch: str, layers: tuple[str, ...], weights_path: Optional[str | os.PathLike], what: str) -> VGGFeatures:
    if weights_path is not None:
        return load_vgg(weights_path, arch, layers)
    logger.warning(
        "%s: no %s weights given: the network is randomly initialised, so the loss is not a perceptual "
        "measure (pass a torchvision %s state dict file to use the real one)", what, arch, arch,
    )
    net = VGGFeatures(arch, layers)
    net.requires_grad_(False)
    return net.eval()


class PerceptualLoss(nn.Module):
    """VGG19 perceptual loss (relu1_1 .. relu5_1, weights 1/32 .. 1, L1, ImageNet normalisation).

    Args:
        weights_path: torchvision ``vgg19`` state dict file; ``None`` builds a randomly initialised
            VGG19 and logs a warning (nothing is downloaded).
        features: an already built feature extractor (overrides ``weights_path``).

    ``forward(pred (B, 3, H, W), target (B, 3, H, W)) -> scalar``.
    """

    def __init__(
        self,
        weights_path: Optional[str | os.PathLike] = None,
        *,
        features: Optional[nn.Module] = None,
        layer_weights: Sequence[float] = LAYER_WEIGHTS,
    ) -> None:
        super().__init__()
        self.features = features if features is not None else _vgg("vgg19", DEFAULT_LAYERS, weights_path, "PerceptualLoss")
        self.features.requires_grad_(False)
        self.layer_weights = tuple(float(w) for w in layer_weights)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.features.eval()  # the frozen network always runs in eval mode
        return self

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return perceptual_loss(self.features, pred, target, self.layer_weights)


# ---------------------------------------------------------------------------------------- gaze
def eye_masks_from_keypoints(keypoints: Tensor, image_size: Sequence[int], dilate: int = 5) -> Tensor:
    """Filled eye hulls of 68-point landmarks, dilated and box-blurred (ROME: 5 x 5).

    Each eye's six landmarks are filled as a convex polygon (a pixel is inside when it lies on the
    inner side of every edge, for either winding).

    Args:
        keypoints: ``(B, 68, 2)`` in image NDC.
        image_size: ``(H, W)``.
        dilate: side of the square dilation and blur (odd; 1 disables both).

    Returns:
        ``(B, 1, H, W)`` in [0, 1].
    """
    if keypoints.dim() != 3 or keypoints.shape[1:] != (68, 2):
        raise InputError(f"eye_masks_from_keypoints: expected keypoints (B, 68, 2), found {tuple(keypoints.shape)}")
    if dilate < 1 or dilate % 2 != 1:
        raise InputError(f"eye_masks_from_keypoints: dilate must be a positive odd integer, found {dilate}")
    H, W = int(image_size[0]), int(image_size[1])
    kp = keypoints.detach()
    ys = -1 + (2 * torch.arange(H, device=kp.device, dtype=kp.dtype) + 1) / H
    xs = -1 + (2 * torch.arange(W, device=kp.device, dtype=kp.dtype) + 1) / W
    px, py = xs.view(1, 1, W), ys.view(1, H, 1)
    mask = kp.new_zeros(kp.shape[0], H, W)
    for ids in EYE_LANDMARKS:
        poly = kp[:, list(ids)]  # (B, 6, 2)
        nxt = poly.roll(-1, dims=1)
        # cross product of each edge with the vector to the pixel: same sign for all edges => inside
        ex, ey = (nxt - poly)[..., 0], (nxt - poly)[..., 1]
        cross = ex[:, :, None, None] * (py[None] - poly[..., 1, None, None]) - ey[:, :, None, None] * (
            px[None] - poly[..., 0, None, None]
        )  # (B, 6, H, W)
        inside = (cross >= 0).all(1) | (cross <= 0).all(1)
        mask = torch.maximum(mask, inside.to(kp.dtype))
    mask = mask[:, None]
    if dilate > 1:
        pad = dilate // 2
        mask = F.max_pool2d(mask, dilate, stride=1, padding=pad)
        mask = F.avg_pool2d(mask, dilate, stride=1, padding=pad, count_include_pad=False)
    return mask


def gaze_loss(
    features: nn.Module,
    pred: Tensor,
    target: Tensor,
    eye_mask: Tensor,
    weights: Sequence[float] = LAYER_WEIGHTS,
    size: Optional[int] = 224,
) -> Tensor:
    """Weighted L1 between VGG16 eye features; gradients reach ``pred`` only inside ``eye_mask``.

    ROME's variant crops the eyes with RT-GENE's face box; here the whole image (resized bicubically
    to ``size``) is encoded and the prediction is ``pred * m + pred.detach() * (1 - m)``, so the
    features see the full image but only eye pixels are trained.

    Args:
        features: VGG16 activations (:class:`VGGFeatures` ``("vgg16", GAZE_LAYERS)``).
        pred, target: ``(B, 3, H, W)``.
        eye_mask: ``(B, 1, H, W)`` in [0, 1], e.g. :func:`eye_masks_from_keypoints`.
        size: side of the square network input (ROME: 224), ``None`` keeps the image size.
    """
    dims = _image_pair("gaze_loss", pred, target)
    check_shape(eye_mask, "B,1,H,W", "gaze_loss: eye_mask", dims=dims)
    m = eye_mask.detach().to(pred.dtype)
    masked = pred * m + pred.detach() * (1 - m)
    if size is not None and pred.shape[-2:] != (size, size):
        masked = F.interpolate(masked, size=(size, size), mode="bicubic", align_corners=False)
        target = F.interpolate(target, size=(size, size), mode="bicubic", align_corners=False)
    with torch.no_grad():
        ft = [f.detach() for f in features(target)]
    return _weighted_l1(features(masked), ft, weights)


class GazeLoss(nn.Module):
    """Gaze loss on VGG16 features (``features`` indices 1, 6, 11, 18, 25), L1, ROME's layer weights.

    Args:
        weights_path: a torchvision-layout ``vgg16`` state dict (``features.*`` keys) of the gaze
            network; ``None`` builds a random VGG16 and logs a warning.
        features: an already built feature extractor (overrides ``weights_path``).

    ``forward(pred, target, eye_mask) -> scalar`` (see :func:`gaze_loss`).
    """

    def __init__(
        self,
        weights_path: Optional[str | os.PathLike] = None,
        *,
        features: Optional[nn.Module] = None,
        layer_weights: Sequence[float] = LAYER_WEIGHTS,
        size: Optional[int] = 224,
    ) -> None:
        super().__init__()
        self.features = features if features is not None else _vgg("vgg16", GAZE_LAYERS, weights_path, "GazeLoss")
        self.features.requires_grad_(False)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.size = size

    def train(self, mode: bool = True) -> "GazeLoss":
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, pred: Tensor, target: Tensor, eye_mask: Tensor) -> Tensor:
        return gaze_loss(self.features, pred, target, eye_mask, self.layer_weights, self.size)


# ---------------------------------------------------------------------------------------- identity
def identity_loss(embedder: nn.Module, pred: Tensor, target: Tensor, eps: float = 1e-8) -> Tensor:
    """``mean_b (1 - cos(e(pred), e(target)))`` with ``e`` a face-identity embedding network.

    Args:
        embedder: ``(B, 3, H, W) -> (B, D)`` (or ``(B, D, 1, 1)``), e.g. a VGGFace2 ResNet-50 pool5.
        pred, target: ``(B, 3, H, W)``; the target embedding is detached.
    """
    _image_pair("identity_loss", pred, target)
    with torch.no_grad():
        et = embedder(target).detach().flatten(1)
    ep = embedder(pred).flatten(1)
    return (1.0 - F.cosine_similarity(ep, et, dim=1, eps=eps)).mean()


class _PooledResNet(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net.features(x)


class IdentityLoss(nn.Module):
    """Identity loss ``1 - cos`` between face embeddings of prediction and target.

    Args:
        embedder: any ``nn.Module`` mapping ``(B, 3, H, W)`` to ``(B, D)`` embeddings (frozen here).
        weights_path: alternatively a torchvision-layout ResNet-50 state dict (``conv1``, ``layer1..4``,
            ``fc`` ignored); its 2048-d globally pooled features are the embedding. The reference's
            VGGFace2 ``resnet50_scratch_dag.pth`` uses other key names and must be converted first.
        size: side the images are resized to before embedding (``None``: unchanged).
    """

    def __init__(
        self,
        embedder: Optional[nn.Module] = None,
        *,
        weights_path: Optional[str | os.PathLike] = None,
        size: Optional[int] = 224,
    ) -> None:
        super().__init__()
        if embedder is None:
            if weights_path is None:
                raise InputError("IdentityLoss: pass an embedding network or a weights_path (ResNet-50 state dict)")
            embedder = _load_resnet_embedder(weights_path)
        self.embedder = embedder
        self.embedder.requires_grad_(False)
        self.size = size

    def train(self, mode: bool = True) -> "IdentityLoss":
        super().train(mode)
        self.embedder.eval()
        return self

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if self.size is not None and pred.shape[-2:] != (self.size, self.size):
            pred = F.interpolate(pred, size=(self.size, self.size), mode="bilinear", align_corners=False)
            target = F.interpolate(target, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return identity_loss(self.embedder, pred, target)


def _load_resnet_embedder(path: str | os.PathLike) -> nn.Module:
    from rome_smplx.io.checkpoints import extract_state_dict, fill_module, safe_torch_load
    from rome_smplx.models.rome.resnet import ResNet50

    state = extract_state_dict(safe_torch_load(path), path)
    net = ResNet50(num_outputs=1)
    # The classifier is not used: keep the network's own ``fc`` so the strict fill checks the rest.
    body = {k: v for k, v in state.items() if not k.startswith("fc.")}
    body.update({k: v for k, v in net.state_dict().items() if k.startswith("fc.")})
    fill_module(net, body, path)
    return _PooledResNet(net).eval()


# ---------------------------------------------------------------------------------------- adversarial
def _scores(scores) -> list[Tensor]:
    """Flatten the discriminator's nested score lists (or a single tensor) into a list of tensors."""
    if isinstance(scores, Tensor):
        return [scores]
    out: list[Tensor] = []
    for s in scores:
        out += _scores(s)
    if not out:
        raise InputError("adversarial loss: no discriminator scores given")
    return out


def hinge_generator_loss(fake_scores) -> Tensor:
    """Generator side of the hinge GAN loss: ``-mean(D(fake))``, averaged over scales.

    Args:
        fake_scores: ``(B, 1, h, w)`` score map, or the nested lists of
            :class:`~rome_smplx.models.rome.DiscriminatorOutput` ``.scores``.
    """
    s = _scores(fake_scores)
    return sum(-t.mean() for t in s) / len(s)


def hinge_discriminator_loss(real_scores, fake_scores) -> Tensor:
    """Discriminator side: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``, averaged over scales."""
    r, f = _scores(real_scores), _scores(fake_scores)
    if len(r) != len(f):
        raise InputError(f"hinge_discriminator_loss: {len(r)} real and {len(f)} fake score maps")
    return sum(F.relu(1 - a).mean() + F.relu(1 + b).mean() for a, b in zip(r, f)) / len(r)


def feature_matching_loss(real_features, fake_features) -> Tensor:
    """L1 between discriminator block features of real (detached) and fake images.

    Args:
        real_features, fake_features: ``features[s][k][0]`` ``(B, C_k, h, w)`` as in
            :class:`~rome_smplx.models.rome.DiscriminatorOutput`, or flat lists of tensors.

    Returns:
        mean over scales of the mean over blocks of ``mean |f_fake - f_real|``.
    """
    def per_scale(feats) -> list[list[Tensor]]:
        if isinstance(feats, Tensor):
            return [[feats]]
        if feats and isinstance(feats[0], Tensor):
            return [list(feats)]
        return [_scores(scale) for scale in feats]

    real, fake = per_scale(real_features), per_scale(fake_features)
    if len(real) != len(fake) or any(len(a) != len(b) for a, b in zip(real, fake)):
        raise InputError("feature_matching_loss: real and fake feature lists differ in structure")
    total = fake[0][0].new_zeros(())
    for rs_, fs_ in zip(real, fake):
        total = total + sum(F.l1_loss(f, r.detach()) for r, f in zip(rs_, fs_)) / len(fs_)
    return total / len(real)


# ---------------------------------------------------------------------------------------- masks
def dice_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """Dice loss ``1 - mean_b [2 mean(p t) / (mean(p^2 + t^2) + eps)]``.

    Args:
        pred: ``(B, 1, H, W)`` probabilities (ROME: sigmoid of E_img's mask logits).
        target: ``(B, 1, H, W)`` the dataset mask (resized bilinearly when its size differs).
    """
    if pred.dim() != 4 or target.dim() != 4 or pred.shape[:2] != target.shape[:2]:
        raise InputError(f"dice_loss: expected pred and target (B, C, H, W), found {tuple(pred.shape)} and {tuple(target.shape)}")
    if target.shape[-2:] != pred.shape[-2:]:
        target = F.interpolate(target, size=pred.shape[-2:], mode="bilinear", align_corners=False)
    p, t = pred.flatten(1), target.flatten(1).to(pred.dtype)
    ratio = 2 * (p * t).mean(1) / ((p * p + t * t).mean(1) + eps)
    return 1 - ratio.mean()


def detach_where(values: Tensor, select: Tensor) -> Tensor:
    """``values`` with the entries chosen by ``select`` detached (their gradient is blocked).

    Args:
        values: ``(B, N, D)`` (e.g. vertices).
        select: ``(N,)`` bool (or 0/1) mask over the second dimension.

    Returns:
        ``(B, N, D)`` equal to ``values``: ``values.detach()`` where ``select``, ``values`` elsewhere.
    """
    if values.dim() != 3 or select.dim() != 1 or select.shape[0] != values.shape[1]:
        raise InputError(f"detach_where: expected values (B, N, D) and select (N,), found {tuple(values.shape)} "
                         f"and {tuple(select.shape)}")
    s = select.to(device=values.device, dtype=torch.bool).view(1, -1, 1)
    return torch.where(s, values.detach(), values)


def silhouette_mse(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """ROME's silhouette loss ``0.5 * mean((pred - target)^2)``.

    Args:
        pred: ``(B, 1, H, W)`` or ``(B, H, W)`` soft silhouette.
        target: same shape, parsing mask (e.g. face + ears + hair).
        mask: optional ``(B,)`` 0/1 weights of batch elements (elements without a target mask are
            left out; all zero gives 0).
    """
    if pred.shape != target.shape:
        raise InputError(f"silhouette_mse: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    per = ((pred - target.to(pred.dtype)) ** 2).flatten(1).mean(1)
    if mask is None:
        return 0.5 * per.mean()
    w = mask.to(pred.dtype).view(-1)
    return 0.5 * (per * w).sum() / w.sum().clamp_min(1.0)


# ---------------------------------------------------------------------------------------- chamfer
def chamfer_2d(
    x: Tensor,
    y: Tensor,
    x_lengths: Optional[Tensor] = None,
    y_lengths: Optional[Tensor] = None,
    chunk: int = 4096,
) -> Tensor:
    """Symmetric 2D Chamfer distance with squared distances and one neighbour (pytorch3d's
    ``chamfer_distance``, mean point and batch reductions).

    ``loss = mean_b [ mean_{p in x_b} min_q |p - q|^2 + mean_{q in y_b} min_p |p - q|^2 ]``; batch
    elements where either set is empty are left out (0 when none is left). The per-element term is
    :func:`rome_smplx.metrics.geometry.chamfer_distance` (``squared=True``) on the valid points.

    Args:
        x: ``(B, P, 2)`` padded points (e.g. projected visible vertices); ``x_lengths`` ``(B,)``
            valid counts (default all P).
        y: ``(B, Q, 2)`` padded points (e.g. mask pixels); ``y_lengths`` ``(B,)``.
        chunk: rows per distance block (bounds memory at ``chunk * Q``).
    """
    from rome_smplx.checks import check_shape
    from rome_smplx.metrics.geometry import chamfer_distance

    dims = check_shape(x, "B,P,D", "chamfer_2d: x", dtype="float")
    check_shape(y, "B,Q,D", "chamfer_2d: y", dims={"B": dims["B"], "D": dims["D"]}, dtype="float")
    B, P, Q = x.shape[0], x.shape[1], y.shape[1]
    xl = torch.full((B,), P, dtype=torch.long) if x_lengths is None else x_lengths.to("cpu", torch.long)
    yl = torch.full((B,), Q, dtype=torch.long) if y_lengths is None else y_lengths.to("cpu", torch.long)
    keep = torch.nonzero((xl > 0) & (yl > 0)).flatten()
    if keep.numel() == 0:
        return x.sum() * 0.0
    mask_x = (torch.arange(P)[None] < xl[keep, None]).to(x.device)
    mask_y = (torch.arange(Q)[None] < yl[keep, None]).to(x.device)
    rows = keep.to(x.device)
    return chamfer_distance(x[rows], y[rows], mask_x, mask_y, squared=True, chunk=chunk).mean()


def mask_points(mask: Tensor, counts: Tensor, generator: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor]:
    """Random foreground pixels of a mask as NDC points (pixel centres), ``counts[b]`` per element.

    Args:
        mask: ``(B, 1, H, W)``; foreground is ``> 0.5``.
        counts: ``(B,)`` how many points to draw per element (at most its foreground size).
        generator: random source (on the CPU).

    Returns:
        points ``(B, max_count, 2)`` (x, y) padded with zeros, lengths ``(B,)``.
    """
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise InputError(f"mask_points: expected a mask (B, 1, H, W), found {tuple(mask.shape)}")
    B, _, H, W = mask.shape
    fg = (mask[:, 0] > 0.5).to("cpu")
    lengths = torch.zeros(B, dtype=torch.long)
    picks = []
    for b in range(B):
        idx = fg[b].flatten().nonzero()[:, 0]
        k = min(int(counts[b]), idx.numel())
        sel = idx[torch.randperm(idx.numel(), generator=generator)[:k]]
        lengths[b] = k
        picks.append(sel)
    out = torch.zeros(B, int(lengths.max()) if B else 0, 2, dtype=mask.dtype)
    for b, sel in enumerate(picks):
        i, j = sel // W, sel % W
        out[b, : sel.numel(), 0] = -1 + (2 * j.to(mask.dtype) + 1) / W
        out[b, : sel.numel(), 1] = -1 + (2 * i.to(mask.dtype) + 1) / H
    return out.to(mask.device), lengths


# ---------------------------------------------------------------------------------------- laplacian
def laplacian_offsets_loss(laplacian: Tensor, offsets: Tensor) -> Tensor:
    """Uniform-Laplacian smoothness of the offsets only: ``mean_{b, v} || (L dv_b)[v] ||``.

    Args:
        laplacian: ``(N, N)`` sparse or dense (:func:`rome_smplx.geometry.uniform_laplacian`).
        offsets: ``(B, N, 3)`` per-vertex offsets.
    """
    lv = laplacian_apply(laplacian, offsets)
    return lv.norm(dim=-1).mean()


class LaplacianLoss(nn.Module):
    """:func:`laplacian_offsets_loss` with the uniform Laplacian of ``faces`` precomputed.

    Args:
        faces: ``(F, 3)`` mesh faces; num_vertices: N.

    ``forward(offsets (B, N, 3)) -> scalar``.
    """

    def __init__(self, faces: Tensor, num_vertices: int) -> None:
        super().__init__()
        self.register_buffer("laplacian", uniform_laplacian(faces.to(torch.long), int(num_vertices)), persistent=False)

    def forward(self, offsets: Tensor) -> Tensor:
        return laplacian_offsets_loss(self.laplacian, offsets)


# ---------------------------------------------------------------------------------------- keypoints
def keypoint_weights() -> Tensor:
    """ROME's 68 landmark weights: 2 on two jaw pairs, 1.5 on the nose and mouth, 3 on the nose tip,
    nostrils and mouth corners, 1 elsewhere. ``(68,)``."""
    w = torch.ones(68)
    w[5:7] = 2.0
    w[10:12] = 2.0
    w[27:36] = 1.5
    w[[30, 31, 35]] = 3.0
    w[48:68] = 1.5
    w[[48, 54]] = 3.0
    return w


def keypoint_loss(pred: Tensor, target: Tensor, weights: Optional[Tensor] = None, valid: Optional[Tensor] = None) -> Tensor:
    """Weighted L1 on landmarks: ``mean_b sum_k w_k / sum(w) * mean_xy |pred - target|``.

    Args:
        pred, target: ``(B, K, 2)`` in NDC (K = 68 with the default weights).
        weights: ``(K,)`` (default :func:`keypoint_weights`).
        valid: optional ``(B,)`` 0/1: elements without target landmarks are left out.
    """
    if pred.dim() != 3 or pred.shape != target.shape:
        raise InputError(f"keypoint_loss: expected pred and target (B, K, 2) of one shape, found "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    w = keypoint_weights() if weights is None else weights
    w = w.to(device=pred.device, dtype=pred.dtype)
    if w.shape != (pred.shape[1],):
        raise InputError(f"keypoint_loss: expected {pred.shape[1]} weights, found {tuple(w.shape)}")
    per = ((pred - target.to(pred.dtype)).abs().mean(-1) * w / w.sum()).sum(-1)  # (B,)
    if valid is None:
        return per.mean()
    v = valid.to(pred.dtype).view(-1)
    return (per * v).sum() / v.sum().clamp_min(1.0)


class KeypointLoss(nn.Module):
    """:func:`keypoint_loss` with ROME's weights as a buffer. ``forward(pred, target, valid=None)``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weights", keypoint_weights(), persistent=False)

    def forward(self, pred: Tensor, target: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        return keypoint_loss(pred, target, self.weights, valid)


def offset_distance_cm(pred: Tensor, truth: Tensor, select: Tensor) -> Tensor:
    """Mean Euclidean distance in cm between predicted and true offsets over the selected vertices.

    Args:
        pred: ``(B, N, 3)`` predicted offsets (metres).
        truth: ``(B, N, 3)`` or ``(N, 3)`` true offsets (metres).
        select: ``(N,)`` bool, the vertices compared (the deformable ones).

    Returns:
        scalar: ``mean_b mean_{v in select} |pred - truth| * 100``.
    """
    dims = check_shape(pred, "B,N,3", "pred")
    truth = truth.to(pred)
    if truth.dim() == 2:
        truth = truth.unsqueeze(0)
    check_shape(truth, "1|B,N,3", "truth", dims=dims)
    d = (pred - truth)[:, select]
    # the small epsilon keeps the gradient finite where the prediction equals the truth
    return (d.pow(2).sum(-1) + 1e-12).sqrt().mean() * 100.0
