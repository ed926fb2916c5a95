"""Linear distillation: PCA basis, projection, regressor training, checkpoints and release-format export."""

from __future__ import annotations

import pytest
import torch
from rome_smplx.trainers.distill import (
    LinearDistillConfig,
    LinearDistiller,
    fit_pca_basis,
    load_checkpoint,
    load_people,
    project_coefficients,
    teacher_coefficients,
)

import rome_smplx as rs
from rome_smplx.errors import CheckpointError, InputError
from rome_smplx.models.flame import FlameModel
from rome_smplx.models.rome import load_linear_regressor

SIZE = 32  # regressor input in these tests (ROME: 256)
PEOPLE = 6


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Six synthetic people on a small head (1800 vertices, not FLAME's count)."""
    from rome_smplx.assets.synthetic import write_synthetic_assets

    return write_synthetic_assets(tmp_path_factory.mktemp("distill") / "assets", seed=3, head_vertices=1800,
                                  people=PEOPLE)


@pytest.fixture(scope="module")
def assets(folder):
    return rs.Assets.from_dir(folder)


@pytest.fixture(scope="module")
def rome(assets):
    return assets.rome_data()


def _principal_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between the column spaces of a and b (orthonormal columns)."""
    return torch.linalg.svdvals(a.double().T @ b.double())


def _synthetic_offsets(rome, m: int, seed: int, noise: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    K = rome.basis.shape[1]
    sig = torch.cat([0.5 / (1 + torch.arange(50.0) / 3), 0.3 / (1 + torch.arange(K - 50.0) / 2)])
    coeffs = torch.randn(m, K, generator=g, dtype=torch.float64) * sig.double()
    N = rome.mean_deform.shape[0]
    off = (coeffs @ rome.basis.double().T).view(m, N, 3) + rome.mean_deform.double()
    if noise:
        deform = (rome.mean_deform.abs().sum(-1) > 0).double()[None, :, None]
        off = off + noise * torch.randn(off.shape, generator=g, dtype=torch.float64) * deform
    return off, coeffs, sig


# ------------------------------------------------------------------------------------ basis
def test_fit_recovers_the_true_subspace_with_exact_supports(rome):
    off, _, _ = _synthetic_offsets(rome, 200, seed=0)
    basis, mean = fit_pca_basis(off, rome.hair_list, rome.neck_list)
    N = rome.mean_deform.shape[0]
    assert basis.shape == rome.basis.shape and basis.dtype == torch.float32
    # orthonormal columns
    assert torch.allclose(basis.double().T @ basis.double(), torch.eye(60, dtype=torch.float64), atol=1e-5)
    # the hair block spans the true hair block, the neck block the true neck block (all angles ~ 0)
    assert torch.allclose(_principal_cosines(basis[:, :50], rome.basis[:, :50]), torch.ones(50, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(_principal_cosines(basis[:, 50:], rome.basis[:, 50:]), torch.ones(10, dtype=torch.float64), atol=1e-5)
    # exact supports: hair columns are zero outside hair_list, neck columns outside neck_list
    b = basis.view(N, 3, 60)
    outside_hair = torch.ones(N, dtype=torch.bool)
    outside_hair[rome.hair_list] = False
    outside_neck = torch.ones(N, dtype=torch.bool)
    outside_neck[rome.neck_list] = False
    assert bool((b[outside_hair][:, :, :50] == 0).all()) and bool((b[outside_neck][:, :, 50:] == 0).all())
    # mean: the sample mean on the deformable set, exactly zero elsewhere
    support = ~(outside_hair & outside_neck)
    assert torch.allclose(mean[support].double(), off.mean(0)[support], atol=1e-6)
    assert bool((mean[~support] == 0).all())


def test_noisy_fit_orders_the_explained_variance(rome):
    off, coeffs, _ = _synthetic_offsets(rome, 400, seed=1, noise=1e-3)
    basis, _, var = fit_pca_basis(off, rome.hair_list, rome.neck_list, return_variance=True)
    assert bool((var[:49] >= var[1:50]).all()) and bool((var[50:59] >= var[51:60]).all())
    # the leading hair direction is the highest-variance true direction; its variance matches the data's
    cos = (basis[:, 0].double() @ rome.basis[:, 0].double()).abs()
    assert cos.item() > 0.95
    assert var[0].item() == pytest.approx(coeffs[:, 0].var().item(), rel=0.1)
    # the subspaces are still recovered up to the noise level
    assert _principal_cosines(basis[:, :50], rome.basis[:, :50]).min().item() > 0.95
    # deform_mask removes vertices from the supports and from the mean
    deform = rome.mean_deform.abs().sum(-1) > 0
    b2, m2 = fit_pca_basis(off, rome.hair_list, rome.neck_list, deform_mask=deform)
    assert bool((b2.view(-1, 3, 60)[~deform] == 0).all()) and bool((m2[~deform] == 0).all())


def test_fit_errors(rome):
    off, _, _ = _synthetic_offsets(rome, 20, seed=2)
    with pytest.raises(InputError, match="at least 50 offset sets"):
        fit_pca_basis(off, rome.hair_list, rome.neck_list)
    with pytest.raises(InputError, match="share"):
        fit_pca_basis(off, rome.hair_list, rome.hair_list[:5], num_hair=4, num_neck=2)
    with pytest.raises(InputError, match=r"\(M, N, 3\)"):
        fit_pca_basis(off[0], rome.hair_list, rome.neck_list)
    with pytest.raises(InputError, match="indexes vertex"):
        fit_pca_basis(off, torch.tensor([off.shape[1]]), rome.neck_list, num_hair=1, num_neck=1)


def test_projection_round_trip(rome):
    off, coeffs, _ = _synthetic_offsets(rome, 5, seed=3)
    eta = project_coefficients(off, rome.basis, rome.mean_deform)
    assert torch.allclose(eta, coeffs, atol=1e-5)
    assert torch.allclose(project_coefficients(off[0], rome.basis, rome.mean_deform), eta[0])
    # the (F^T F)^-1 factor: a non-orthonormal basis (scaled, sheared columns) is inverted too
    g = torch.Generator().manual_seed(4)
    mix = torch.eye(60, dtype=torch.float64) + 0.3 * torch.randn(60, 60, generator=g, dtype=torch.float64)
    F2 = rome.basis.double() @ mix
    off2 = (coeffs @ F2.T).view(5, -1, 3) + rome.mean_deform.double()
    assert torch.allclose(project_coefficients(off2, F2, rome.mean_deform), coeffs, atol=1e-8)
    # residual of an out-of-span offset is orthogonal to the basis
    noisy = off + 0.01 * torch.randn(off.shape, generator=g, dtype=torch.float64)
    e = project_coefficients(noisy, rome.basis, rome.mean_deform)
    r = (noisy - rome.mean_deform.double()).reshape(5, -1) - e @ rome.basis.double().T
    assert (r @ rome.basis.double()).abs().max().item() < 1e-8
    with pytest.raises(InputError, match="basis must be"):
        project_coefficients(off, rome.basis[:-3], rome.mean_deform)


# ------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def trained(folder, assets, rome):
    data, has_truth = load_people(folder, SIZE)
    assert has_truth and len(data) == PEOPLE
    torch.manual_seed(0)
    cfg = LinearDistillConfig(steps=12, batch_size=PEOPLE, image_size=SIZE, lr=3e-5, seed=0, log_every=0,
                              chamfer_points=400)
    dist = LinearDistiller(cfg, data, rome.basis, rome.mean_deform, flame=FlameModel.from_assets(assets), faces=rome.faces)
    dist.baseline = dist.evaluate()
    for _ in range(cfg.steps):
        dist.train_step()
    dist.recalibrate_batchnorm()
    return dist


def test_regressor_coefficient_mse_decreases(trained, folder):
    mse = [h["coeffs"] for h in trained.history]
    first, last = sum(mse[:5]) / 5, sum(mse[-5:]) / 5
    assert last < 0.6 * first
    # with recalibrated BatchNorm statistics the eval-mode (exported) regressor has learnt it too
    after = trained.evaluate()
    assert after["coeff_mse"] < 0.6 * trained.baseline["coeff_mse"]
    assert after["offset_error"] < trained.baseline["offset_error"]
    # the targets are the synthetic truth
    import numpy as np

    with np.load(folder / "people" / "person_002" / "truth.npz") as z:
        assert torch.allclose(trained.data.targets[2], torch.as_tensor(z["hair_coeffs"], dtype=torch.float32))
    assert all(np.isfinite(h["chamfer"]) and h["chamfer"] >= 0 for h in trained.history)


def test_chamfer_term_is_zero_for_a_perfect_cover(trained):
    """The 2D Chamfer between projected vertices and the same points sampled as 'matte pixels' is 0,
    and the projected true head lies on its own matte."""
    idx = torch.arange(2)
    ndc = trained._projected(idx, trained.data.targets[idx])
    # vertices of the true head project inside the matte (most of them on foreground pixels)
    H = trained.data.masks.shape[-1]
    pix = ((ndc[..., :2] + 1) * H / 2).long().clamp(0, H - 1)
    def inside(p):
        return (trained.data.masks[idx, 0][torch.arange(2)[:, None], p[..., 1], p[..., 0]] > 0).float().mean().item()

    assert inside(pix) > 0.9
    assert inside((pix + H // 3).clamp(0, H - 1)) < inside(pix) - 0.2  # a shifted camera misses the matte
    from rome_smplx.metrics import chamfer_distance

    assert chamfer_distance(ndc[..., :2], ndc[..., :2].flip(1)).abs().max().item() < 1e-9


def test_export_loads_as_linear_hair_and_into_head_avatar(trained, assets, folder, tmp_path):
    from rome_smplx.io.images import load_image, load_mask

    files = trained.export_linear_hair(tmp_path / "rome" / "linear_hair.pth")
    state = torch.load(files["linear_hair"], weights_only=True)
    assert isinstance(state, dict) and "fc.weight" in state and "layer4.2.bn3.running_var" in state
    assert tuple(state["fc.weight"].shape) == (60, 2048)
    basis = torch.load(files["u_full"], weights_only=True)
    mean = torch.load(files["mean_deform"], weights_only=True)
    assert torch.equal(basis, trained.basis) and torch.equal(mean, trained.mean)
    loaded = load_linear_regressor(files["linear_hair"])
    trained.regressor.eval()
    x = trained.data.images[:2]
    with torch.no_grad():
        assert torch.allclose(loaded(x), trained.regressor(x), atol=1e-6)
    head = rs.HeadAvatar.from_assets(assets, variant="linear", linear_weights=str(files["linear_hair"]), size="small",
                                     image_size=SIZE, backend="torch")
    from rome_smplx.bridges import deca

    p = folder / "people" / "person_001"
    with torch.no_grad():
        recon = head.reconstruct(load_image(p / "photo_256.png"), load_mask(p / "mask_256.png"),
                                 deca.load(p / "person_001_deca.pkl"))
        expect = trained.regressor(trained.data.images[1:2])
    assert torch.allclose(recon.hair_coeffs, expect, atol=1e-5)
    assert torch.allclose(recon.offsets, trained.offsets(expect), atol=1e-5)


def test_checkpoint_round_trip(trained, tmp_path):
    trained.save_checkpoint(tmp_path / "ckpt")
    reg, basis, mean, meta = load_checkpoint(tmp_path / "ckpt")
    assert meta["step"] == 12 and meta["config"]["lr"] == pytest.approx(3e-5) and len(meta["history"]) == 12
    assert torch.equal(basis, trained.basis) and torch.equal(mean, trained.mean)
    trained.regressor.eval()
    with torch.no_grad():
        assert torch.equal(reg(trained.data.images[:2]), trained.regressor(trained.data.images[:2]))
    (tmp_path / "ckpt" / "distill.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="no distill.json"):
        load_checkpoint(tmp_path)


def test_silhouette_term_gives_gradients(folder, assets, rome):
    data, _ = load_people(folder, 32, limit=2)
    cfg = LinearDistillConfig(steps=1, batch_size=2, image_size=32, w_silhouette=1.0, w_chamfer=0.01)
    dist = LinearDistiller(cfg, data, rome.basis, rome.mean_deform, flame=FlameModel.from_assets(assets), faces=rome.faces)
    terms = dist.losses(torch.arange(2))
    assert 0 < terms["silhouette"].item() < 1
    terms["total"].backward()
    assert dist.regressor.fc.weight.grad.abs().sum().item() > 0


# ------------------------------------------------------------------------------------ teacher, config, CLI
def test_full_teacher_targets_and_fitted_basis(folder, assets, rome):
    M = 4
    data, _ = load_people(folder, SIZE, limit=M)
    head = rs.HeadAvatar.from_assets(assets, "full", size="small", image_size=SIZE, backend="torch")
    eta, offsets = teacher_coefficients(head, data, rome.basis, rome.mean_deform, chunk=3)
    assert eta.shape == (M, 60) and offsets.shape == (M, rome.mean_deform.shape[0], 3)
    with torch.no_grad():
        ref = head.reconstruct(data.images[3:4], data.masks[3:4], data.flame.index(slice(3, 4))).offsets
    assert torch.allclose(offsets[3:4], ref, atol=1e-4)
    # the targets are the least-squares coefficients of the teacher's offsets
    r = (offsets - rome.mean_deform).reshape(M, -1) - eta @ rome.basis.T
    assert (r @ rome.basis).abs().max().item() < 1e-5
    # a basis fitted on the teacher reproduces its offsets exactly when it has enough components
    deform = rome.mean_deform.abs().sum(-1) > 0
    basis, mean = fit_pca_basis(offsets, rome.hair_list, rome.neck_list, num_hair=4, num_neck=4, deform_mask=deform)
    e = project_coefficients(offsets, basis, mean)
    rec = (e @ basis.T).view_as(offsets) + mean
    assert torch.allclose(rec[:, deform], offsets[:, deform], atol=1e-5)


def test_config_from_yaml(tmp_path):
    p = tmp_path / "cfg.yaml"
    p.write_text("linear:\n  steps: 3\n  lr: 0.001\n  batch_size: 2\n  betas: [0.5, 0.9]\n")
    cfg = LinearDistillConfig.from_yaml(p)
    assert (cfg.steps, cfg.lr, cfg.batch_size, cfg.betas) == (3, 0.001, 2, (0.5, 0.9))
    assert (cfg.w_coeffs, cfg.w_chamfer, cfg.w_silhouette) == (1.0, 0.01, 0.0)
    p.write_text("steps: 3\nlearning_rate: 0.1\n")
    with pytest.raises(InputError, match="learning_rate"):
        LinearDistillConfig.from_yaml(p)
    with pytest.raises(InputError, match="teacher"):
        LinearDistillConfig(teacher="oracle")
    with pytest.raises(InputError, match="'fit' needs teacher 'full'"):
        LinearDistillConfig(basis="fit")


def test_cli_train_linear_with_full_teacher_and_fitted_basis(folder, tmp_path):
    from click.testing import CliRunner

    from rome_smplx.cli import main

    p = tmp_path / "cfg.yaml"
    p.write_text(f"assets: {folder}\nlimit: 2\nteacher: full\nteacher_size: small\nbasis: fit\nnum_hair: 2\n"
                 f"num_neck: 1\nsteps: 5\nbatch_size: 2\nimage_size: 32\nout: {tmp_path / 'ignored'}\n")
    res = CliRunner().invoke(main, ["train", "linear", "--config", str(p), "--steps", "2", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "trained 2 steps" in res.output
    export = tmp_path / "run" / "export"
    basis = torch.load(export / "u_full.pt", weights_only=True)
    assert basis.shape[1] == 3
    assert torch.allclose(basis.T @ basis, torch.eye(3), atol=1e-5)
    assert load_linear_regressor(export / "linear_hair.pth").fc.out_features == 3
    _, _, _, meta = load_checkpoint(tmp_path / "run" / "final")
    assert meta["step"] == 2 and meta["config"]["basis"] == "fit"
    assert not (tmp_path / "ignored").exists()
    # a bad setting is one clear message and exit code 2
    p.write_text("stepz: 3\n")
    res = CliRunner().invoke(main, ["train", "linear", "--config", str(p)])
    assert res.exit_code == 2 and "stepz" in res.output
