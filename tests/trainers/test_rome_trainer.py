"""ROME trainer: steps run, losses fall when overfitting, gradients reach every network, the
discriminator step touches only the discriminator, resume is exact, config round trip, CLI."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from rome_smplx.trainers import RomeTrainConfig, RomeTrainer, SyntheticPeopleDataset
from rome_smplx.trainers.config import DEFAULT_LOSS_WEIGHTS

from rome_smplx.cli import main
from rome_smplx.errors import CheckpointError, InputError

SIZE = 64


def _config(tmp_path, **kw):
    base = dict(profile="official", size="small", image_size=SIZE, batch_size=1, steps=4, checkpoint_every=0,
                seed=7, output_dir=str(tmp_path / "out"), backend="torch")
    base.update(kw)
    return RomeTrainConfig(**base)


@pytest.fixture(scope="module")
def dataset(synthetic_dir_small):
    return SyntheticPeopleDataset(synthetic_dir_small, image_size=SIZE)


def test_steps_run_with_finite_losses(tmp_path, synthetic_dir_small, dataset):
    tr = RomeTrainer(_config(tmp_path), synthetic_dir_small)
    values = tr.train_step(tr.make_batch(dataset, 0))
    expected = {"perceptual", "adversarial", "feature_matching", "seg", "seg_hair", "seg_neck", "chamfer",
                "laplacian", "keypoints", "total", "dis", "skipped"}
    assert set(values) == expected  # gaze / identity are off without their weights
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    parts = sum(v for k, v in values.items() if k not in ("total", "dis", "skipped"))
    assert values["total"] == pytest.approx(parts, rel=1e-5)
    assert values["skipped"] == 0.0 and tr.step == 1


def test_every_network_gets_gradients_from_its_losses(tmp_path, synthetic_dir_small, dataset):
    tr = RomeTrainer(_config(tmp_path), synthetic_dir_small)
    nets = tr.head.networks
    batch = tr.make_batch(dataset, 0)

    def grads_of(names):
        tr._set_trainable(True, False)
        tr.head.train()
        for p in tr.gen_params:
            p.grad = None
        fw = tr.forward(batch, torch.Generator().manual_seed(0))
        parts = tr.generator_losses(fw, torch.Generator().manual_seed(0))
        sum(parts[n] for n in names).backward()
        return {m: sum(float(p.grad.abs().sum()) for p in getattr(nets, m).parameters() if p.grad is not None)
                for m in ("autoencoder", "mesh_deformer", "mlp_deformer", "unet")}

    image = grads_of(["perceptual", "seg"])
    assert image["unet"] > 0 and image["autoencoder"] > 0  # E_img, and E_tex through the sampled texture
    geom = grads_of(["seg_hair", "seg_neck", "chamfer", "laplacian"])
    assert geom["mesh_deformer"] > 0 and geom["mlp_deformer"] > 0
    assert geom["unet"] == 0  # silhouettes do not depend on E_img
    assert geom["autoencoder"] == 0  # E_geom reads the texture detached, as in ROME


def test_composite_own_and_offset_prior(tmp_path, synthetic_dir_small, dataset):
    w = dict(DEFAULT_LOSS_WEIGHTS, perceptual=0.0, l1=1.0, offset_l2=0.5)
    tr = RomeTrainer(_config(tmp_path, composite="own", loss_weights=w), synthetic_dir_small)
    batch = tr.make_batch(dataset, 0)
    tr.head.train()
    fw = tr.forward(batch, torch.Generator().manual_seed(3))
    b, mask = fw["batch"], fw["render"].mask
    # the target sits on the background by its own matte: where the matte is 1 it is the image itself
    inside = b["target_mask"].expand_as(b["target_image"]) > 0.999
    assert inside.any()
    torch.testing.assert_close(fw["target"][inside], b["target_image"][inside], atol=2e-3, rtol=0)
    # the prediction's photometric term now reaches E_img's mask (it is not detached)
    parts = tr.generator_losses(fw, torch.Generator().manual_seed(3))
    g = torch.autograd.grad(parts["l1"], mask, retain_graph=True)[0]
    assert float(g.abs().sum()) > 0
    # the offset prior is the mean squared offset length over the deformable vertices, in cm^2
    deform = tr.head.deform_mask > 0
    expected = 0.5 * (fw["offsets"][:, deform] * 100).pow(2).sum(-1).mean()
    torch.testing.assert_close(parts["offset_l2"], expected)
    assert float(expected) > 0
    # the release's composite detaches the mask: no photometric gradient reaches it
    tr2 = RomeTrainer(_config(tmp_path, loss_weights=w), synthetic_dir_small)
    fw2 = tr2.forward(batch, torch.Generator().manual_seed(3))
    l1 = tr2.generator_losses(fw2, torch.Generator().manual_seed(3))["l1"]
    assert torch.autograd.grad(l1, fw2["render"].mask, allow_unused=True)[0] is None
    with pytest.raises(InputError, match="composite"):
        _config(tmp_path, composite="target")
    # no offsets, no prior
    tr3 = RomeTrainer(_config(tmp_path, loss_weights=w, offsets=False), synthetic_dir_small)
    assert "offset_l2" not in tr3.generator_losses(tr3.forward(batch), None)


def test_offsets_3d_supervision(tmp_path, synthetic_dir_small, dataset):
    w = dict(DEFAULT_LOSS_WEIGHTS, perceptual=0.0, l1=1.0, offsets_3d=2.0)
    tr = RomeTrainer(_config(tmp_path, loss_weights=w), synthetic_dir_small)
    batch = tr.make_batch(dataset, 0)
    tr.head.train()
    fw = tr.forward(batch, torch.Generator().manual_seed(3))
    # the people folders carry no true offsets: the loss says what it needs
    with pytest.raises(InputError, match="offsets_3d.*source_offsets"):
        tr.generator_losses(fw, torch.Generator().manual_seed(3))
    # truth = prediction shifted by 3 mm on every deformable vertex: the loss is 2 * 0.3 cm
    deform = tr.head.deform_mask > 0
    shift = torch.zeros_like(fw["offsets"])
    shift[:, deform] = torch.tensor([0.0024, 0.0, -0.0018])  # |d| = 3 mm
    fw["batch"]["source_offsets"] = fw["offsets"].detach() + shift
    parts = tr.generator_losses(fw, torch.Generator().manual_seed(3))
    assert float(parts["offsets_3d"]) == pytest.approx(0.6, rel=1e-4)
    # it trains the geometry networks only
    nets = tr.head.networks
    parts["offsets_3d"].backward()
    grad = {m: sum(float(p.grad.abs().sum()) for p in getattr(nets, m).parameters() if p.grad is not None)
            for m in ("mesh_deformer", "mlp_deformer", "unet")}
    assert grad["mesh_deformer"] > 0 and grad["mlp_deformer"] > 0 and grad["unet"] == 0
    # without offsets there is nothing to supervise
    tr2 = RomeTrainer(_config(tmp_path, loss_weights=w, offsets=False), synthetic_dir_small)
    assert "offsets_3d" not in tr2.generator_losses(tr2.forward(batch), None)


def test_lr_geom_gives_the_geometry_networks_their_own_rate(tmp_path, synthetic_dir_small, dataset):
    base = RomeTrainer(_config(tmp_path), synthetic_dir_small)
    assert len(base.opt_g.param_groups) == 1  # the release: one rate for every generator network
    tr = RomeTrainer(_config(tmp_path, lr_g=1e-4, lr_geom=1e-3, warmup_steps=4), synthetic_dir_small)
    nets = tr.head.networks
    g_other, g_geom = tr.opt_g.param_groups
    geom = {id(p) for m in ("mesh_deformer", "mlp_deformer") for p in getattr(nets, m).parameters()}
    assert {id(p) for p in g_geom["params"]} == geom
    assert not geom & {id(p) for p in g_other["params"]}
    assert len(g_other["params"]) + len(g_geom["params"]) == len(tr.gen_params)
    tr.train_step(tr.make_batch(dataset, 0))  # warm-up step 1 of 4 scales both rates by 1/4
    assert g_other["lr"] == pytest.approx(0.25e-4) and g_geom["lr"] == pytest.approx(0.25e-3)
    # a checkpoint resumes with both groups; a run started without lr_geom does not fit this optimiser
    folder = tr.save_checkpoint(tmp_path / "ck")
    again = RomeTrainer(_config(tmp_path, lr_g=1e-4, lr_geom=1e-3, warmup_steps=4), synthetic_dir_small)
    again.resume(folder)
    assert [g["base_lr"] for g in again.opt_g.param_groups] == [1e-4, 1e-3]
    with pytest.raises(CheckpointError, match="lr_geom"):
        RomeTrainer(_config(tmp_path, lr_g=1e-4), synthetic_dir_small).resume(folder)
    with pytest.raises(InputError, match="lr_geom"):
        _config(tmp_path, lr_geom=-1.0)


def test_discriminator_step_updates_only_the_discriminator(tmp_path, synthetic_dir_small, dataset):
    tr = RomeTrainer(_config(tmp_path), synthetic_dir_small)
    before = {k: v.clone() for k, v in tr.head.networks.state_dict().items()}
    # freeze the generator update to see what the discriminator step alone changes
    tr.opt_g.param_groups[0]["lr"] = 0.0
    tr.train_step(tr.make_batch(dataset, 0))
    after = tr.head.networks.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"discriminator"}
    # and the generator step with lr_d = 0 changes the generator networks
    tr2 = RomeTrainer(_config(tmp_path), synthetic_dir_small)
    tr2.opt_d.param_groups[0]["lr"] = 0.0
    before = {k: v.clone() for k, v in tr2.head.networks.state_dict().items()}
    tr2.train_step(tr2.make_batch(dataset, 0))
    changed = {k.split(".")[0] for k, v in tr2.head.networks.state_dict().items() if not torch.equal(before[k], v)}
    assert {"autoencoder", "mesh_deformer", "mlp_deformer", "unet"} <= changed
    # the spectral-norm vectors of D advance in its train-mode pass: nothing else of D may change
    assert all(k.endswith(("weight_u", "weight_v")) for k, v in tr2.head.networks.state_dict().items()
               if k.startswith("discriminator") and not torch.equal(before[k], v))


def test_nan_gradients_skip_the_step(tmp_path, synthetic_dir_small, dataset):
    tr = RomeTrainer(_config(tmp_path, loss_weights={"adversarial": 0, "feature_matching": 0}), synthetic_dir_small)
    before = {k: v.clone() for k, v in tr.head.networks.state_dict().items()}
    tr.head.networks.unet.register_full_backward_hook(lambda m, gi, go: tuple(g * float("nan") if g is not None else g for g in gi))
    values = tr.train_step(tr.make_batch(dataset, 0))
    assert values["skipped"] == 1.0
    assert all(torch.equal(before[k], v) for k, v in tr.head.networks.state_dict().items())


@pytest.mark.slow
def test_total_loss_decreases_when_overfitting(tmp_path, synthetic_dir_small, dataset):
    tr = RomeTrainer(_config(tmp_path, steps=30, lr_g=3e-4), synthetic_dir_small)
    hist = tr.fit(dataset, 30, progress=False)
    totals = [h["total"] for h in hist]
    first, last = sum(totals[:5]) / 5, sum(totals[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    assert (tmp_path / "out" / "step_0000030" / "networks.safetensors").is_file()


@pytest.mark.slow
def test_resume_is_deterministic(tmp_path, synthetic_dir_small, dataset):
    cfg = _config(tmp_path)
    full = RomeTrainer(cfg, synthetic_dir_small)
    ref = full.fit(dataset, 4, progress=False)
    cfg2 = _config(tmp_path, output_dir=str(tmp_path / "out2"))
    part = RomeTrainer(cfg2, synthetic_dir_small)
    first = part.fit(dataset, 2, progress=False)
    ckpt = tmp_path / "out2" / "step_0000002"
    assert (ckpt / "config.json").is_file() and (ckpt / "optimizers.pt").is_file()
    resumed = RomeTrainer.from_checkpoint(ckpt, synthetic_dir_small)
    assert resumed.step == 2
    second = resumed.fit(dataset, 4, progress=False)
    got = first + second
    for a, b in zip(ref, got):
        for k in a:
            assert b[k] == pytest.approx(a[k], abs=1e-6), k
    sa, sb = full.head.networks.state_dict(), resumed.head.networks.state_dict()
    assert max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa) < 1e-6
    with pytest.raises(CheckpointError, match="state.json"):
        resumed.resume(tmp_path)


def test_distributed_world_size_one(tmp_path, synthetic_dir_small, dataset):
    import torch.distributed as dist

    ref = RomeTrainer(_config(tmp_path), synthetic_dir_small)
    expected = ref.train_step(ref.make_batch(dataset, 0))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        tr = RomeTrainer(_config(tmp_path), synthetic_dir_small)
        assert (tr.rank, tr.world) == (0, 1)
        got = tr.train_step(tr.make_batch(dataset, 0))
    finally:
        dist.destroy_process_group()
    assert got["total"] == pytest.approx(expected["total"], abs=1e-6)


def test_config_round_trip_and_errors(tmp_path):
    cfg = _config(tmp_path, loss_weights={"gaze": 0, "chamfer": 0.5}, betas=[0.0, 0.99])
    assert cfg.loss_weights["chamfer"] == 0.5 and cfg.loss_weights["seg_hair"] == DEFAULT_LOSS_WEIGHTS["seg_hair"]
    assert cfg.betas == (0.0, 0.99)
    cfg.save_yaml(tmp_path / "c.yaml")
    assert RomeTrainConfig.from_yaml(tmp_path / "c.yaml") == cfg
    cfg.save_json(tmp_path / "c.json")
    assert RomeTrainConfig.from_json(tmp_path / "c.json") == cfg
    defaults = RomeTrainConfig()
    assert defaults.betas == (0.0, 0.999) and defaults.lr_g == 1e-4 and defaults.lr_d == 4e-4
    assert defaults.loss_weights == DEFAULT_LOSS_WEIGHTS
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: official\nlearning_rate: 3\nbatchsize: 2\n")
    with pytest.raises(InputError, match=r"unknown key\(s\) \['batchsize', 'learning_rate'\]"):
        RomeTrainConfig.from_yaml(bad)
    bad.write_text("loss_weights: {vgg: 1}\n")
    with pytest.raises(InputError, match=r"unknown loss\(es\) \['vgg'\]"):
        RomeTrainConfig.from_yaml(bad)
    bad.write_text("image_size: 70\n")
    with pytest.raises(InputError, match="image_size"):
        RomeTrainConfig.from_yaml(bad)
    bad.write_text("steps: [1\n")
    with pytest.raises(InputError, match="not valid YAML"):
        RomeTrainConfig.from_yaml(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        RomeTrainConfig.from_yaml(bad)


def test_cli_train_rome(tmp_path, synthetic_dir_small):
    cfg = _config(tmp_path, steps=2)
    cfg.save_yaml(tmp_path / "cfg.yaml")
    runner = CliRunner()
    res = runner.invoke(main, ["train", "rome", "--config", str(tmp_path / "cfg.yaml"), "--assets",
                               str(synthetic_dir_small), "--out", str(tmp_path / "cli_out"), "--steps", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cli_out" / "step_0000001" / "networks.safetensors").is_file()
    # --dry-run: the resolved config and the data as JSON, nothing written
    res = runner.invoke(main, ["train", "rome", "--config", str(tmp_path / "cfg.yaml"), "--assets",
                               str(synthetic_dir_small), "--out", str(tmp_path / "dry"), "--steps", "9",
                               "--init-weights", str(tmp_path / "w.safetensors"), "--dry-run"])
    assert res.exit_code == 0, res.output
    import json

    info = json.loads(res.output)
    assert info["config"]["steps"] == 9 and info["config"]["output_dir"] == str(tmp_path / "dry")
    assert info["data"]["class"] == "SyntheticPeopleDataset" and info["data"]["items"] > 0
    assert info["warm_start_from"] == str(tmp_path / "w.safetensors") and info["resume_from"] is None
    assert not (tmp_path / "dry").exists()
    (tmp_path / "bad.yaml").write_text("nope: 1\n")
    res = runner.invoke(main, ["train", "rome", "--config", str(tmp_path / "bad.yaml")])
    assert res.exit_code == 2
    assert "unknown key" in res.output and "Traceback" not in res.output


def test_warm_start_from_a_networks_file(tmp_path, synthetic_dir_small, dataset):
    from rome_smplx.models.rome import save

    donor = RomeTrainer(_config(tmp_path, seed=3), synthetic_dir_small)
    donor.fit(dataset, 1, progress=False)
    file = save(donor.head.networks, tmp_path / "donor.safetensors")
    warm = RomeTrainer(_config(tmp_path, seed=11, init_weights=str(file)), synthetic_dir_small)
    cold = RomeTrainer(_config(tmp_path, seed=11), synthetic_dir_small)
    sd, sw, sc = (t.head.networks.state_dict() for t in (donor, warm, cold))
    assert warm.step == 0
    assert max(float((sd[k].float() - sw[k].float()).abs().max()) for k in sd) == 0.0  # generator and discriminator
    assert max(float((sd[k].float() - sc[k].float()).abs().max()) for k in sd) > 1e-3  # a cold start differs
    with pytest.raises(InputError, match="init_weights"):
        RomeTrainer(_config(tmp_path, init_weights=str(tmp_path / "missing.safetensors")), synthetic_dir_small)
    with pytest.raises(CheckpointError, match="profile"):
        RomeTrainer(_config(tmp_path, image_size=96, init_weights=str(file)), synthetic_dir_small)


def test_bad_samples_are_skipped_and_counted(tmp_path, synthetic_dir_small, dataset):
    """A corrupt frame (reader raises) and NaN codes are skipped for the next sample, counted, saved
    with the checkpoint and restored on resume; a dataset with nothing usable stops with a clear error."""

    class Broken(torch.utils.data.Dataset):
        def __init__(self, base, bad_read=(), bad_nan=()):
            self.base, self.bad_read, self.bad_nan = base, set(bad_read), set(bad_nan)

        def __len__(self):
            return 6  # the base repeated

        def __getitem__(self, i):
            if i in self.bad_read:
                raise InputError(f"frame_{i:03d}.png: not a PNG file")
            item = dict(self.base[i % len(self.base)])
            if i in self.bad_nan:
                item["target_exp"] = torch.full_like(item["target_exp"], float("nan"))
            return item

    n = 6
    broken = Broken(dataset, bad_read=range(0, n, 2), bad_nan=[1])
    trainer = RomeTrainer(_config(tmp_path, batch_size=3), synthetic_dir_small)
    for step in range(3):
        batch = trainer.make_batch(broken, step)
        assert batch["target_exp"].shape[0] == 3
        assert all(bool(torch.isfinite(v).all()) for v in batch.values() if v.is_floating_point())
    skipped = dict(trainer.skipped_samples)
    assert skipped.get("unreadable", 0) >= 3 and skipped.get("non-finite", 0) >= 1, skipped
    folder = trainer.save_checkpoint()
    resumed = RomeTrainer(_config(tmp_path, batch_size=3), synthetic_dir_small).resume(folder)
    assert resumed.skipped_samples == skipped
    with pytest.raises(InputError, match="no usable sample"):
        RomeTrainer(_config(tmp_path, output_dir=str(tmp_path / "o2")), synthetic_dir_small).make_batch(
            Broken(dataset, bad_read=range(n)), 0)
