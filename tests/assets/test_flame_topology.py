"""ROME's deformable-vertex rule: the lists minus FLAME's fixed throat ids (FLAME-sized heads only)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from rome_smplx.assets import Assets
from rome_smplx.assets.flame_topology import (
    FLAME_FIXED_NECK_VERTICES,
    deformable_vertices,
    fixed_neck_vertices,
    flame_vertex_count,
    is_flame_sized,
)


def test_fixed_ids_are_a_clean_set():
    ids = np.asarray(FLAME_FIXED_NECK_VERTICES)
    assert len(ids) == 79  # the 97 listed by the release minus the 18 it re-admits
    assert np.all(np.diff(ids) > 0) and ids.min() >= 0 and ids.max() < flame_vertex_count()
    assert fixed_neck_vertices(flame_vertex_count()).tolist() == list(FLAME_FIXED_NECK_VERTICES)
    assert is_flame_sized(flame_vertex_count()) and not is_flame_sized(flame_vertex_count() - 1)


def test_rule_on_flame_sized_and_other_heads():
    n = flame_vertex_count()
    hair = np.array([10, 11, 12, 3383])  # one fixed id in the scalp list
    neck = np.array([3385, 3400, 3401, 3709, 3710, 3400])  # duplicates allowed
    got = deformable_vertices(hair, neck, n)
    assert got.dtype == np.int64
    assert got.tolist() == [10, 11, 12, 3400, 3401, 3710]
    # another vertex count: the FLAME ids mean nothing there, nothing is removed
    assert deformable_vertices(hair, neck, n + 7).tolist() == [10, 11, 12, 3383, 3385, 3400, 3401, 3709, 3710]
    assert fixed_neck_vertices(1800).shape == (0,)


def test_rome_data_deform_mask_small_head(synthetic_dir_small):
    rd = Assets.from_dir(synthetic_dir_small).rome_data()
    n = rd.num_vertices
    assert n == 1800
    mask = rd.deform_mask
    assert mask.shape == (n,) and mask.dtype == torch.float32
    lists = torch.unique(torch.cat([rd.hair_list, rd.neck_list]))
    assert torch.equal(torch.nonzero(mask).flatten(), lists)
    assert torch.equal(rd.deformable, lists)
    assert torch.equal(rd.mean_deform_support(), mask > 0)


def test_rome_data_deform_mask_flame_sized(synthetic_dir, caplog):
    with caplog.at_level(logging.WARNING):
        rd = Assets.from_dir(synthetic_dir).rome_data()
    assert rd.num_vertices == flame_vertex_count()
    lists = np.union1d(rd.hair_list.numpy(), rd.neck_list.numpy())
    fixed_in_lists = np.intersect1d(lists, FLAME_FIXED_NECK_VERTICES)
    assert len(fixed_in_lists) > 0
    mask = rd.deform_mask.numpy()
    assert (mask[fixed_in_lists] == 0).all()
    assert int(mask.sum()) == len(lists) - len(fixed_in_lists)
    # the current generator writes mean offsets on exactly that set: no warning
    assert np.array_equal(rd.mean_deform_support().numpy(), mask > 0)
    assert "differs from the deformable vertices" not in caplog.text


def test_version_2_folder_warns_and_follows_the_lists(tmp_path, caplog):
    from rome_smplx.assets.synthetic import write_synthetic_assets

    d = write_synthetic_assets(tmp_path / "v2", seed=0, people=0, generator_version=2)
    assets = Assets.from_dir(d)
    with caplog.at_level(logging.WARNING):
        rd = assets.rome_data()
        assets.rome_data()
    assert caplog.text.count("differs from the deformable vertices") == 1  # once per folder
    assert "on 111 vertices" in caplog.text
    assert int((rd.mean_deform_support() != (rd.deform_mask > 0)).sum()) == 111


@pytest.mark.parametrize("bad", [[], [0]])
def test_empty_or_tiny_lists(bad):
    assert deformable_vertices(bad, [], 1800).tolist() == sorted(set(bad))
