"""The documented asset folder layout: which files rome-smplx reads, under which names, from where.

This module is the single source of truth for file names. The loader, the validator, the synthetic
generator and ``rome-smplx assets where`` all read it.

```
ASSETS/
  smplx/            SMPLX_{NEUTRAL,MALE,FEMALE}[_2020].{npz,pkl}
  flame/            FLAME_{NEUTRAL,MALE,FEMALE}.pkl or generic_model.pkl / male_model.pkl / female_model.pkl
                    flame_static_embedding.pkl + flame_dynamic_embedding.npy   (RingNet format)
                    or landmark_embedding.npy                                  (DECA format)
                    [head_template.obj]   (DECA: the UV layout ROME's uvfaces_v2 index)
  correspondences/  SMPL-X__FLAME_vertex_ids.npy  [MANO_SMPLX_vertex_ids.pkl]
  rome/             hair_list.pkl neck_list.pkl hair_edge_list.pkl neck_edge_list.pkl
                    hair_faces.pth neck_faces.pth faces_v2.pth uvfaces_v2.pth vertex_uvcoords.pth
                    u_full.pt mean_deform.pt   [rome.pth] [linear_hair.pth]
  deca/             [deca_model.tar]
  pixie/            [pixie_model.tar] [smplx_extra_joints.yaml] [SMPLX_to_J14.pkl]
  perceptual/       [vgg19.pth] [vgg_gaze.pth] [resnet50_scratch_dag.pth]
```
"""

from __future__ import annotations

from dataclasses import dataclass

GENDERS = ("NEUTRAL", "MALE", "FEMALE")

SMPLX_SOURCE = "https://smpl-x.is.tue.mpg.de (Download: 'SMPL-X 2020' NPZ; registration required)"
FLAME_SOURCE = "https://flame.is.tue.mpg.de (Download: 'FLAME 2020'; registration required)"
EMBEDDING_SOURCE = (
    "RingNet's flame_model/ folder (flame_static_embedding.pkl, flame_dynamic_embedding.npy) "
    "https://github.com/soubhiksanyal/RingNet, or DECA's data/landmark_embedding.npy "
    "https://github.com/YadiraF/DECA"
)
CORR_SOURCE = (
    "https://smpl-x.is.tue.mpg.de (Download: 'MANO and FLAME vertex indices'), "
    "also inside PIXIE's utilities.zip (https://pixie.is.tue.mpg.de)"
)
ROME_DATA_SOURCE = "the data/ folder of https://github.com/SamsungLabs/rome"
ROME_WEIGHTS_SOURCE = "the checkpoint links in the README of https://github.com/SamsungLabs/rome"
DECA_SOURCE = "https://deca.is.tue.mpg.de or the README of https://github.com/YadiraF/DECA (deca_model.tar)"
PIXIE_SOURCE = "https://pixie.is.tue.mpg.de (pixie_model.tar and utilities.zip)"
PERCEPTUAL_SOURCE = (
    "VGG19 ImageNet weights (torchvision's vgg19 checkpoint), RT-GENE's VGG16 gaze model, "
    "VGGFace2 resnet50_scratch_dag.pth (https://github.com/cydonia999/VGGFace2-pytorch)"
)


@dataclass(frozen=True)
class AssetSpec:
    """One logical asset: where it lives and which file names are accepted (first match wins)."""

    key: str
    folder: str
    names: tuple[str, ...]
    required: bool
    source: str
    what: str


def smplx_names(gender: str = "NEUTRAL") -> tuple[str, ...]:
    g = gender.upper()
    return (f"SMPLX_{g}_2020.npz", f"SMPLX_{g}.npz", f"SMPLX_{g}.pkl", f"SMPLX_{g}_2020.pkl")


def flame_names(gender: str = "NEUTRAL") -> tuple[str, ...]:
    g = gender.upper()
    official = {"NEUTRAL": "generic_model.pkl", "MALE": "male_model.pkl", "FEMALE": "female_model.pkl"}[g]
    return (f"FLAME_{g}.pkl", official)


SPECS: tuple[AssetSpec, ...] = (
    AssetSpec("smplx", "smplx", smplx_names(), True, SMPLX_SOURCE, "SMPL-X body model (neutral)"),
    AssetSpec("flame", "flame", flame_names(), True, FLAME_SOURCE, "FLAME head model (neutral / generic)"),
    AssetSpec(
        "flame_static_embedding", "flame", ("flame_static_embedding.pkl",), False, EMBEDDING_SOURCE,
        "FLAME static landmark embedding (51 points); or DECA's landmark_embedding.npy",
    ),
    AssetSpec(
        "flame_dynamic_embedding", "flame", ("flame_dynamic_embedding.npy",), False, EMBEDDING_SOURCE,
        "FLAME dynamic contour embedding (79 x 17); or DECA's landmark_embedding.npy",
    ),
    AssetSpec(
        "deca_landmark_embedding", "flame", ("landmark_embedding.npy",), False, EMBEDDING_SOURCE,
        "DECA landmark embedding (static + dynamic + full 68)",
    ),
    AssetSpec(
        "head_template", "flame", ("head_template.obj",), False, DECA_SOURCE,
        "DECA's FLAME template with its UV layout (vt), indexed by ROME's uvfaces_v2",
    ),
    AssetSpec(
        "smplx_flame_correspondence", "correspondences", ("SMPL-X__FLAME_vertex_ids.npy",), True, CORR_SOURCE,
        "FLAME vertex -> SMPL-X vertex index map",
    ),
    AssetSpec(
        "mano_smplx_correspondence", "correspondences", ("MANO_SMPLX_vertex_ids.pkl",), False, CORR_SOURCE,
        "MANO -> SMPL-X hand vertex indices",
    ),
    AssetSpec("hair_list", "rome", ("hair_list.pkl",), True, ROME_DATA_SOURCE, "scalp (hair) FLAME vertex indices"),
    AssetSpec("neck_list", "rome", ("neck_list.pkl",), True, ROME_DATA_SOURCE, "neck/shoulder FLAME vertex indices"),
    AssetSpec("hair_edge_list", "rome", ("hair_edge_list.pkl",), True, ROME_DATA_SOURCE, "hair vertices + boundary"),
    AssetSpec("neck_edge_list", "rome", ("neck_edge_list.pkl",), True, ROME_DATA_SOURCE, "neck vertices + boundary"),
    AssetSpec("hair_faces", "rome", ("hair_faces.pth",), True, ROME_DATA_SOURCE, "hair faces (local to hair_edge_list)"),
    AssetSpec("neck_faces", "rome", ("neck_faces.pth",), True, ROME_DATA_SOURCE, "neck faces (local to neck_edge_list)"),
    AssetSpec("faces", "rome", ("faces_v2.pth",), True, ROME_DATA_SOURCE, "FLAME faces + mouth-closing faces"),
    AssetSpec("uv_faces", "rome", ("uvfaces_v2.pth",), True, ROME_DATA_SOURCE, "UV faces matching faces_v2"),
    AssetSpec("vertex_uvs", "rome", ("vertex_uvcoords.pth",), True, ROME_DATA_SOURCE, "per-vertex UVs (2u-1, -(2v-1))"),
    AssetSpec("linear_basis", "rome", ("u_full.pt",), True, ROME_DATA_SOURCE, "linear hair/neck basis (3N x 60)"),
    AssetSpec("mean_deform", "rome", ("mean_deform.pt",), True, ROME_DATA_SOURCE, "mean offsets (N x 3)"),
    AssetSpec("rome_weights", "rome", ("rome.pth",), False, ROME_WEIGHTS_SOURCE, "ROME network weights"),
    AssetSpec("linear_weights", "rome", ("linear_hair.pth",), False, ROME_WEIGHTS_SOURCE, "linear regressor weights"),
    AssetSpec("deca_weights", "deca", ("deca_model.tar",), False, DECA_SOURCE, "DECA encoder weights"),
    AssetSpec("pixie_weights", "pixie", ("pixie_model.tar",), False, PIXIE_SOURCE, "PIXIE weights"),
    AssetSpec("vgg19", "perceptual", ("vgg19.pth",), False, PERCEPTUAL_SOURCE, "VGG19 for the perceptual loss"),
    AssetSpec("vgg_gaze", "perceptual", ("vgg_gaze.pth",), False, PERCEPTUAL_SOURCE, "VGG16 gaze features"),
    AssetSpec(
        "face_id", "perceptual", ("resnet50_scratch_dag.pth",), False, PERCEPTUAL_SOURCE, "VGGFace2 ResNet-50",
    ),
)

SPEC_BY_KEY = {s.key: s for s in SPECS}

__all__ = ["AssetSpec", "SPECS", "SPEC_BY_KEY", "GENDERS", "smplx_names", "flame_names"]
