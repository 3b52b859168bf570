"""What a training run records, per epoch, and its JSON form."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class History:
    """Per-epoch records of a run (list i is epoch i + 1), and how the run ended.

    ``train_loss``/``train_accuracy`` are means over the epoch's batches as
    they were trained on (weighted by batch size); ``val_*`` are measured on
    the validation split after the epoch (None without one). ``lr`` is the
    learning rate the epoch ran with. ``train_seconds`` is the time in the
    update steps, ``epoch_seconds`` adds the evaluation, ``elapsed_seconds``
    is the wall time since training began.
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    train_seconds: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    elapsed_seconds: list = field(default_factory=list)
    best_epoch: int | None = None  # lowest validation loss (training loss without validation)
    best_loss: float | None = None
    restored_best: bool = False  # the model's weights are those of best_epoch
    stopped_early: bool = False
    diverged: bool = False  # stopped because the training loss became inf or NaN
    test_loss: float | None = None
    test_accuracy: float | None = None
    config: dict = field(default_factory=dict)  # how the run was set up (filled by the caller)

    @property
    def epochs_run(self) -> int:
        return len(self.epoch)

    @property
    def total_seconds(self) -> float:
        return self.elapsed_seconds[-1] if self.elapsed_seconds else 0.0

    def seconds_per_epoch(self) -> float:
        """Mean time of an epoch's update steps (evaluation excluded)."""
        return sum(self.train_seconds) / len(self.train_seconds) if self.train_seconds else math.nan

    def to_dict(self) -> dict:
        return _json_safe(asdict(self))

    def save_json(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)


def _json_safe(value):
    """Non-finite floats become None: strict JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
