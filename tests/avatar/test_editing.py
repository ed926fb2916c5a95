"""Hair editing with the linear model: component edits, transfer, order statistics, the Fig. 6 grid."""

from __future__ import annotations

import json
import logging

import pytest
import torch

import rome_smplx as rs
from rome_smplx.assets.synthetic.video import SyntheticSubject
from rome_smplx.avatar import editing as E
from rome_smplx.errors import InputError


@pytest.fixture(scope="module")
def world(synthetic_dir):
    torch.manual_seed(0)
    assets = rs.Assets.from_dir(synthetic_dir)
    head = rs.HeadAvatar.from_assets(assets, "linear", backend="torch")
    frames = []
    for seed in (3, 11):  # two held-out subjects
        subj = SyntheticSubject.from_seed(seed, assets)
        frames.append(subj.render(subj.walk(1)[0], head.image_size, tracking_noise=0.5, frame_ids=[0]))
    with torch.no_grad():
        recons = [head.reconstruct(f.image[None], f.matte[None], f.tracked) for f in frames]
    stats = E.HairStats.from_dataset(head, E._video_images(assets, range(10_000, 10_012), head.image_size), assets,
                                     batch_size=5, source="test")
    data = assets.rome_data()
    return {"assets": assets, "head": head, "recons": recons, "stats": stats, "data": data, "frames": frames}


def _vertex_mask(n: int, idx) -> torch.Tensor:
    m = torch.zeros(n, dtype=torch.bool)
    m[torch.as_tensor(idx, dtype=torch.long)] = True
    return m


def test_components_are_hair_then_neck(world):
    kinds = world["stats"].kinds
    assert kinds == E.component_kinds(world["head"].basis, world["data"].hair_list, world["data"].neck_list)
    assert kinds.count("hair") + kinds.count("neck") == len(kinds)  # no mixed component
    assert list(kinds) == sorted(kinds, key=lambda k: k != "hair")  # hair block first
    assert world["stats"].count == 12


def test_moving_one_hair_component_changes_only_hair_vertices(world):
    head, recon, stats = world["head"], world["recons"][0], world["stats"]
    n = head.flame.num_vertices
    hair = _vertex_mask(n, world["data"].hair_list)
    for k in stats.components("hair")[:3]:
        edited = E.edit_hair(head, recon, k, value=float(recon.hair_coeffs[0, k]) + 0.5)
        moved = (edited.vertices - recon.vertices).norm(dim=-1)[0]
        assert float(moved[hair].max()) > 1e-3  # it does move the hair ...
        assert float(moved[~hair].abs().max()) == 0.0  # ... and nothing else
        # only coefficient k changed, the input is untouched
        diff = (edited.hair_coeffs - recon.hair_coeffs)[0]
        assert torch.count_nonzero(diff) == 1 and abs(float(diff[k]) - 0.5) < 1e-6
        assert torch.equal(edited.texture, recon.texture) and edited.flame is recon.flame


def test_transfer_keeps_the_target_neck_and_takes_the_source_hair(world):
    head, (src, tgt) = world["head"], world["recons"]
    n = head.flame.num_vertices
    hair = _vertex_mask(n, world["data"].hair_list)
    neck = _vertex_mask(n, world["data"].neck_list)
    # a source whose hair differs from the target's by construction (the model's own spread may be small)
    k = world["stats"].components("hair")[0]
    src = E.edit_hair(head, src, k, value=float(src.hair_coeffs[0, k]) + 0.5)
    out = E.transfer_hair(head, src, tgt, world["stats"])
    assert float((out.offsets - tgt.offsets)[0, neck].abs().max()) < 1e-6
    assert float((out.offsets - src.offsets)[0, hair].abs().max()) < 1e-6
    assert float((src.offsets - tgt.offsets)[0, hair].abs().max()) > 1e-3  # the two hairstyles differed
    # the target's own head: vertices = its FLAME mesh + the new offsets
    assert torch.allclose(out.vertices - out.offsets, tgt.vertices - tgt.offsets, atol=1e-6)


def test_quantile_edits_are_monotone_along_the_component(world):
    head, recon, stats = world["head"], world["recons"][0], world["stats"]
    n = head.flame.num_vertices
    for k in stats.components("hair")[:3] + stats.components("neck")[:1]:
        u = head.basis[:, k]
        proj = []
        for q in E.FIG6_QUANTILES:
            off = E.edit_hair(head, recon, k, quantile=q, stats=stats).offsets
            proj.append(float(u @ (off[0] - head.mean_deform).reshape(3 * n)))
        assert all(b > a for a, b in zip(proj, proj[1:])), (k, proj)


def test_edit_then_project_recovers_the_coefficients(world):
    head, recon, stats = world["head"], world["recons"][1], world["stats"]
    edited = recon
    for k, q in ((0, 0.9), (2, 0.1), (stats.components("neck")[0], 1.0)):
        edited = E.edit_hair(head, edited, k, quantile=q, stats=stats)
    eta = E.project_offsets(edited.offsets, head.basis, head.mean_deform)
    assert torch.allclose(eta, edited.hair_coeffs, atol=1e-5)
    assert abs(float(edited.hair_coeffs[0, 0]) - stats.quantile(0, 0.9)) < 1e-7


def test_order_statistics_match_the_data():
    torch.manual_seed(3)
    c = torch.randn(37, 4, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    st = E.HairStats.from_coefficients(c, ["hair", "hair", "hair", "neck"])
    for k in range(4):
        assert st.quantile(k, 0.0) == pytest.approx(float(c[:, k].min()), abs=1e-12)
        assert st.quantile(k, 1.0) == pytest.approx(float(c[:, k].max()), abs=1e-12)
        for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.333):
            ref = float(torch.quantile(c[:, k], q))
            # exact on the stored percent levels, linear between them
            tol = 1e-12 if abs(q * 100 - round(q * 100)) < 1e-9 else 0.02 * float(c[:, k].std())
            assert st.quantile(k, q) == pytest.approx(ref, abs=tol)
    assert st.components("neck") == [3]


def test_stats_file_round_trip_and_bad_files(world, tmp_path):
    st = world["stats"]
    p = st.save(tmp_path / "stats.json")
    back = E.HairStats.load(p)
    assert back.kinds == st.kinds and back.count == st.count and back.fingerprint == st.fingerprint
    assert torch.allclose(back.values, st.values, rtol=1e-6, atol=1e-9)
    assert p.stat().st_size < 100_000
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="bad.json.*format"):
        E.HairStats.load(bad)
    d = json.loads(p.read_text())
    d["values"][0] = list(reversed(d["values"][0]))
    bad.write_text(json.dumps(d))
    with pytest.raises(InputError, match="bad.json.*non-decreasing"):
        E.HairStats.load(bad)


def test_stats_of_another_model_are_not_used(world, tmp_path, caplog):
    head = world["head"]
    p = world["stats"].save(tmp_path / "stats.json")
    assert E.default_stats(head, p) is not None
    other = rs.HeadAvatar.from_assets(world["assets"], "linear", backend="torch", defaults=False)
    assert E.model_fingerprint(other) != E.model_fingerprint(head)
    with caplog.at_level(logging.WARNING):
        assert E.default_stats(other, p) is None
    assert "another linear model" in caplog.text and "--write-stats" in caplog.text


@pytest.mark.skipif(not E.STATS_FILE.is_file(), reason="no shipped hair stats in this checkout")
def test_shipped_stats_file_is_valid_and_used_only_for_its_model(world):
    stats = E.HairStats.load(E.STATS_FILE)  # well-formed whatever model it belongs to
    assert stats.count == len(E.STATS_SEEDS)
    assert stats.kinds.count("hair") >= 3 and stats.kinds.count("neck") >= 1
    if stats.fingerprint != E.model_fingerprint(world["head"]):
        # new shipped weights: the file is ignored (test_stats_of_another_model_are_not_used) until regenerated
        pytest.skip(f"{E.STATS_FILE} belongs to earlier weights: run `python -m rome_smplx.avatar.editing --write-stats`")
    used = E.default_stats(world["head"])
    assert used is not None and used.fingerprint == stats.fingerprint and torch.equal(used.values, stats.values)


def test_edited_heads_render_and_merge(world):
    from rome_smplx.bridges import pixie

    head, recon, stats = world["head"], world["recons"][0], world["stats"]
    k = stats.components("neck")[0]
    # +-2 cm at the component's largest vertex displacement (the model's own spread may be far smaller)
    step = 0.02 / float(head.basis[:, k].view(-1, 3).norm(dim=-1).max())
    lo = E.edit_hair(head, recon, k, value=-step)
    hi = E.edit_hair(head, recon, k, value=step)
    with torch.no_grad():
        a, b = head.render(lo), head.render(hi)
        assert float((a.silhouette - b.silhouette).abs().sum()) > 5  # the neck's outline moved
        body = pixie.to_y_up(pixie.load(world["assets"].root / "people" / "person_000" / "person_000_param.pkl"))
        m_lo = rs.merge(lo, body, world["assets"], flame_model=head.flame)
        m_hi = rs.merge(hi, body, world["assets"], flame_model=head.flame)
    assert m_lo.vertices.shape == m_hi.vertices.shape
    assert float((m_lo.vertices - m_hi.vertices).norm(dim=-1).max()) > 1e-3


def test_the_fig6_grid_differs_across_columns(world):
    head, recon, model_stats = world["head"], world["recons"][0], world["stats"]
    # order statistics with a known spread (about +-2 cm at each component's largest vertex), so the
    # test checks the grid, not how much the shipped model's coefficients happen to vary
    scale = 0.01 / head.basis.view(-1, 3, head.basis.shape[1]).norm(dim=1).amax(0)
    coeffs = torch.randn(64, head.basis.shape[1], generator=torch.Generator().manual_seed(0)) * scale
    stats = E.HairStats.from_coefficients(coeffs, model_stats.kinds)
    S = 48
    grid = E.hair_edit_grid(head, recon, stats, mode="shaded", image_size=S)
    rows = len(stats.components("hair")[:3] + stats.components("neck")[:1])
    assert grid.shape == (1, 3, rows * 2 * S, len(E.FIG6_QUANTILES) * S)
    assert 0 <= float(grid.min()) and float(grid.max()) <= 1
    for r in range(rows):
        cells = grid[0, :, (2 * r + 1) * S:(2 * r + 2) * S].reshape(3, S, -1, S)  # the profile views of row r
        assert float((cells[:, :, 0] - cells[:, :, -1]).abs().mean()) > 1e-3, r  # min and max look different


def test_bad_edits_are_refused(world):
    head, recon, stats = world["head"], world["recons"][0], world["stats"]
    with pytest.raises(InputError, match="quantile= needs stats"):
        E.edit_hair(head, recon, 0, quantile=0.5)
    with pytest.raises(InputError, match="exactly one"):
        E.edit_hair(head, recon, 0)
    with pytest.raises(InputError, match="component must be an integer in 0..59"):
        E.edit_hair(head, recon, 60, value=0.0)
    with pytest.raises(InputError, match=r"q must be a number in \[0, 1\]"):
        E.edit_hair(head, recon, 0, quantile=1.5, stats=stats)
    full = rs.HeadAvatar.from_assets(world["assets"], "full", backend="torch")
    with pytest.raises(InputError, match="variant 'linear'"):
        E.edit_hair(full, recon, 0, value=0.0)
