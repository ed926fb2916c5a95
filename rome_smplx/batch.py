"""Many (photo, PIXIE) rows -> avatars: the engine behind ``rome-smplx batch``.

A manifest lists the rows (:func:`read_manifest`): JSONL objects, or CSV with a header, with the keys
``id``, ``image`` and ``pixie``, and optionally ``mask``, ``deca`` and ``motion`` (paths relative to the
manifest's folder, or absolute). Every row runs the steps of :func:`rome_smplx.pipeline.reconstruct_photo`
and is written the way ``rome-smplx avatar`` writes (:func:`rome_smplx.pipeline.write_avatar`):

* ``DIR/<id>/avatar.glb`` (textured, rigged, animated with the row's ``motion`` or the default wave) and
  ``DIR/<id>/summary.json`` (inputs, FLAME source and landmark-fit error, seconds per stage), published
  as one folder under the output policy of :mod:`rome_smplx.io.atomic` (complete, or absent);
* ``DIR/results.jsonl``: one line per manifest row, in manifest order, with ``id``, ``status``
  (``"ok"``, ``"error"`` or ``"skipped"``), ``seconds`` and ``error`` (``null`` unless the row failed).

Runs are idempotent and resumable: a row whose folder is complete for the same inputs and settings is
skipped. A bad row (missing or corrupt photo, NaN or unsafe PIXIE file, no face found) is recorded as
an error and the other rows go on.

Two engines run the same steps (:class:`AvatarWorker`):

* ``local``: one process; the head model, landmark detector and segmenter are loaded once, and rows
  are merged onto their bodies in batches of ``batch_size``;
* ``ray``: Ray Data ``map_batches`` over actors that each hold an :class:`AvatarWorker` (one GPU per
  actor when CUDA is present), on a local cluster or one joined with ``address``. Actors write into
  ``DIR`` themselves, so on a multi-node cluster ``DIR`` and the inputs must be on shared storage.
  Ray is imported only when this engine runs (extra ``ray``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rome_smplx.errors import BackendError, InputError, RomeSmplxError
from rome_smplx.io.atomic import atomic_dir, check_output_dir, check_work_dir, is_marked, write_bytes_atomic
from rome_smplx.io.limits import DEFAULT_MAX_PIXELS
from rome_smplx.pipeline import FIT_THREADS

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets

logger = logging.getLogger(__name__)

__all__ = [
    "AVATAR_FILE",
    "ENGINES",
    "MANIFEST_KEYS",
    "RESULTS_FILE",
    "STAGES",
    "SUMMARY_FILE",
    "AvatarWorker",
    "BatchRow",
    "BatchSettings",
    "read_manifest",
    "run_batch",
    "start_local_ray",
]

#: Keys of a manifest row: the required ones first.
MANIFEST_KEYS = ("id", "image", "pixie", "mask", "deca", "motion")
REQUIRED_KEYS = ("id", "image", "pixie")
PATH_KEYS = ("image", "pixie", "mask", "deca", "motion")
ENGINES = ("local", "ray")
#: Per-row stages timed in ``summary.json`` (seconds per avatar; a batched merge is shared evenly).
STAGES = ("read", "landmarks", "flame", "reconstruct", "merge", "export")
AVATAR_FILE = "avatar.glb"
SUMMARY_FILE = "summary.json"
RESULTS_FILE = "results.jsonl"
#: Ids are folder names: letters, digits, ``.``, ``_``, ``-``, starting with a letter or digit.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# ---------------------------------------------------------------------------------------- manifest
@dataclass(frozen=True)
class BatchRow:
    """One manifest row, paths made absolute (strings, so rows travel to Ray workers as JSON).

    Attributes:
        id: the output folder name under ``DIR``.
        image, pixie: photo and PIXIE ``_param.pkl``.
        mask, deca, motion: optional matte, DECA code dict (skips the landmark fit) and GLB animation.
        line: line of the row in the manifest (for messages).
    """

    id: str
    image: str
    pixie: str
    mask: str | None = None
    deca: str | None = None
    motion: str | None = None
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchRow:
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


def _row_from_mapping(raw: dict[str, Any], where: str, base: Path, line: int) -> BatchRow:
    unknown = [k for k in raw if k not in MANIFEST_KEYS]
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(MANIFEST_KEYS)})")
    values: dict[str, str | None] = {}
    for key in MANIFEST_KEYS:
        v = raw.get(key)
        if isinstance(v, str):
            v = v.strip()
        if v is None or v == "":
            if key in REQUIRED_KEYS:
                raise InputError(f"{where}: missing key {key!r} (every row needs {', '.join(REQUIRED_KEYS)})")
            values[key] = None
            continue
        if not isinstance(v, str):
            raise InputError(f"{where}: {key!r} must be a string, found {type(v).__name__} {v!r}")
        if key in PATH_KEYS:
            p = Path(v).expanduser()
            v = str(p if p.is_absolute() else base / p)
        values[key] = v
    rid = values["id"]
    if not _ID_RE.match(rid) or rid.endswith(".") or rid == RESULTS_FILE:
        raise InputError(f"{where}: id {rid!r} is not a safe folder name (letters, digits, '.', '_' and '-', "
                         f"starting with a letter or digit, at most 128 characters, not {RESULTS_FILE!r})")
    return BatchRow(line=line, **values)


def _jsonl_rows(path: Path, base: Path) -> Iterator[BatchRow]:
    with open(path, encoding="utf-8-sig") as fh:
        for line, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            where = f"{path}:{line}"
            try:
                raw = json.loads(text)
            except ValueError as e:
                raise InputError(f"{where}: expected one JSON object per line ({e})") from None
            if not isinstance(raw, dict):
                raise InputError(f"{where}: expected a JSON object, found {type(raw).__name__}")
            yield _row_from_mapping(raw, where, base, line)


def _csv_rows(path: Path, base: Path) -> Iterator[BatchRow]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        unknown = [h for h in header if h not in MANIFEST_KEYS]
        if unknown:
            raise InputError(f"{path}:1: unknown column {unknown[0]!r} (expected {', '.join(MANIFEST_KEYS)})")
        missing = [k for k in REQUIRED_KEYS if k not in header]
        if missing:
            raise InputError(f"{path}:1: missing column {missing[0]!r} (the header needs {', '.join(REQUIRED_KEYS)})")
        reader.fieldnames = header
        try:
            for raw in reader:
                where = f"{path}:{reader.line_num}"
                if None in raw:
                    raise InputError(f"{where}: more fields than the header's {len(header)}")
                if all(v is None or not v.strip() for v in raw.values()):
                    continue
                yield _row_from_mapping(raw, where, base, reader.line_num)
        except csv.Error as e:
            raise InputError(f"{path}:{reader.line_num}: unreadable CSV ({e})") from None


def read_manifest(path: str | os.PathLike) -> list[BatchRow]:
    """Read and validate a manifest (``.jsonl``/``.ndjson`` or ``.csv``) before any work.

    Returns:
        The rows in file order, paths absolute (relative ones are taken from the manifest's folder).

    Raises:
        InputError: naming the file and line: unreadable file, unknown format, a row that is not an
            object, unknown or missing keys, non-string values, an id that is not a safe folder name,
            a duplicate id (compared case-insensitively), or no rows at all.
    """
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise InputError(f"{p}: expected a .jsonl or .csv manifest, found {suffix or 'no extension'!r}")
    if not p.is_file():
        raise InputError(f"{p}: manifest not found" if not p.exists() else f"{p}: expected a manifest file, found a folder")
    base = p.resolve().parent
    reader = _csv_rows if suffix == ".csv" else _jsonl_rows
    rows: list[BatchRow] = []
    first_line: dict[str, int] = {}
    try:
        for row in reader(p, base):
            key = row.id.lower()
            if key in first_line:
                raise InputError(f"{p}:{row.line}: duplicate id {row.id!r} (first on line {first_line[key]})")
            first_line[key] = row.line
            rows.append(row)
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: expected UTF-8 text ({e.reason} at byte {e.start})") from None
    if not rows:
        raise InputError(f"{p}: the manifest has no rows (expected keys {', '.join(MANIFEST_KEYS)})")
    return rows


# ---------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class BatchSettings:
    """What every row shares (part of the skip check: other settings redo the rows).

    Attributes:
        variant: ``"linear"`` or ``"full"`` hair offsets.
        texture_size: side of the texture baked from the photo (0: part colours).
        max_pixels: photos and masks with more pixels are refused (``None``: no limit).
        batch_size: rows merged together (local) and rows per Ray batch.
        backend: rasteriser backend of the head model.
        fit_threads: torch threads during the landmark fit (:data:`rome_smplx.pipeline.FIT_THREADS`).
    """

    variant: str = "linear"
    texture_size: int = 1024
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    batch_size: int = 4
    backend: str = "auto"
    fit_threads: int | None = FIT_THREADS

    def __post_init__(self) -> None:
        from rome_smplx.avatar.head import VARIANTS

        if self.variant not in VARIANTS:
            raise InputError(f"variant: expected one of {VARIANTS}, found {self.variant!r}")
        if self.texture_size < 0 or self.batch_size < 1:
            raise InputError(f"texture_size must be >= 0 and batch_size >= 1, found {self.texture_size}, "
                             f"{self.batch_size}")

    def output_key(self) -> dict[str, Any]:
        """The settings that change what is written."""
        return {"variant": self.variant, "texture_size": int(self.texture_size)}


def _file_key(path: str | None) -> list | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None]
    return [path, int(st.st_size), int(st.st_mtime_ns)]


def _inputs_key(row: BatchRow, settings: BatchSettings, assets_root: str) -> dict[str, Any]:
    """What a complete output folder must have been made from to be skipped."""
    key: dict[str, Any] = {k: _file_key(getattr(row, k)) for k in PATH_KEYS}
    key.update(settings.output_key())
    key["assets"] = assets_root
    return key


def _is_complete(folder: Path, inputs: dict[str, Any]) -> bool:
    if not (folder.is_dir() and is_marked(folder) and (folder / AVATAR_FILE).is_file()):
        return False
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("inputs") == json.loads(json.dumps(inputs))


def _message(e: BaseException) -> str:
    text = str(e) if isinstance(e, RomeSmplxError) else f"{type(e).__name__}: {e}"
    return " ".join(text.split())


def _result(row_id: str, status: str, seconds: float, error: str | None = None) -> dict[str, Any]:
    return {"id": row_id, "status": status, "seconds": round(float(seconds), 3), "error": error}


# ------------------------------------------------------------------------------------------- worker
def _cat(items: Sequence[Any]) -> Any:
    """Concatenate dataclasses of tensors (``rome_smplx.types``) along the batch dimension.

    Raises:
        InputError: the items cannot share a batch (a field present in some only, or other shapes).
    """
    first = items[0]
    if len(items) == 1:
        return first
    b = first.batch_size
    unbatched = getattr(first, "_unbatched", ())
    changes = {}
    for f in dataclasses.fields(first):
        vals = [getattr(x, f.name) for x in items]
        present = [v is not None for v in vals]
        if any(present) and not all(present):
            raise InputError(f"batch merge: {type(first).__name__}.{f.name} is set for some rows only")
        v0 = vals[0]
        if isinstance(v0, Tensor) and f.name not in unbatched and v0.dim() > 0 and v0.shape[0] == b:
            if any(v.shape[1:] != v0.shape[1:] for v in vals):
                raise InputError(f"batch merge: {type(first).__name__}.{f.name} has different shapes")
            changes[f.name] = torch.cat(vals)
        elif hasattr(v0, "batch_size") and dataclasses.is_dataclass(v0):
            changes[f.name] = _cat(vals)
        elif isinstance(v0, Tensor) and not all(v.shape == v0.shape and torch.equal(v, v0) for v in vals):
            raise InputError(f"batch merge: {type(first).__name__}.{f.name} differs between rows")
        elif not isinstance(v0, Tensor) and any(v != v0 for v in vals):
            raise InputError(f"batch merge: {type(first).__name__}.{f.name} differs between rows")
    return dataclasses.replace(first, **changes)


class AvatarWorker:
    """Holds the models of one engine worker and turns chunks of rows into output folders.

    The head model (:func:`rome_smplx.pipeline.load_head`), the landmark detector and the segmenter are
    made once and reused for every row; the rows of one :meth:`run` call are merged as one batch.

    Args:
        assets: an :class:`~rome_smplx.assets.Assets`, an asset folder, or ``None`` (``Assets.discover()``).
        settings: :class:`BatchSettings`.
        device: where the networks run (default CPU).
        detector, segmenter: callables as in :func:`~rome_smplx.pipeline.reconstruct_photo`; default
            mediapipe's (the segmenter made when a row has no mask).
    """

    def __init__(self, assets: Any = None, settings: BatchSettings | None = None, *, device: Any = None,
                 detector: Callable[..., Tensor] | None = None, segmenter: Callable[..., Tensor] | None = None):
        from rome_smplx.pipeline import _resolve_assets, load_head

        self.settings = settings or BatchSettings()
        self.assets: Assets = _resolve_assets(assets)
        self.head = load_head(self.assets, self.settings.variant, backend=self.settings.backend, device=device)
        self._closers: list[Any] = []
        if detector is None:
            from rome_smplx.bridges.landmarks import MediapipeDetector

            detector = MediapipeDetector()
            self._closers.append(detector)
        self.detector = detector
        self._segmenter = segmenter

    def _segment(self) -> Callable[..., Tensor]:
        if self._segmenter is None:
            from rome_smplx.bridges.landmarks import MediapipeSegmenter

            self._segmenter = MediapipeSegmenter()
            self._closers.append(self._segmenter)
        return self._segmenter

    def close(self) -> None:
        """Release the mediapipe graphs this worker made."""
        for c in self._closers:
            c.close()
        self._closers.clear()

    def __enter__(self) -> AvatarWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def assets_root(self) -> str:
        return str(Path(os.path.abspath(self.assets.root)))

    def inputs_key(self, row: BatchRow) -> dict[str, Any]:
        return _inputs_key(row, self.settings, self.assets_root)

    def run(self, rows: Sequence[BatchRow], out_dir: str | os.PathLike) -> list[dict[str, Any]]:
        """Rows -> ``out_dir/<id>/`` folders; one result dict per row, in order (errors never raise)."""
        from rome_smplx.io.motion import load_motion
        from rome_smplx.pipeline import merge_body, reconstruct_photo

        out_dir = Path(out_dir)
        s = self.settings
        done: dict[int, dict[str, Any]] = {}
        spent = [0.0] * len(rows)
        photos: dict[int, Any] = {}
        motions: dict[int, Any] = {}
        for i, row in enumerate(rows):
            t0 = time.perf_counter()
            try:
                check_output_dir(out_dir / row.id)
                motions[i] = load_motion(row.motion) if row.motion is not None else None
                photos[i] = reconstruct_photo(
                    row.image, pixie_param=row.pixie, assets=self.assets, mask_path=row.mask, deca_path=row.deca,
                    variant=s.variant, detector=self.detector,
                    segmenter=None if row.mask is not None else self._segment(), fit_threads=s.fit_threads,
                    max_pixels=s.max_pixels, head=self.head, merge=False,
                )
            except (KeyboardInterrupt, BackendError):
                raise
            except Exception as e:  # a bad row is recorded, the others go on
                logger.warning("%s (line %d): %s", row.id, row.line, _message(e))
                logger.debug("%s failed", row.id, exc_info=True)
                done[i] = _result(row.id, "error", time.perf_counter() - t0, _message(e))
            spent[i] += time.perf_counter() - t0
        self._merge(photos, spent, done, rows, merge_body)
        for i in sorted(photos):
            row, photo = rows[i], photos[i]
            t0 = time.perf_counter()
            try:
                self._write(row, photo, motions[i], out_dir)
                photo.timings["export"] = round(time.perf_counter() - t0, 3)
                spent[i] += time.perf_counter() - t0
                done[i] = _result(row.id, "ok", spent[i])
            except KeyboardInterrupt:
                raise
            except Exception as e:
                logger.warning("%s (line %d): %s", row.id, row.line, _message(e))
                done[i] = _result(row.id, "error", spent[i] + time.perf_counter() - t0, _message(e))
        return [done[i] for i in range(len(rows))]

    def _merge(self, photos: dict[int, Any], spent: list[float], done: dict[int, dict[str, Any]],
               rows: Sequence[BatchRow], merge_body: Callable[..., Any]) -> None:
        """Merge every reconstructed row onto its body: one batched call, else row by row."""
        if not photos:
            return
        order = sorted(photos)
        t0 = time.perf_counter()
        try:
            recon = _cat([photos[i].recon for i in order])
            body = _cat([photos[i].body for i in order])
            merged = merge_body(recon, body, self.assets, self.head)
            share = (time.perf_counter() - t0) / len(order)
            for k, i in enumerate(order):
                photos[i].avatar = merged.index(k)
                photos[i].timings["merge"] = round(share, 3)
                spent[i] += share
            return
        except KeyboardInterrupt:
            raise
        except Exception as e:  # rows that cannot share a batch (or one bad row): merge each alone
            logger.info("merging %d rows one by one (%s)", len(order), _message(e))
        for i in order:
            t0 = time.perf_counter()
            try:
                photos[i].avatar = merge_body(photos[i].recon, photos[i].body, self.assets, self.head)
                photos[i].timings["merge"] = round(time.perf_counter() - t0, 3)
                spent[i] += time.perf_counter() - t0
            except KeyboardInterrupt:
                raise
            except Exception as e:
                logger.warning("%s (line %d): %s", rows[i].id, rows[i].line, _message(e))
                spent[i] += time.perf_counter() - t0
                done[i] = _result(rows[i].id, "error", spent[i], _message(e))
                del photos[i]

    def _write(self, row: BatchRow, photo: Any, motion: Any, out_dir: Path) -> None:
        """``out_dir/<id>/``: the avatar file ``rome-smplx avatar`` writes, and ``summary.json``."""
        from rome_smplx.avatar.merge import PART_HAIR
        from rome_smplx.pipeline import write_avatar

        t0 = time.perf_counter()
        av = photo.avatar
        fit_err = None if photo.fit is None else round(float(photo.fit.error_px[0]), 4)
        with atomic_dir(out_dir / row.id) as tmp:
            write_avatar(photo, tmp / AVATAR_FILE, motion=motion, texture_size=self.settings.texture_size)
            timings = dict(photo.timings)
            timings["export"] = round(time.perf_counter() - t0, 3)
            summary = {
                "id": row.id,
                "files": [AVATAR_FILE, SUMMARY_FILE],
                "inputs": self.inputs_key(row),
                "flame_source": photo.flame_source,
                "landmark_fit_error_px": fit_err,
                "flame_fit_s": timings.get("flame") if photo.fit is not None else None,
                "body_vertices": int(av.vertices.shape[1]),
                "hair_vertices": int((av.parts == PART_HAIR).sum()),
                "synthetic_assets": bool(self.assets.is_synthetic),
                "timings_s": {k: timings.get(k) for k in STAGES},
            }
            (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")


# -------------------------------------------------------------------------------------------- engines
def _write_results(path: Path, rows: Sequence[BatchRow], results: dict[str, dict[str, Any]]) -> None:
    lines = [json.dumps(results[r.id]) for r in rows if r.id in results]
    write_bytes_atomic(path, ("\n".join(lines) + "\n" if lines else "").encode())


def _chunks(seq: Sequence[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), n):
        yield list(seq[i : i + n])


def _run_local(todo: Sequence[BatchRow], out_dir: Path, assets: Any, settings: BatchSettings,
               report: Callable[[dict[str, Any]], None], device: Any = None, **worker_kw: Any) -> None:
    with AvatarWorker(assets, settings, device=device, **worker_kw) as worker:
        for chunk in _chunks(todo, settings.batch_size):
            for res in worker.run(chunk, out_dir):
                report(res)


class RayAvatarActor:
    """A Ray Data actor (callable class for ``map_batches``): one :class:`AvatarWorker` per actor.

    Batches are ``{"row": [json, ...]}`` and come back as ``{"result": [json, ...]}``.
    """

    def __init__(self, assets_root: str, settings: dict[str, Any], out_dir: str, threads: int = 1):
        torch.set_num_threads(max(1, int(threads)))
        device = "cuda" if torch.cuda.is_available() else None
        self.worker = AvatarWorker(assets_root, BatchSettings(**settings), device=device)
        self.out_dir = out_dir

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        rows = [BatchRow.from_dict(json.loads(str(s))) for s in batch["row"]]
        results = self.worker.run(rows, self.out_dir)
        return {"result": np.array([json.dumps(r) for r in results], dtype=object)}


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise BackendError(f"the ray engine needs Ray Data ({e}); install it with: pip install 'rome-smplx[ray]'") from None
    return ray


def start_local_ray(num_cpus: int = 2) -> None:
    """Start a Ray cluster on this machine only: its processes on the loopback address, no dashboard,
    no usage reporting, worker output kept out of the driver's log."""
    ray = _import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    logger.info("starting a local Ray cluster (%d CPUs)", num_cpus)
    ray.init(num_cpus=int(num_cpus), include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")


def _run_ray(todo: Sequence[BatchRow], out_dir: Path, assets_root: str, settings: BatchSettings,
             report: Callable[[dict[str, Any]], None], *, address: str | None, workers: int,
             cpus_per_worker: float = 1.0) -> None:
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        if address is None:
            start_local_ray(max(1, math.ceil(workers * cpus_per_worker)))
        else:
            logger.info("joining the Ray cluster at %s", address)
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        with_gpu = bool(ray.cluster_resources().get("GPU", 0)) or torch.cuda.is_available()
        items = [{"row": json.dumps(r.to_dict())} for r in todo]
        ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / settings.batch_size)))
        ds = ds.map_batches(
            RayAvatarActor,
            fn_constructor_kwargs={"assets_root": assets_root, "settings": dataclasses.asdict(settings),
                                   "out_dir": str(os.path.abspath(out_dir)), "threads": max(1, int(cpus_per_worker))},
            batch_size=settings.batch_size, batch_format="numpy", concurrency=workers,
            num_cpus=cpus_per_worker, num_gpus=1 if with_gpu else 0,
        )
        for rec in ds.iter_rows():
            report(json.loads(str(rec["result"])))
    finally:
        if started:
            ray.shutdown()


def run_batch(
    manifest: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    engine: str = "local",
    assets: Any = None,
    settings: BatchSettings | None = None,
    address: str | None = None,
    workers: int = 2,
    device: Any = None,
    progress: bool = True,
    **worker_kw: Any,
) -> list[dict[str, Any]]:
    """Run every row of ``manifest`` into ``out_dir`` (see the module docstring).

    Args:
        manifest: ``.jsonl`` or ``.csv`` (:func:`read_manifest`).
        out_dir: output folder (created; it is added to, never replaced).
        engine: ``"local"`` or ``"ray"``.
        assets: an :class:`~rome_smplx.assets.Assets`, an asset folder, or ``None`` (``Assets.discover()``).
        settings: :class:`BatchSettings`.
        address: Ray cluster to join (``"auto"``, ``"ray://host:10001"``); default a local cluster of
            ``workers`` CPUs (``ray`` engine only).
        workers: Ray actors (``ray`` engine only).
        device: where the local engine's networks run (Ray actors use CUDA when present).
        progress: a tqdm bar over the rows.
        worker_kw: ``detector`` / ``segmenter`` for the local engine's :class:`AvatarWorker`.

    Returns:
        The results, one dict per row in manifest order (as in ``results.jsonl``).

    Raises:
        InputError: bad manifest (file and line named), engine, options or output folder, checked
            before any work.
        BackendError: Ray (``ray`` engine) or mediapipe missing.
    """
    from tqdm.auto import tqdm

    from rome_smplx.pipeline import _resolve_assets

    if engine not in ENGINES:
        raise InputError(f"engine: expected one of {ENGINES}, found {engine!r}")
    if workers < 1:
        raise InputError(f"workers: expected at least 1, found {workers}")
    if address is not None and engine != "ray":
        raise InputError("--address joins a Ray cluster: it needs --engine ray")
    if worker_kw and engine != "local":
        raise InputError(f"{', '.join(worker_kw)}: only the local engine takes custom detectors")
    settings = settings or BatchSettings()
    rows = read_manifest(manifest)
    out = check_work_dir(out_dir)
    results_path = out / RESULTS_FILE
    if results_path.is_dir():
        raise InputError(f"{results_path}: expected a file path, found a folder")
    if engine == "ray":
        _import_ray()
    a = _resolve_assets(assets)
    assets_root = str(Path(os.path.abspath(a.root)))
    out.mkdir(parents=True, exist_ok=True)

    results: dict[str, dict[str, Any]] = {}
    todo: list[BatchRow] = []
    for row in rows:
        t0 = time.perf_counter()
        folder = out / row.id
        if _is_complete(folder, _inputs_key(row, settings, assets_root)):
            results[row.id] = _result(row.id, "skipped", time.perf_counter() - t0)
            continue
        try:
            check_output_dir(folder)
        except InputError as e:
            results[row.id] = _result(row.id, "error", time.perf_counter() - t0, _message(e))
            continue
        todo.append(row)
    skipped = sum(r["status"] == "skipped" for r in results.values())
    logger.info("%s: %d rows, %d to run, %d already complete (%s engine)", manifest, len(rows), len(todo),
                skipped, engine)
    _write_results(results_path, rows, results)
    bar = tqdm(total=len(rows), initial=len(rows) - len(todo), desc="batch", unit="avatar",
               disable=None if progress else True)
    pending = [0]

    def report(res: dict[str, Any]) -> None:
        results[res["id"]] = res
        bar.update()
        bar.set_postfix_str(f"{res['id']}: {res['status']}")
        pending[0] += 1
        if pending[0] >= settings.batch_size:
            _write_results(results_path, rows, results)
            pending[0] = 0

    t_start = time.perf_counter()
    try:
        if todo and engine == "local":
            _run_local(todo, out, a, settings, report, device=device, **worker_kw)
        elif todo:
            _run_ray(todo, out, assets_root, settings, report, address=address, workers=workers)
    finally:
        bar.close()
        _write_results(results_path, rows, results)
    missing = [r.id for r in todo if r.id not in results]
    if missing:  # pragma: no cover - an engine that lost rows is a bug; say so rather than hide it
        raise RomeSmplxError(f"batch engine {engine!r} returned no result for {len(missing)} rows: {missing[:5]}")
    counts = {k: sum(r["status"] == k for r in results.values()) for k in ("ok", "skipped", "error")}
    logger.info("batch done in %.1f s: %d ok, %d skipped, %d errors; results in %s", time.perf_counter() - t_start,
                counts["ok"], counts["skipped"], counts["error"], results_path)
    return [results[r.id] for r in rows]
