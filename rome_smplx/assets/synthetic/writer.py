"""Write the whole synthetic stand-in asset folder, and the cached default set.

```
DIR/
  SYNTHETIC          JSON marker: generator, version, seed, head_vertices, people
  smplx/             SMPLX_NEUTRAL_2020.npz
  flame/             FLAME_NEUTRAL.pkl, flame_static_embedding.pkl, flame_dynamic_embedding.npy,
                     landmark_embedding.npy
  correspondences/   SMPL-X__FLAME_vertex_ids.npy
  rome/              hair/neck lists, faces, UVs, u_full.pt, mean_deform.pt
  people/person_NNN/ photo.png, mask.png, *_256.png, person_NNN_param.pkl, person_NNN_deca.pkl, truth.npz
```

The folder appears atomically (it is built beside the target and renamed). The same arguments give
the same arrays in every file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from tqdm.auto import tqdm

from rome_smplx.errors import InputError

log = logging.getLogger(__name__)

#: Version of the generator; bump it whenever the generated content changes (names the cache).
GENERATOR_VERSION = 2
#: Name of the marker file that tells the asset layer this folder holds stand-ins.
MARKER_NAME = "SYNTHETIC"


def _check_args(seed, head_vertices, people) -> None:
    from rome_smplx.assets.synthetic.body import MIN_BODY_VERTICES, SMPLX_NUM_VERTICES
    from rome_smplx.assets.synthetic.head import MIN_VERTICES

    for name, val in (("seed", seed), ("head_vertices", head_vertices), ("people", people)):
        if isinstance(val, bool) or not isinstance(val, int):
            raise InputError(f"write_synthetic_assets: {name} must be an integer, found {val!r}")
    if seed < 0:
        raise InputError(f"write_synthetic_assets: seed must be >= 0, found {seed}")
    hi = SMPLX_NUM_VERTICES - MIN_BODY_VERTICES
    if not MIN_VERTICES <= head_vertices <= hi:
        raise InputError(
            f"write_synthetic_assets: head_vertices must be between {MIN_VERTICES} and {hi} (the head is part "
            f"of a {SMPLX_NUM_VERTICES}-vertex SMPL-X body), found {head_vertices}")
    if people < 0:
        raise InputError(f"write_synthetic_assets: people must be >= 0, found {people}")


def write_synthetic_assets(directory, seed: int = 0, head_vertices: int | None = None, people: int = 2) -> Path:
    """Generate every stand-in file in the real layout under ``directory`` (replaced atomically).

    Args:
        directory: target folder (created; an existing folder is replaced only when the new one is
            complete).
        seed: generator seed (same seed, same arrays).
        head_vertices: vertex count of the synthetic FLAME head (default: FLAME's).
        people: number of synthetic people under ``people/``.

    Returns:
        ``directory`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: an argument is out of range.
    """
    from rome_smplx.assets.layout import SPEC_BY_KEY
    from rome_smplx.assets.synthetic.body import build_body, write_smplx_files
    from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES, build_head, write_flame_files
    from rome_smplx.assets.synthetic.people import make_person, write_person
    from rome_smplx.assets.synthetic.rome_data import build_rome_data, write_rome_files
    from rome_smplx.io.atomic import atomic_dir, write_bytes_atomic
    from rome_smplx.io.meshes import write_obj

    if head_vertices is None:
        head_vertices = FLAME_NUM_VERTICES
    _check_args(seed, head_vertices, people)
    directory = Path(directory).expanduser()
    folder = lambda key: SPEC_BY_KEY[key].folder
    steps = 6 + people
    with atomic_dir(directory) as tmp, tqdm(total=steps, desc="synthetic assets", unit="step", disable=None) as bar:
        bar.set_postfix_str("head")
        head = build_head(head_vertices, seed)
        bar.update()
        write_flame_files(head, tmp / folder("flame"))
        # DECA's head_template.obj carries the UV layout (vt) that ROME's uvfaces_v2 index.
        write_obj(
            tmp / folder("head_template") / "head_template.obj", head.v_template, head.faces,
            head.uv_coords, head.uv_faces[: len(head.faces)],
        )
        bar.update()
        bar.set_postfix_str("rome data")
        rome = build_rome_data(head, seed)
        write_rome_files(rome, tmp / folder("hair_list"))
        bar.update()
        bar.set_postfix_str("body")
        body = build_body(head, seed)
        bar.update()
        write_smplx_files(body, tmp / folder("smplx"), tmp / folder("smplx_flame_correspondence"))
        bar.update()
        for i in range(people):
            bar.set_postfix_str(f"person {i}")
            name = f"person_{i:03d}"
            write_person(head, rome, make_person(head, rome, i, seed), tmp / "people" / name, name)
            bar.update()
        marker = {"generator": "rome_smplx.assets.synthetic", "version": GENERATOR_VERSION, "seed": seed,
                  "head_vertices": head_vertices, "people": people}
        write_bytes_atomic(tmp / MARKER_NAME, (json.dumps(marker, indent=2, sort_keys=True) + "\n").encode())
        bar.update()
    log.info("wrote synthetic stand-in assets (seed %d, %d head vertices, %d people) to %s",
             seed, head_vertices, people, directory)
    return directory


def read_marker(directory) -> dict | None:
    """The parsed ``SYNTHETIC`` marker of ``directory``, or ``None`` when it holds no stand-ins."""
    p = Path(directory) / MARKER_NAME
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def cache_root() -> Path:
    """``$ROME_SMPLX_CACHE`` if set, else ``~/.cache/rome_smplx``."""
    env = os.environ.get("ROME_SMPLX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rome_smplx"


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: rely on the atomic rename alone
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def default_dir() -> Path:
    """The cached default synthetic set (seed 0), generated on first use.

    Lives at ``cache_root() / f"synthetic-v{GENERATOR_VERSION}-seed0"``. Concurrent callers are
    serialised by a lock file; the folder appears atomically, so a reader never sees a partial set.
    """
    from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES

    target = cache_root() / f"synthetic-v{GENERATOR_VERSION}-seed0"

    def complete() -> bool:
        m = read_marker(target)
        return m is not None and m.get("version") == GENERATOR_VERSION and m.get("seed") == 0

    if complete():
        return target
    with _file_lock(target.with_name(target.name + ".lock")):
        if not complete():
            log.info("generating the synthetic stand-in assets in %s (first use)", target)
            write_synthetic_assets(target, seed=0, head_vertices=FLAME_NUM_VERTICES, people=2)
    return target


__all__ = ["GENERATOR_VERSION", "MARKER_NAME", "cache_root", "default_dir", "read_marker", "write_synthetic_assets"]
