"""The ``rome-smplx`` command.

Every command turns a :class:`~rome_smplx.errors.RomeSmplxError` (and an operating-system error such
as a full disk) into one ``error:`` line on stderr and exit 2, without a traceback. Output paths are
checked before any work, under the policy of :mod:`rome_smplx.io.atomic` (``--force`` replaces a
folder rome-smplx did not write). Ctrl-C exits 130 and SIGTERM 143, both leaving no temporary files.
Commands log through :mod:`logging`; ``-v`` shows more.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from rome_smplx import __version__
from rome_smplx.errors import RomeSmplxError
from rome_smplx.io.limits import DEFAULT_MAX_PIXELS, MAX_FRAMES

log = logging.getLogger("rome_smplx")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def handle_errors(fn):
    """Decorator: report :class:`RomeSmplxError` and :class:`OSError` as one ``error: <message>`` line
    and exit 2; Ctrl-C exits 130, SIGTERM 143 (temporary outputs removed in both cases)."""
    from rome_smplx.io.atomic import Terminated, terminate_as_interrupt

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with terminate_as_interrupt():
                return fn(*args, **kwargs)
        except RomeSmplxError as e:
            click.echo(f"error: {_one_line(e)}", err=True)
            sys.exit(2)
        except OSError as e:  # environment: disk full, permission changed mid-run, ...
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"error: {_one_line(where + (e.strerror or str(e)))}", err=True)
            sys.exit(2)
        except MemoryError:
            click.echo("error: out of memory (use smaller inputs, --max-pixels or --max-frames)", err=True)
            sys.exit(2)
        except Terminated:
            click.echo("terminated", err=True)
            sys.exit(143)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def _max_pixels(value: int) -> int | None:
    from rome_smplx.errors import InputError

    if value < 0:
        raise InputError(f"--max-pixels: expected a pixel count >= 0 (0: no limit), found {value}")
    return value or None


def _check_steps(steps: int | None) -> None:
    from rome_smplx.errors import InputError

    if steps is not None and steps < 0:
        raise InputError(f"--steps: expected a number of steps >= 0, found {steps}")


def _assets(assets_dir: Path | None):
    from rome_smplx.assets import Assets

    return Assets.from_dir(assets_dir) if assets_dir is not None else Assets.discover()


_FORCE_HELP = "Replace an existing output folder even when rome-smplx did not write it."
_MAX_PIXELS_HELP = "Refuse photos and masks with more pixels than this, before decoding (0: no limit)."


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
    from rome_smplx.io.atomic import check_output_dir

    rng = _seed_range(seeds)
    check_output_dir(directory)
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
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@handle_errors
def assets_synth(directory: Path, seed: int, head_vertices: int | None, people: int,
                 generator_version: int | None, force: bool) -> None:
    """Write procedural stand-ins of every licensed file, in the real layout and formats."""
    import contextlib

    from rome_smplx.assets.synthetic import write_synthetic_assets
    from rome_smplx.io.atomic import allow_replace, check_output_dir

    check_output_dir(directory, force=force)
    with allow_replace(directory) if force else contextlib.nullcontext():
        out = write_synthetic_assets(directory, seed=seed, head_vertices=head_vertices, people=people,
                                     generator_version=generator_version)
    log.info("synthetic assets written to %s", out)


#: The demo keeps its posed frames in memory (a short strip); longer animations belong to `animate`.
DEMO_MAX_FRAMES = 240


@main.command("demo")
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("demo_out"), show_default=True,
              help="Output folder (replaced as a whole when the run succeeds).")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--person", default=0, show_default=True, help="Synthetic person index (people/person_NNN).")
@click.option("--variant", type=click.Choice(["linear", "full"]), default="linear", show_default=True,
              help="Hair/neck offsets from the distilled linear model or the full ROME model.")
@click.option("--frames", default=4, show_default=True, help=f"Animation frames (1 to {DEMO_MAX_FRAMES}).")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@handle_errors
def demo(out: Path, assets_dir: Path | None, person: int, variant: str, frames: int, force: bool) -> None:
    """Full-body demo: photo -> ROME head -> hair on the PIXIE SMPL-X body -> renders, animation, meshes."""
    from rome_smplx.demo import run_full_body_demo
    from rome_smplx.errors import InputError
    from rome_smplx.io.atomic import check_output_dir

    if not 1 <= frames <= DEMO_MAX_FRAMES:
        raise InputError(f"--frames: expected 1 to {DEMO_MAX_FRAMES} animation frames, found {frames}")
    check_output_dir(out, force=force)
    run_full_body_demo(out, assets_dir=assets_dir, person=person, variant=variant, frames=frames, force=force)
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
@click.option("--init-weights", "init_weights", type=click.Path(path_type=Path), default=None,
              help="Networks .safetensors or the released rome.pth to start from (a warm start at step 0).")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Print the resolved config and the data found as JSON, and train nothing.")
@handle_errors
def train_rome(config_path: Path, assets_dir: Path | None, out: Path | None, steps: int | None, resume: str | None,
               no_offsets: bool, init_weights: Path | None, dry_run: bool) -> None:
    """Train the full ROME model (losses and weights of the reference; see the config)."""
    from rome_smplx.io.atomic import check_work_dir
    from rome_smplx.trainers import RomeTrainConfig, train_from_config

    _check_steps(steps)
    config = RomeTrainConfig.from_yaml(config_path)
    changes = {k: v for k, v in (("output_dir", None if out is None else str(out)), ("steps", steps),
                                 ("offsets", False if no_offsets else None),
                                 ("init_weights", None if init_weights is None else str(init_weights))) if v is not None}
    config = config.replace(**changes) if changes else config
    if dry_run:
        from rome_smplx.trainers.rome_trainer import describe_run

        click.echo(json.dumps(describe_run(config, assets_dir, resume=resume), indent=1))
        return
    check_work_dir(config.output_dir)
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
    from rome_smplx.io.atomic import check_work_dir
    from rome_smplx.trainers.distill import LinearDistillConfig, run_from_yaml

    _check_steps(steps)
    check_work_dir(out if out is not None else LinearDistillConfig.from_yaml(config_path).out)
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
@click.option("--max-pixels", "max_pixels", type=int, default=DEFAULT_MAX_PIXELS, show_default=True,
              help=_MAX_PIXELS_HELP)
@click.option("--force", is_flag=True, help=_FORCE_HELP + " (--render)")
@handle_errors
def avatar_cmd(image: Path, pixie_param: Path, out: Path, mask: Path | None, deca_code: Path | None,
               assets_dir: Path | None, variant: str, render_dir: Path | None, motion: Path | None,
               texture_size: int, max_pixels: int, force: bool) -> None:
    """Photo + PIXIE body -> full-body avatar with the ROME head's hair: a textured, rigged, animated .glb
    (or a textured .obj, or a .ply with part labels)."""
    from rome_smplx.pipeline import check_avatar_outputs, reconstruct_photo, write_avatar

    limit = _max_pixels(max_pixels)
    check_avatar_outputs(out, render_dir, force=force)
    seq = None
    if motion is not None:
        from rome_smplx.io.motion import load_motion

        seq = load_motion(motion)  # read before the heavy steps: a bad file fails early
    result = reconstruct_photo(image, pixie_param=pixie_param, assets=assets_dir, mask_path=mask,
                               deca_path=deca_code, variant=variant, max_pixels=limit)
    write_avatar(result, out, render_dir=render_dir, motion=seq, texture_size=texture_size, force=force)
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
@click.option("--max-pixels", "max_pixels", type=int, default=DEFAULT_MAX_PIXELS, show_default=True,
              help=_MAX_PIXELS_HELP)
@click.option("--max-frames", "max_frames", type=int, default=None,
              help=f"Accept up to this many frames [default: refuse more than {MAX_FRAMES} frames or 4 GB of meshes].")
@click.option("--yes", "yes", is_flag=True, help="Accept a motion of any length.")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@handle_errors
def animate_cmd(image: Path, pixie_param: Path, motion: Path, out: Path, fps: float | None, every: int,
                motion_fps: float | None, motion_up: str, fmt: str, mask: Path | None, deca_code: Path | None,
                assets_dir: Path | None, variant: str, max_pixels: int, max_frames: int | None, yes: bool,
                force: bool) -> None:
    """Photo + PIXIE body + SMPL-X motion -> one mesh per frame, a preview GIF and strip."""
    from rome_smplx.errors import InputError
    from rome_smplx.io.atomic import check_output_dir
    from rome_smplx.io.motion import check_frame_budget, load_motion, resample
    from rome_smplx.pipeline import reconstruct_photo, write_animation

    limit = _max_pixels(max_pixels)
    if fps is not None and not fps > 0:
        raise InputError(f"--fps: expected a positive frame rate, found {fps}")
    if motion_fps is not None and not motion_fps > 0:
        raise InputError(f"--motion-fps: expected a positive frame rate, found {motion_fps}")
    check_output_dir(out, force=force)
    seq = load_motion(motion, fps=motion_fps, up=motion_up)
    if fps is not None:
        seq = resample(seq, fps)
    seq = seq.subsample(every)
    a = _assets(assets_dir)
    estimate = check_frame_budget(len(seq), a.num_smplx_vertices, fmt, max_frames=max_frames, yes=yes,
                                  where=str(motion))
    log.info("%d frames to write to %s: %s", len(seq), out, estimate)
    result = reconstruct_photo(image, pixie_param=pixie_param, assets=a, mask_path=mask,
                               deca_path=deca_code, variant=variant, max_pixels=limit)
    write_animation(result.avatar, seq, out, fmt=fmt, force=force)
    click.echo(f"{len(seq)} frames written to {out}")


@main.command("edit")
@click.option("--image", "image", type=click.Path(path_type=Path), required=True, help="The photo (any size, one face).")
@click.option("--component", "component", type=int, required=True,
              help="Linear-model coefficient to set (0-based: hair components first, then neck).")
@click.option("--quantile", "quantile", type=float, default=None,
              help="Set it to this quantile in [0, 1] of its values over the stats' subjects.")
@click.option("--value", "value", type=float, default=None, help="Set it to this value (instead of --quantile).")
@click.option("--pixie", "pixie_param", type=click.Path(path_type=Path), default=None,
              help="PIXIE's <name>_param.pkl: also write the edited full-body avatar.glb.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Output folder (replaced as a whole when the run succeeds).")
@click.option("--stats", "stats_path", type=click.Path(path_type=Path), default=None,
              help="Hair stats file of the linear model [default: the shipped one when it belongs to the model].")
@click.option("--mask", "mask", type=click.Path(path_type=Path), default=None, help="Matte of the photo.")
@click.option("--deca", "deca_code", type=click.Path(path_type=Path), default=None,
              help="DECA code dict of the aligned crop (skips the FLAME landmark fit).")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--texture-size", "texture_size", type=click.IntRange(min=0), default=1024, show_default=True,
              help="Side of the texture of avatar.glb (0: part colours).")
@click.option("--max-pixels", "max_pixels", type=int, default=DEFAULT_MAX_PIXELS, show_default=True,
              help=_MAX_PIXELS_HELP)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@handle_errors
def edit_cmd(image: Path, component: int, quantile: float | None, value: float | None, pixie_param: Path | None,
             out: Path, stats_path: Path | None, mask: Path | None, deca_code: Path | None, assets_dir: Path | None,
             texture_size: int, max_pixels: int, force: bool) -> None:
    """Photo -> head with one hair/neck coefficient of the linear model edited: meshes, renders (and the
    full-body .glb with --pixie)."""
    from rome_smplx.edit import check_edit_request, edit_photo, write_edit
    from rome_smplx.io.atomic import check_output_dir

    limit = _max_pixels(max_pixels)
    check_edit_request(component, quantile, value)
    check_output_dir(out, force=force)
    result = edit_photo(image, component=component, quantile=quantile, value=value, pixie_param=pixie_param,
                        assets=assets_dir, mask_path=mask, deca_path=deca_code, stats_path=stats_path,
                        max_pixels=limit)
    write_edit(result, out, texture_size=texture_size, force=force)
    click.echo(f"component {component} ({result.kind}): {result.before:.4g} -> {result.value:.4g}; written to {out}")


@main.command("batch")
@click.option("--manifest", type=click.Path(path_type=Path), required=True,
              help="Rows id, image, pixie [, mask, deca, motion]: .jsonl, or .csv with those columns.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Output folder: <id>/avatar.glb per row and results.jsonl (added to; complete rows are skipped).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="One process reusing the models, or Ray Data actors (extra 'ray').")
@click.option("--address", default=None, help="Ray cluster to join (e.g. auto) [default: a local cluster].")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Ray actors.")
@click.option("--batch-size", "batch_size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Rows merged together, and rows per Ray batch.")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--variant", type=click.Choice(["linear", "full"]), default="linear", show_default=True,
              help="Hair offsets from the distilled linear model or the full ROME model.")
@click.option("--texture-size", "texture_size", type=click.IntRange(min=0), default=1024, show_default=True,
              help="Side of the texture baked from each photo (0: part colours).")
@click.option("--max-pixels", "max_pixels", type=int, default=DEFAULT_MAX_PIXELS, show_default=True,
              help=_MAX_PIXELS_HELP)
@handle_errors
def batch_cmd(manifest: Path, out: Path, engine: str, address: str | None, workers: int, batch_size: int,
              assets_dir: Path | None, variant: str, texture_size: int, max_pixels: int) -> None:
    """Many photos + PIXIE bodies -> one avatar folder per row; exit 1 when some rows failed."""
    from rome_smplx.batch import BatchSettings, run_batch

    settings = BatchSettings(variant=variant, texture_size=texture_size, max_pixels=_max_pixels(max_pixels),
                             batch_size=batch_size)
    results = run_batch(manifest, out, engine=engine, assets=assets_dir, settings=settings, address=address,
                        workers=workers)
    counts = {k: sum(r["status"] == k for r in results) for k in ("ok", "skipped", "error")}
    click.echo(f"{counts['ok']} written, {counts['skipped']} skipped, {counts['error']} failed; "
               f"results in {out / 'results.jsonl'}")
    if counts["error"]:
        sys.exit(1)


def _synthetic_range(text: str) -> range:
    from rome_smplx.errors import InputError

    try:
        return _seed_range(text)
    except InputError:
        raise InputError(f"--synthetic: expected subject seeds A:B with 0 <= A < B (e.g. 0:24, the test split "
                         f"starts at 0), found {text!r}") from None


@main.command("eval")
@click.option("--pairs", "pairs_dir", type=click.Path(path_type=Path), default=None,
              help="Frame-pairs folder (<sequence>/<frame>.png + _mask.png + _flame.pkl [+ _parsing.png]).")
@click.option("--synthetic", "synthetic", default=None,
              help="Subject seeds A:B of the synthetic video world instead (e.g. 0:24, the test split).")
@click.option("--mode", type=click.Choice(["self", "cross"]), required=True, help="Self- or cross-driving.")
@click.option("--weights", "weights", type=click.Path(path_type=Path), default=None,
              help="Weights folder (rome_synthetic / linear_synthetic / rome_no_offsets .safetensors) or one "
                   "full-model file [default: the shipped weights].")
@click.option("--no-offsets", "no_offsets", is_flag=True, help="Also evaluate the 'w/o offsets' ablation.")
@click.option("--linear", "linear", is_flag=True, help="Also evaluate the distilled linear model.")
@click.option("--metrics", "metrics", default="psnr,ssim,chamfer", show_default=True,
              help="Comma-separated subset of psnr,ssim,lpips,csim,mask_dice,chamfer.")
@click.option("--composite", "composite", type=click.Choice(["own", "predicted"]), default="own", show_default=True,
              help="own: each image on white by its own mask; predicted: both by the rendered mask, as the "
                   "release's validation does (blind to silhouette errors: add mask_dice).")
@click.option("--lpips-weights", "lpips_weights", type=click.Path(path_type=Path), default=None,
              help="LPIPS trunk: a torchvision vgg16 state dict.")
@click.option("--lpips-heads", "lpips_heads", type=click.Path(path_type=Path), default=None,
              help="LPIPS heads (the public vgg.pth) [default: all-ones heads, baseline LPIPS].")
@click.option("--csim-weights", "csim_weights", type=click.Path(path_type=Path), default=None,
              help="CSIM identity network: a TorchScript file, (B, 3, H, W) in [0, 1] -> (B, D).")
@click.option("--allow-random-backbones", "allow_random", is_flag=True,
              help="Run LPIPS/CSIM with random weights when no file is given (the report says they are not real).")
@click.option("--pairs-per-subject", "pairs_per_subject", type=click.IntRange(min=1), default=2, show_default=True,
              help="Pairs drawn per subject / sequence (one per epoch of the pair draws).")
@click.option("--tracking-noise", "tracking_noise", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="--synthetic: scale of the tracker noise on the input codes.")
@click.option("--image-size", "image_size", type=click.IntRange(min=16), default=None,
              help="Render and compare at this side [default: the networks' training resolution].")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Asset folder (default: $ROME_SMPLX_ASSETS, else the synthetic stand-ins).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Report folder: report.md and report.json (replaced as a whole when the run succeeds).")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@handle_errors
def eval_cmd(pairs_dir: Path | None, synthetic: str | None, mode: str, weights: Path | None, no_offsets: bool,
             linear: bool, metrics: str, lpips_weights: Path | None, lpips_heads: Path | None,
             csim_weights: Path | None, allow_random: bool, pairs_per_subject: int, tracking_noise: float,
             image_size: int | None, assets_dir: Path | None, out: Path, force: bool, composite: str) -> None:
    """The paper's protocol on frame pairs: PSNR/SSIM/LPIPS on the face+hair mask, CSIM, Chamfer -> report.md/json.

    Figures are per-image means (the paper's protocol), not a dataset-level PSNR."""
    from rome_smplx.errors import InputError
    from rome_smplx.evaluation import (
        evaluate,
        folder_pairs,
        load_backbones,
        load_heads,
        parse_metrics,
        synthetic_pairs,
        write_report,
    )
    from rome_smplx.io.atomic import check_output_dir

    if (pairs_dir is None) == (synthetic is None):
        raise InputError("eval: give exactly one of --pairs DIR or --synthetic A:B")
    seeds = _synthetic_range(synthetic) if synthetic is not None else None
    if seeds is not None and mode == "cross" and len(seeds) < 2:
        raise InputError(f"--synthetic {synthetic}: cross-driving needs at least two subjects")
    if pairs_dir is not None and not pairs_dir.is_dir():
        raise InputError(f"{pairs_dir}: --pairs: no such folder")
    names = parse_metrics(metrics)
    check_output_dir(out, force=force)
    lpips_net, embed, random_used = load_backbones(names, lpips_weights=lpips_weights, lpips_heads=lpips_heads,
                                                   csim_weights=csim_weights, allow_random=allow_random)
    a = _assets(assets_dir)
    heads, wdesc = load_heads(a, weights, linear=linear, no_offsets=no_offsets, image_size=image_size)
    size = next(iter(heads.values())).image_size
    if seeds is not None:
        source = synthetic_pairs(a, seeds, mode=mode, image_size=size, pairs_per_subject=pairs_per_subject,
                                 tracking_noise=tracking_noise)
    else:
        source = folder_pairs(pairs_dir, mode=mode, image_size=size, pairs_per_subject=pairs_per_subject)
    report = evaluate(heads, source, metrics=names, lpips_net=lpips_net, csim_embed=embed,
                      random_backbones=random_used, settings={"weights": wdesc}, composite=composite)
    write_report(report, out, force=force)
    row = report.results.get("rome", {})
    summary = ", ".join(f"{m} {v:.4g}" for m, v in row.items() if v is not None)
    click.echo(f"{report.pairs} {mode}-driving pairs; rome: {summary}; report in {out}")


if __name__ == "__main__":  # pragma: no cover
    main()
