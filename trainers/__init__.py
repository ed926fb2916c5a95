"""Training: ROME losses, datasets of frame pairs, the full-model trainer and its config.

>>> from rome_smplx.trainers import RomeTrainConfig, RomeTrainer, SyntheticPeopleDataset
>>> cfg = RomeTrainConfig(size="small", image_size=64, batch_size=1, steps=20)   # doctest: +SKIP
>>> RomeTrainer(cfg, "assets/").fit(SyntheticPeopleDataset("assets/", 64))      # doctest: +SKIP
"""

from rome_smplx.trainers.config import DEFAULT_LOSS_WEIGHTS, RomeTrainConfig
from rome_smplx.trainers.datasets import FramePairsDataset, SyntheticPeopleDataset, collate
from rome_smplx.trainers.rome_trainer import RomeTrainer, build_dataset, train_from_config

__all__ = [
    "DEFAULT_LOSS_WEIGHTS",
    "FramePairsDataset",
    "RomeTrainConfig",
    "RomeTrainer",
    "SyntheticPeopleDataset",
    "build_dataset",
    "collate",
    "train_from_config",
]
