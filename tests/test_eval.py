"""`rome_smplx.evaluation` and `rome-smplx eval`: analytic cases of the protocol (known noise gives a
known PSNR, identical images SSIM 1 and PSNR inf, a shifted plane a known Chamfer), the report files,
the refusal of random backbones, and the command's exit codes."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from rome_smplx import evaluation as E
from rome_smplx.cli import main
from rome_smplx.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------ stubs
class NoisyHead:
    """Reconstructs nothing; renders the source image plus Gaussian noise of ``sigma`` (mask all ones)."""

    def __init__(self, sigma: float, seed: int = 0, faces=None, shift=0.0):
        self.sigma, self.gen = sigma, torch.Generator().manual_seed(seed)
        self.faces, self.shift = faces, shift

    def reconstruct(self, image, mask, flame):
        verts = None if getattr(self, "verts", None) is None else self.verts + torch.tensor([0.0, 0.0, self.shift])
        return SimpleNamespace(image=image, vertices=verts)

    def render(self, recon, flame):
        noise = torch.randn(recon.image.shape, generator=self.gen) * self.sigma
        return SimpleNamespace(image=recon.image + noise, mask=torch.ones_like(recon.image[:, :1]))


def _batch(n: int = 2, size: int = 48, value: float = 0.5) -> dict:
    img = torch.full((n, 3, size, size), value)
    ones = torch.ones(n, 1, size, size)
    region = torch.zeros(n, 1, size, size)
    region[..., 8:40, 8:40] = 1
    codes = {}
    for side in ("source", "target"):
        codes.update({f"{side}_shape": torch.zeros(n, 100), f"{side}_exp": torch.zeros(n, 50),
                      f"{side}_pose": torch.zeros(n, 6), f"{side}_cam": torch.tensor([[8.0, 0.0, 0.0]] * n)})
    return {"source_image": img, "source_mask": ones, "target_image": img.clone(), "target_mask": ones,
            "target_hair_mask": region, "has_parsing": torch.ones(n), **codes}


def _source(batches, meshes=None, mode="self") -> E.PairSource:
    return E.PairSource(description="stub", mode=mode, batches=lambda: iter(batches),
                        total=sum(b["source_image"].shape[0] for b in batches), meshes=meshes)


# ------------------------------------------------------------------------------------ analytic
@pytest.mark.parametrize("sigma", [0.01, 0.04])
def test_known_noise_gives_known_psnr_through_evaluate(sigma):
    report = E.evaluate({"noisy": NoisyHead(sigma)}, _source([_batch(2), _batch(2)]), metrics=("psnr",),
                        progress=False)
    expected = -20 * math.log10(sigma)
    assert report.pairs == 4
    assert len(report.per_image["noisy"]["psnr"]) == 4
    assert abs(report.results["noisy"]["psnr"] - expected) < 0.2
    # the mean is over per-image values, not the pooled error
    assert report.results["noisy"]["psnr"] == pytest.approx(sum(report.per_image["noisy"]["psnr"]) / 4)


def test_score_images_region_only_counts_the_mask():
    b = _batch(1)
    pred = b["target_image"].clone()
    pred[..., :4, :] = 0.0  # outside the region: must not count
    gen = torch.Generator().manual_seed(3)
    pred[..., 8:40, 8:40] += 0.02 * torch.randn(pred[..., 8:40, 8:40].shape, generator=gen)
    vals = E.score_images(pred, b["target_image"], b["target_hair_mask"], ("psnr", "ssim"))
    assert abs(vals["psnr"][0] - (-20 * math.log10(0.02))) < 0.2


def test_identical_images_give_ssim_one_and_psnr_inf():
    report = E.evaluate({"exact": NoisyHead(0.0)}, _source([_batch(2)]), metrics=("psnr", "ssim"), progress=False)
    assert report.results["exact"]["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert math.isinf(report.results["exact"]["psnr"]) and report.results["exact"]["psnr"] > 0
    assert any("inf" in n for n in report.notes)
    d = report.to_dict()
    assert d["results"]["exact"]["psnr"] == "inf"
    json.dumps(d, allow_nan=False)  # strict JSON
    assert "| exact | inf |" in E.render_markdown(report)


def test_mean_of():
    assert E.mean_of([]) is None
    assert E.mean_of([1.0, 2.0, 3.0]) == 2.0
    assert E.mean_of([1.0, math.inf]) == math.inf


def _plane(n: int = 6, extent: float = 0.2):
    xs = torch.linspace(-extent, extent, n)
    gy, gx = torch.meshgrid(xs, xs, indexing="ij")
    verts = torch.stack([gx, gy, torch.zeros_like(gx)], -1).reshape(-1, 3)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            faces += [[a, b, d], [a, d, c]]
    return verts, torch.tensor(faces)


def test_shifted_mesh_gives_known_chamfer():
    verts, faces = _plane()
    d = 0.004  # metres, along the plane's normal: every surface point is d from the other plane
    head = NoisyHead(0.01, faces=faces, shift=d)
    head.verts = verts[None]
    meshes = lambda: iter([{"image": torch.full((1, 3, 48, 48), 0.5), "mask": torch.ones(1, 1, 48, 48),
                            "flame": None, "vertices": verts[None], "seed": 0}])
    report = E.evaluate({"shifted": head}, _source([_batch(1)], meshes=meshes), metrics=("psnr", "chamfer"),
                        chamfer_samples=200, flame_reference=False, progress=False)
    assert report.results["shifted"]["chamfer"] == pytest.approx(d * 1000, rel=1e-4)
    md = E.render_markdown(report)
    assert "CHAMFER (mm)" in md


def test_chamfer_without_truth_is_skipped_with_a_note():
    report = E.evaluate({"n": NoisyHead(0.01)}, _source([_batch(1)]), metrics=("psnr", "chamfer"), progress=False)
    assert report.results["n"]["chamfer"] is None
    assert any("Chamfer skipped" in n for n in report.notes)


# ------------------------------------------------------------------------------------ report
def test_report_files_are_written_and_consistent(tmp_path):
    report = E.evaluate({"a": NoisyHead(0.02), "b": NoisyHead(0.05, seed=1)}, _source([_batch(2)]),
                        metrics=("psnr", "ssim"), progress=False, settings={"weights": "stub"})
    out = E.write_report(report, tmp_path / "rep")
    data = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    assert data["pairs"] == 2 and data["mode"] == "self" and data["averaging"] == E.AVERAGING
    assert "per-image means over the face+hair mask" in md and "not a dataset-level PSNR" in md
    assert "pairs: 2" in md and "self-driving" in md
    for model in ("a", "b"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {model} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) == pytest.approx(data["results"][model]["psnr"], abs=1e-3)
        assert float(cells[2]) == pytest.approx(data["results"][model]["ssim"], abs=1e-4)
    assert data["results"]["a"]["psnr"] > data["results"]["b"]["psnr"]
    assert "RANDOM" not in md


def test_lpips_refuses_without_weights_unless_allowed():
    with pytest.raises(InputError, match="lpips.*--allow-random-backbones"):
        E.load_backbones(("psnr", "lpips"))
    with pytest.raises(InputError, match="csim.*--allow-random-backbones"):
        E.load_backbones(("csim",))
    net, embed, random_used = E.load_backbones(("lpips", "csim"), allow_random=True)
    assert random_used == ["lpips", "csim"]
    with pytest.raises(InputError):
        E.evaluate({"n": NoisyHead(0.01)}, _source([_batch(1)]), metrics=("lpips",), progress=False)
    report = E.evaluate({"n": NoisyHead(0.01)}, _source([_batch(1, size=64)]), metrics=("psnr", "lpips", "csim"),
                        lpips_net=net, csim_embed=embed, random_backbones=random_used, progress=False)
    assert report.results["n"]["lpips"] >= 0 and -1 <= report.results["n"]["csim"] <= 1
    header = E.render_markdown(report).split("| model |")[0]
    assert "RANDOM" in header and "LPIPS" in header and "CSIM" in header and "NOT real" in header
    assert report.to_dict()["random_backbones"] == ["lpips", "csim"]


class ShiftedHead:
    """Renders the target exactly, but its mask is the target's shifted right by ``dx`` pixels and its
    image is grey (0.5) outside the head: a correct texture on a misplaced silhouette."""

    def __init__(self, target_image, target_mask, dx: int):
        self.img, self.mask, self.dx = target_image, target_mask, dx

    def reconstruct(self, image, mask, flame):
        return SimpleNamespace()

    def render(self, recon, flame):
        m = torch.roll(self.mask, self.dx, dims=-1)
        return SimpleNamespace(image=self.img * self.mask + 0.5 * (1 - self.mask), mask=m)


def test_composite_predicted_is_blind_to_the_silhouette_and_mask_dice_is_not():
    n, S = 2, 48
    b = _batch(n, S, value=0.2)  # dark head on a white composite
    head_mask = torch.zeros(n, 1, S, S)
    head_mask[..., 12:36, 12:36] = 1  # a 24 x 24 square head
    b["target_mask"] = head_mask
    b["target_hair_mask"] = head_mask.clone()
    dx = 3
    heads = {"shifted": ShiftedHead(b["target_image"], head_mask, dx)}
    own = E.evaluate(heads, _source([b]), metrics=("psnr", "mask_dice"), progress=False)
    pred = E.evaluate(heads, _source([b]), metrics=("psnr", "mask_dice"), progress=False, composite="predicted")
    # own: the 3 x 24 strip the shifted mask leaves uncovered is white against 0.2 -> MSE 0.64 * 72 / 576,
    # and the 3 x 24 strip outside the target region is not counted
    expected = -10 * math.log10(0.64 * 72 / 576)
    assert own.results["shifted"]["psnr"] == pytest.approx(expected, abs=1e-3)
    # predicted: both images sit on the same (wrong) mask, so the silhouette error vanishes
    assert math.isinf(pred.results["shifted"]["psnr"])
    # Dice of two 24 x 24 squares overlapping on 21 x 24, the same under either compositing
    assert own.results["shifted"]["mask_dice"] == pytest.approx(2 * 21 / 48, rel=1e-6)
    assert pred.results["shifted"]["mask_dice"] == pytest.approx(2 * 21 / 48, rel=1e-6)
    assert pred.settings["composite"] == "predicted" and own.settings["composite"] == "own"
    assert "rendered mask, as the release" in E.render_markdown(pred)
    with pytest.raises(InputError, match="composite"):
        E.evaluate(heads, _source([b]), metrics=("psnr",), progress=False, composite="target")


def test_mask_dice_values():
    a = torch.zeros(3, 1, 4, 4)
    a[0, :, :2] = 1
    c = a.clone()
    c[0] = 1 - a[0]  # disjoint halves
    c[1, :, 0, 0] = 1  # one mask empty, the other not
    assert E.mask_dice(a, a).tolist() == [1.0, 1.0, 1.0]  # identical (and both empty: 1)
    assert E.mask_dice(a, c).tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(InputError, match="target_mask"):
        E.mask_dice(a, torch.zeros(3, 1, 4, 5))


def test_parse_metrics():
    assert E.parse_metrics("ssim, psnr,psnr") == ("psnr", "ssim")
    with pytest.raises(InputError, match="--metrics"):
        E.parse_metrics("psnr,fid")


# ------------------------------------------------------------------------------------ command
def test_cli_synthetic_tiny_run(tmp_path, synthetic_dir):
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["eval", "--synthetic", "0:1", "--mode", "self", "--metrics", "psnr,ssim",
                                  "--pairs-per-subject", "1", "--assets", str(synthetic_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "report.json").read_text())
    assert data["pairs"] == 1 and set(data["results"]) == {"rome"}
    assert 0 < data["results"]["rome"]["psnr"] < 100 and -1 <= data["results"]["rome"]["ssim"] <= 1
    assert "| rome |" in (out / "report.md").read_text()
    assert data["settings"]["weights"].endswith("weights")  # the shipped weights are the default


def test_folder_pairs_self_and_cross(tmp_path, synthetic_dir):
    import rome_smplx as rs
    from rome_smplx.assets.synthetic.video import write_video

    videos = write_video(tmp_path / "videos", rs.Assets.from_dir(synthetic_dir), range(0, 2), 2, 32,
                         tracking_noise=0.0)
    src = E.folder_pairs(videos, mode="self", image_size=32, pairs_per_subject=1)
    report = E.evaluate({"n": NoisyHead(0.03)}, src, metrics=("psnr",), progress=False)
    assert report.pairs == 2 and report.results["n"]["psnr"] > 0
    embed = E.load_backbones(("csim",), allow_random=True)[1]
    cross = E.evaluate({"n": NoisyHead(0.03)}, E.folder_pairs(videos, mode="cross", image_size=32,
                                                                pairs_per_subject=1),
                       metrics=("psnr", "csim"), csim_embed=embed, random_backbones=["csim"], progress=False)
    assert cross.results["n"]["psnr"] is None and cross.results["n"]["csim"] is not None
    assert any("no true target" in n for n in cross.notes)


@pytest.mark.parametrize("value", ["3:1", "a:b", "5", "-1:2"])
def test_cli_bad_synthetic_range(tmp_path, value):
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["eval", "--synthetic", value, "--mode", "self", "--out", str(out)])
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --synthetic"), r.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_lpips_without_weights_refused(tmp_path):
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["eval", "--synthetic", "0:1", "--mode", "self", "--metrics", "psnr,lpips",
                                  "--out", str(out)])
    assert r.exit_code == 2 and "error: lpips" in r.output and "--allow-random-backbones" in r.output
    assert not out.exists()
