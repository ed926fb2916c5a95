"""Crash-safe, watchable runs: a training process killed with SIGKILL after a checkpoint resumes
and continues with the losses of an uninterrupted run; a NaN loss skips its step and is reported;
metrics.jsonl, TensorBoard scalars and image grids, validation on held-out pairs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from rome_smplx.trainers import RomeTrainConfig, RomeTrainer, SyntheticPeopleDataset, train_from_config
from rome_smplx.trainers.monitor import GRID_COLUMNS, read_metrics

SIZE = 64


def _config(out, **kw) -> RomeTrainConfig:
    base = dict(profile="official", size="small", image_size=SIZE, batch_size=1, steps=5, checkpoint_every=2,
                seed=11, output_dir=str(out), backend="torch", threads=1, tensorboard=False)
    base.update(kw)
    return RomeTrainConfig(**base)


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "rome_smplx.cli", "train", "rome", *map(str, args)]


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume_gives_the_uninterrupted_losses(tmp_path, synthetic_dir_small):
    cfg = _config(tmp_path / "killed")
    cfg.save_yaml(tmp_path / "cfg.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(_cli("--config", tmp_path / "cfg.yaml", "--assets", synthetic_dir_small), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "killed" / "step_0000002" / "state.json"
    try:
        deadline = time.monotonic() + 400
        while not first.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.is_file(), "no checkpoint at step 2"
        proc.send_signal(signal.SIGKILL)  # mid-run: after the checkpoint of step 2, before the end (step 5)
    finally:
        rc = proc.wait(timeout=60)
    assert rc == -signal.SIGKILL
    done = sorted(p.name for p in (tmp_path / "killed").glob("step_*"))
    assert "step_0000005" not in done and not list((tmp_path / "killed").glob(".*tmp*"))

    t0 = time.perf_counter()
    res = subprocess.run(_cli("--config", tmp_path / "cfg.yaml", "--assets", synthetic_dir_small, "--resume", "latest"),
                         env=env, capture_output=True, text=True, timeout=500)
    wall = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    resumed_at = int(done[-1].split("_")[1])
    assert f"resumed from {tmp_path / 'killed' / done[-1]} at step {resumed_at}" in res.stderr
    logging.getLogger(__name__).info("resume: whole command %.1f s; %s", wall,
                                     [line for line in res.stderr.splitlines() if "resumed from" in line])

    whole = train_from_config(_config(tmp_path / "whole"), synthetic_dir_small)  # never interrupted
    lines = [r for r in read_metrics(tmp_path / "killed") if "train" in r]
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5]  # the killed run's lines after its checkpoint were dropped
    for r in lines[resumed_at:]:
        want = whole.history[r["step"] - 1]
        assert set(r["train"]) == set(want)
        for k, v in want.items():
            assert r["train"][k] == pytest.approx(v, rel=1e-5, abs=1e-7), (r["step"], k)
    state = json.loads((tmp_path / "killed" / "step_0000005" / "state.json").read_text())
    assert state["step"] == 5 and state["last_losses"]["total"] == pytest.approx(whole.history[-1]["total"], rel=1e-5)


@pytest.fixture(scope="module")
def dataset(synthetic_dir_small):
    return SyntheticPeopleDataset(synthetic_dir_small, image_size=SIZE)


def test_a_nan_loss_skips_the_step_and_is_reported(tmp_path, synthetic_dir_small, dataset, caplog):
    tr = RomeTrainer(_config(tmp_path, loss_weights={"adversarial": 0, "feature_matching": 0}), synthetic_dir_small)
    before = {k: v.clone() for k, v in tr.head.networks.state_dict().items()}
    real = tr.generator_losses

    def with_nan(fw, generator=None):
        parts = real(fw, generator)
        parts["seg"] = parts["seg"] * float("nan")
        return parts

    tr.generator_losses = with_nan
    with caplog.at_level(logging.WARNING, logger="rome_smplx.trainers.rome_trainer"):
        values = tr.train_step(tr.make_batch(dataset, 0))
    assert values["skipped"] == 1.0 and tr.skipped_steps == 1 and tr.step == 1
    assert all(torch.equal(before[k], v) for k, v in tr.head.networks.state_dict().items())
    assert any("step 0: non-finite generator loss or gradients (seg)" in r.message
               and "1 step(s) skipped so far" in r.message for r in caplog.records), caplog.text
    tr.generator_losses = real
    values = tr.train_step(tr.make_batch(dataset, 1))
    assert values["skipped"] == 0.0 and tr.skipped_steps == 1
    assert any(not torch.equal(before[k], v) for k, v in tr.head.networks.state_dict().items())
    folder = tr.save_checkpoint()
    assert json.loads((folder / "state.json").read_text())["skipped_steps"] == 1
    assert RomeTrainer(tr.config, synthetic_dir_small).resume(folder).skipped_steps == 1


@pytest.mark.slow
def test_metrics_tensorboard_images_and_validation(tmp_path, synthetic_dir_small, dataset):
    pytest.importorskip("tensorboard", reason="the tensorboard package (dev extra) is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _config(tmp_path / "run", steps=2, checkpoint_every=0, tensorboard=True, image_every=2, val_every=2,
                  val_seeds=(10_000, 10_002), frames=2, val_pairs=2)
    tr = RomeTrainer(cfg, synthetic_dir_small)
    history = tr.fit(dataset, progress=False)
    lines = read_metrics(tmp_path / "run")
    assert [r["train"]["total"] for r in lines if "train" in r] == [h["total"] for h in history]
    val = [r for r in lines if "val" in r]
    assert len(val) == 1 and val[0]["step"] == 2
    m = val[0]["val"]
    assert m["pairs"] == 2 and 3 < m["psnr"] < 60 and -1 < m["ssim"] <= 1 and 0 <= m["mask_dice"] <= 1
    # validation does not disturb training: the same run without it has the same losses
    plain = RomeTrainer(_config(tmp_path / "plain", steps=2, checkpoint_every=0), synthetic_dir_small)
    assert [h["total"] for h in plain.fit(dataset, progress=False)] == [h["total"] for h in history]

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    total = [(e.step, e.value) for e in events.Scalars("train/total")]
    assert total == [(i + 1, pytest.approx(h["total"], rel=1e-6)) for i, h in enumerate(history)]
    assert events.Scalars("val/psnr")[0].value == pytest.approx(m["psnr"], rel=1e-6)
    (image_tag,) = tags["images"]
    assert image_tag == "train/" + "|".join(GRID_COLUMNS)
    shots = events.Images(image_tag)
    assert [s.step for s in shots] == [1, 2]  # the first step and every image_every steps
    assert (shots[0].width, shots[0].height) == (len(GRID_COLUMNS) * SIZE, SIZE)  # batch 1: one row


def test_without_tensorboard_a_warning_and_the_metrics_file(tmp_path, synthetic_dir_small, dataset, monkeypatch,
                                                            caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    tr = RomeTrainer(_config(tmp_path / "run", steps=1, checkpoint_every=0, tensorboard=True), synthetic_dir_small)
    with caplog.at_level(logging.WARNING, logger="rome_smplx.trainers.monitor"):
        history = tr.fit(dataset, progress=False)
    assert "tensorboard is not installed" in caplog.text
    assert not (tmp_path / "run" / "tensorboard").exists()
    assert [r["train"]["total"] for r in read_metrics(tmp_path / "run")] == [history[0]["total"]]
