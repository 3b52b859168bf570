"""Training one model with several update rules, from the same start, on the same batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..distributed import local_optimizer
from ..lr_scheduler import LRScheduler, ReduceLROnPlateau
from ..nn import Sequential
from ..optim import Optimizer
from .data import Split
from .history import History
from .loop import fit
from .optimizers import RuleEntry


@dataclass
class RuleResult:
    entry: RuleEntry
    history: History


def compare_rules(build_model: Callable[[], Sequential], entries: list, train: Split, test: Split, *,
                  epochs: int, batch_size=64, validation: Split | None = None,
                  make_scheduler: Callable[[Optimizer], LRScheduler | ReduceLROnPlateau | None] | None = None,
                  early_stopping_patience: int | None = None, seed: int | None = 0,
                  on_start: Callable[[RuleEntry], None] | None = None,
                  on_batch=None, on_epoch: Callable[[RuleEntry, History], None] | None = None,
                  distributed: bool = False) -> list:
    """Train a fresh ``build_model()`` with each entry's optimizer; returns a RuleResult per entry.

    `build_model` must give the same initial weights each call (a fixed
    seed), and every run shuffles its batches from the same `seed`, so the
    rules differ in nothing but the update. Each History gets the test-set
    loss and accuracy of its final (or, with early stopping, best) weights.
    With `distributed`, every rank of MPI's world runs it alike and each rule trains
    data-parallel (a pyoptim.distributed.ShardedOptimizer; `make_scheduler` is given
    its local optimizer).
    """
    results = []
    for entry in entries:
        model = build_model()
        optimizer = entry.build(model, distributed=distributed)
        scheduler = make_scheduler(local_optimizer(optimizer)) if make_scheduler is not None else None
        if on_start is not None:
            on_start(entry)
        history = fit(model, optimizer, train, epochs=epochs, batch_size=batch_size, validation=validation,
                      scheduler=scheduler, early_stopping_patience=early_stopping_patience, seed=seed,
                      on_batch=on_batch, on_epoch=_for_entry(on_epoch, entry))
        if not history.diverged:
            history.test_loss, history.test_accuracy = model.evaluate(test.x, test.y)
        history.config = {"rule": entry.label, "optimizer": entry.cls.__name__, "hyperparameters": entry.hyper}
        results.append(RuleResult(entry, history))
    return results


def _for_entry(on_epoch, entry: RuleEntry) -> Callable[[History], None] | None:
    """fit's per-epoch callback, passing `entry` on to `on_epoch(entry, history)`."""
    if on_epoch is None:
        return None

    def callback(history: History) -> None:
        on_epoch(entry, history)
    return callback
