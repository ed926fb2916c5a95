"""The ``rome-smplx`` command.

Every command turns a :class:`~rome_smplx.errors.RomeSmplxError` into one message on stderr and a
non-zero exit (2), without a traceback. Commands log through :mod:`logging`; ``-v`` shows more.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path

import click

from rome_smplx import __version__
from rome_smplx.errors import RomeSmplxError

log = logging.getLogger("rome_smplx")


def handle_errors(fn):
    """Decorator: report :class:`RomeSmplxError` as ``error: <message>`` and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RomeSmplxError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rome-smplx")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """rome-smplx: realistic one-shot heads with hair (ROME) on SMPL-X bodies."""
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@main.group()
def assets() -> None:
    """Check, locate and synthesise the model files rome-smplx reads."""


@assets.command("check")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--gender", type=click.Choice(["neutral", "male", "female"], case_sensitive=False),
              default="neutral", show_default=True, help="Which SMPL-X / FLAME file to check.")
@handle_errors
def assets_check(directory: Path, gender: str) -> None:
    """Validate an asset folder; list every problem (exit 0 only when usable, 1 otherwise)."""
    from rome_smplx.assets import Assets

    report = Assets.from_dir(directory, gender=gender.upper(), validate=False).check()
    click.echo(report.format())
    if not report.ok:
        sys.exit(1)


@assets.command("where")
@handle_errors
def assets_where() -> None:
    """Say where each licensed file comes from and where it goes in the asset folder."""
    from rome_smplx.assets.layout import SPECS

    for spec in SPECS:
        req = "required" if spec.required else "optional"
        names = " | ".join(spec.names)
        click.echo(f"{spec.folder}/{names}  [{req}] {spec.what}\n    from: {spec.source}")


def _seed_range(text: str) -> range:
    from rome_smplx.errors import InputError

    parts = text.split(":")
    try:
        a, b = (int(parts[0]), int(parts[1])) if len(parts) == 2 else (None, None)
    except ValueError:
        a = b = None
    if a is None or b is None or not 0 <= a < b:
        raise InputError(f"--seeds: expected A:B with 0 <= A < B (e.g. 0:10), found {text!r}")
    return range(a, b)


@assets.command("video")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--seeds", "seeds", default="0:4", show_default=True, help="Subject seeds A:B (B excluded).")
@click.option("--frames", default=16, show_default=True, type=int, help="Frames per subject (>= 2).")
@click.option("--size", "size", default=256, show_default=True, type=int, help="Frame side in pixels.")
@click.option("--tracking-noise", default=1.0, show_default=True, type=float,
              help="Scale of the tracker noise on the written FLAME codes (0: the truth).")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@handle_errors
def assets_video(directory: Path, seeds: str, frames: int, size: int, tracking_noise: float,
                 assets_dir: Path | None) -> None:
    """Write synthetic videos (frames, mattes, parsing, landmarks, FLAME codes, truth) in the user-video layout."""
    from rome_smplx.assets import Assets
    from rome_smplx.assets.synthetic.video import write_video
    from rome_smplx.errors import InputError

    rng = _seed_range(seeds)
    if frames < 2 or size < 16 or tracking_noise < 0:
        raise InputError(f"--frames must be >= 2, --size >= 16 and --tracking-noise >= 0; found {frames}, {size}, "
                         f"{tracking_noise}")
    a = Assets.from_dir(assets_dir) if assets_dir is not None else Assets.discover()
    out = write_video(directory, a, rng, frames, size, tracking_noise=tracking_noise)
    click.echo(f"wrote {len(rng)} synthetic videos to {out}")


@assets.command("synth")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files).")
@click.option("--head-vertices", type=int, default=None, help="Vertex count of the synthetic head [default: FLAME's].")
@click.option("--people", type=int, default=2, show_default=True, help="Number of synthetic people to write.")
@click.option("--generator-version", type=int, default=None,
              help="Generator version to reproduce (e.g. 2 for folders made before version 3) [default: current].")
@handle_errors
def assets_synth(directory: Path, seed: int, head_vertices: int | None, people: int,
                 generator_version: int | None) -> None:
    """Write procedural stand-ins of every licensed file, in the real layout and formats."""
    from rome_smplx.assets.synthetic import write_synthetic_assets

    out = write_synthetic_assets(directory, seed=seed, head_vertices=head_vertices, people=people,
                                 generator_version=generator_version)
    log.info("synthetic assets written to %s", out)


@main.command("demo")
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("demo_out"), show_default=True,
              help="Output folder (replaced as a whole when the run succeeds).")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--person", default=0, show_default=True, help="Synthetic person index (people/person_NNN).")
@click.option("--variant", type=click.Choice(["linear", "full"]), default="linear", show_default=True,
              help="Hair/neck offsets from the distilled linear model or the full ROME model.")
@click.option("--frames", default=4, show_default=True, help="Animation frames.")
@handle_errors
def demo(out: Path, assets_dir: Path | None, person: int, variant: str, frames: int) -> None:
    """Full-body demo: photo -> ROME head -> hair on the PIXIE SMPL-X body -> renders, animation, meshes."""
    from rome_smplx.demo import run_full_body_demo

    run_full_body_demo(out, assets_dir=assets_dir, person=person, variant=variant, frames=frames)
    click.echo(f"demo written to {out}")



@main.group()
def train() -> None:
    """Train the ROME model or the distilled linear model (torchrun for several GPUs)."""


@train.command("rome")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help="YAML training config.")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Checkpoint folder (overrides output_dir).")
@click.option("--steps", type=int, default=None, help="Training steps (overrides the config).")
@click.option("--resume", "resume", type=str, default=None,
              help="Checkpoint folder to continue from, or 'latest' (the newest in the output folder, if any).")
@click.option("--no-offsets", "no_offsets", is_flag=True, help="The 'w/o offsets' ablation (offsets: false).")
@handle_errors
def train_rome(config_path: Path, assets_dir: Path | None, out: Path | None, steps: int | None, resume: str | None,
               no_offsets: bool) -> None:
    """Train the full ROME model (losses and weights of the reference; see the config)."""
    from rome_smplx.trainers import RomeTrainConfig, train_from_config

    config = RomeTrainConfig.from_yaml(config_path)
    changes = {k: v for k, v in (("output_dir", None if out is None else str(out)), ("steps", steps),
                                 ("offsets", False if no_offsets else None)) if v is not None}
    config = config.replace(**changes) if changes else config
    trainer = train_from_config(config, assets_dir, resume=resume)
    click.echo(f"trained {trainer.step} steps; checkpoints in {config.output_dir}")

@train.command("linear")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help="YAML distillation config.")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: the config's, else $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Output folder (overrides out).")
@click.option("--steps", type=int, default=None, help="Training steps (overrides the config).")
@handle_errors
def train_linear(config_path: Path, assets_dir: Path | None, out: Path | None, steps: int | None) -> None:
    """Distil the linear hair/neck model (ResNet-50 -> basis coefficients); exports linear_hair.pth,
    u_full.pt and mean_deform.pt."""
    from rome_smplx.trainers.distill import run_from_yaml

    summary = run_from_yaml(config_path, assets_dir=assets_dir, out=out, steps=steps)
    click.echo(f"trained {summary['steps']} steps (coefficient MSE {summary['coeff_mse_first']:.4g} -> "
               f"{summary['coeff_mse_last']:.4g}); checkpoint in {summary['checkpoint']}; "
               f"exported {summary['files']['linear_hair']}")

@main.command("avatar")
@click.option("--image", "image", type=click.Path(path_type=Path), required=True, help="The photo (any size, one face).")
@click.option("--pixie", "pixie_param", type=click.Path(path_type=Path), required=True,
              help="PIXIE's <name>_param.pkl for the same person.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Merged mesh: .glb, .ply or .obj (by extension).")
@click.option("--mask", "mask", type=click.Path(path_type=Path), default=None,
              help="Matte of the photo (default: mediapipe selfie segmentation).")
@click.option("--deca", "deca_code", type=click.Path(path_type=Path), default=None,
              help="DECA code dict of the aligned crop (skips the FLAME landmark fit).")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--variant", type=click.Choice(["linear", "full"]), default="linear", show_default=True,
              help="Hair offsets from the distilled linear model or the full ROME model.")
@click.option("--render", "render_dir", type=click.Path(path_type=Path), default=None,
              help="Also write neural head renders and shaded previews to this folder.")
@click.option("--motion", "motion", type=click.Path(path_type=Path), default=None,
              help="Animation of the .glb: AMASS-style .npz, our .npz or a PIXIE folder [default: a short wave].")
@click.option("--texture-size", "texture_size", type=click.IntRange(min=0), default=1024, show_default=True,
              help="Side of the texture baked from the photo (0: part colours).")
@handle_errors
def avatar_cmd(image: Path, pixie_param: Path, out: Path, mask: Path | None, deca_code: Path | None,
               assets_dir: Path | None, variant: str, render_dir: Path | None, motion: Path | None,
               texture_size: int) -> None:
    """Photo + PIXIE body -> full-body avatar with the ROME head's hair: a textured, rigged, animated .glb
    (or a textured .obj, or a .ply with part labels)."""
    from rome_smplx.pipeline import check_mesh_path, reconstruct_photo, write_avatar

    check_mesh_path(out)
    seq = None
    if motion is not None:
        from rome_smplx.io.motion import load_motion

        seq = load_motion(motion)  # read before the heavy steps: a bad file fails early
    result = reconstruct_photo(image, pixie_param=pixie_param, assets=assets_dir, mask_path=mask,
                               deca_path=deca_code, variant=variant)
    write_avatar(result, out, render_dir=render_dir, motion=seq, texture_size=texture_size)
    click.echo(f"avatar written to {out}" + (f" (renders in {render_dir})" if render_dir else ""))


@main.command("animate")
@click.option("--image", "image", type=click.Path(path_type=Path), required=True, help="The photo (any size, one face).")
@click.option("--pixie", "pixie_param", type=click.Path(path_type=Path), required=True,
              help="PIXIE's <name>_param.pkl for the same person.")
@click.option("--motion", "motion", type=click.Path(path_type=Path), required=True,
              help="SMPL-X motion: AMASS-style .npz, our .npz, or a folder of PIXIE _param.pkl files.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Output folder (replaced as a whole when the run succeeds).")
@click.option("--fps", type=float, default=None, help="Resample the motion to this frame rate [default: keep].")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, help="Keep every N-th frame.")
@click.option("--motion-fps", type=float, default=None,
              help="Frame rate of a motion source that stores none (PIXIE folders).")
@click.option("--motion-up", type=click.Choice(["z", "y"]), default="z", show_default=True,
              help="Up axis of an AMASS-style file (AMASS: z).")
@click.option("--format", "fmt", type=click.Choice(["ply", "glb", "obj"]), default="ply", show_default=True,
              help="Mesh format of the frames.")
@click.option("--mask", "mask", type=click.Path(path_type=Path), default=None, help="Matte of the photo.")
@click.option("--deca", "deca_code", type=click.Path(path_type=Path), default=None,
              help="DECA code dict of the aligned crop (skips the FLAME landmark fit).")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--variant", type=click.Choice(["linear", "full"]), default="linear", show_default=True,
              help="Hair offsets from the distilled linear model or the full ROME model.")
@handle_errors
def animate_cmd(image: Path, pixie_param: Path, motion: Path, out: Path, fps: float | None, every: int,
                motion_fps: float | None, motion_up: str, fmt: str, mask: Path | None, deca_code: Path | None,
                assets_dir: Path | None, variant: str) -> None:
    """Photo + PIXIE body + SMPL-X motion -> one mesh per frame, a preview GIF and strip."""
    from rome_smplx.io.motion import load_motion, resample
    from rome_smplx.pipeline import reconstruct_photo, write_animation

    seq = load_motion(motion, fps=motion_fps, up=motion_up)
    if fps is not None:
        seq = resample(seq, fps)
    seq = seq.subsample(every)
    result = reconstruct_photo(image, pixie_param=pixie_param, assets=assets_dir, mask_path=mask,
                               deca_path=deca_code, variant=variant)
    write_animation(result.avatar, seq, out, fmt=fmt)
    click.echo(f"{len(seq)} frames written to {out}")


if __name__ == "__main__":  # pragma: no cover
    main()
