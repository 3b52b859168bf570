"""The training loop: epochs of batches, evaluation, schedules, early stopping."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from .. import _checks
from ..distributed import ShardedOptimizer, local_batch
from ..lr_scheduler import LRScheduler, ReduceLROnPlateau
from ..nn import Sequential
from ..nn.sequential import DEFAULT_EVAL_BATCH
from ..optim import Optimizer
from .batches import Batches
from .data import Split, split_validation
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History

BatchCallback = Callable[[int, int, float], None]  # (batches done, batches per epoch, batch loss)
EpochCallback = Callable[[History], None]


def fit(model: Sequential, optimizer: Optimizer | ShardedOptimizer, train: Split, *, epochs: int, batch_size=64,
        validation: Split | None = None, validation_fraction: float = 0.0,
        scheduler: LRScheduler | ReduceLROnPlateau | None = None,
        early_stopping_patience: int | None = None, seed: int | None = 0,
        eval_batch_size: int = DEFAULT_EVAL_BATCH,
        on_batch: BatchCallback | None = None, on_epoch: EpochCallback | None = None,
        checkpoint=None, resume: bool = False) -> History:
    """Train `model` with `optimizer` (built over ``model.parameters()``) and return the History.

    Batch modes: ``batch_size="full"`` is full-batch gradient descent (one
    step per epoch), ``1`` is stochastic gradient descent, any other int is
    mini-batch; batches are reshuffled every epoch from `seed`.

    Validation: pass `validation`, or hold `validation_fraction` of `train`
    out (seeded). `scheduler` steps once per epoch, after it; a
    ReduceLROnPlateau steps on the validation loss (the training loss
    without validation). With `early_stopping_patience` = p, training stops
    after p epochs without a lower validation loss, and the weights of the
    best epoch are restored (also when all epochs run).

    Data parallel: with a :class:`pyoptim.distributed.ShardedOptimizer` (every rank
    runs fit with the same arguments), each rank computes the gradient of its share
    of every global batch of `batch_size`; the History is the global batches' (the
    same on every rank) and only rank 0 writes checkpoints, which hold the whole
    model's state (they resume on any number of ranks, or in one process).

    Checkpoints: with `checkpoint` (a path), the whole training state -- model,
    optimizer state, schedule, shuffling RNG, history, early-stopping
    bookkeeping -- is written there atomically after every epoch. With
    ``resume=True`` and a checkpoint at that path, training continues after
    its last epoch (in this process or a fresh one) and ends exactly as an
    uninterrupted run would have, bit for bit.
    """
    _check_fit_args(model, optimizer, epochs, early_stopping_patience, scheduler)
    distributed = optimizer if isinstance(optimizer, ShardedOptimizer) else None
    if validation is not None and validation_fraction:
        raise ValueError("validation, validation_fraction: give one or the other, not both")
    if validation_fraction:
        train, validation = split_validation(train, validation_fraction, seed=seed)
    if early_stopping_patience is not None and validation is None:
        raise ValueError("early_stopping_patience: early stopping needs a validation split "
                         "(validation or validation_fraction > 0)")
    model.loss.check_targets(train.y, len(train), model.n_outputs)  # once here, not per batch
    batches = Batches(train, batch_size, seed=seed)
    n_batches = len(batches)
    history = History()
    best_weights = np.empty_like(model.flat.params) if early_stopping_patience is not None else None
    epochs_without_improvement = 0
    first_epoch, elapsed_before = 1, 0.0
    if resume:
        if checkpoint is None:
            raise ValueError("resume: needs a checkpoint path")
        exists = Path(checkpoint).exists()
        if distributed is not None and len(set(distributed.comm.allgather(exists))) > 1:
            raise ValueError(f"checkpoint: {checkpoint} exists for some ranks only: put it where every rank "
                             "reads the same file (rank 0 writes it)")
        if exists:
            state = load_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler)
            batches.rng.bit_generator.state = state["rng"]
            history = History(**state["history"])
            epochs_without_improvement = state["epochs_without_improvement"]
            if best_weights is not None and "best_weights" in state:
                np.copyto(best_weights, state["best_weights"])
            first_epoch = state["epoch"] + 1
            elapsed_before = history.elapsed_seconds[-1] if history.elapsed_seconds else 0.0
            if state.get("stopped_early"):
                first_epoch = epochs + 1  # the run had already ended
    start = time.perf_counter() - elapsed_before

    for epoch in range(first_epoch, epochs + 1):
        epoch_start = time.perf_counter()
        _set_mode(optimizer, training=True)
        lr = optimizer.param_groups[0]["lr"]
        loss_sum, correct, seen, has_classes = 0.0, 0, 0, True
        for done, (xb, yb) in enumerate(batches.epoch(), 1):
            if distributed is not None:  # this rank's share; the loss and hits of the whole batch, agreed by all
                xs, ys, share = local_batch(xb, yb, distributed.comm)
                if len(xs):
                    loss, hits = model.loss_and_grad(xs, ys, check_targets=False)
                else:  # a last batch with fewer rows than ranks: this rank adds nothing
                    model.flat.zero_grad()
                    loss, hits = 0.0, None
                loss, hits = distributed.batch_totals(loss, hits, len(xs))
            else:
                loss, hits = model.loss_and_grad(xb, yb, check_targets=False)  # all checked above
            if not math.isfinite(loss):
                history.diverged = True
                break
            if distributed is not None:
                distributed.step(share)
            elif isinstance(optimizer, Optimizer) and optimizer.closure_driven:  # LBFGS: re-evaluates the batch as often as its iterations need
                optimizer.step(lambda: model.loss_and_grad(xb, yb, check_targets=False)[0])
            else:
                optimizer.step()
            m = xb.shape[0]
            loss_sum += loss * m
            seen += m
            if hits is None:
                has_classes = False
            else:
                correct += hits
            if on_batch is not None:
                on_batch(done, n_batches, loss)
        if history.diverged:
            break
        train_end = time.perf_counter()
        _set_mode(optimizer, training=False)  # validation, checkpoints and the caller see x

        val_loss, val_accuracy = (model.evaluate(validation.x, validation.y, batch_size=eval_batch_size)
                                  if validation is not None else (None, None))
        train_loss = loss_sum / seen
        monitored = train_loss if val_loss is None else val_loss
        improved = history.best_loss is None or monitored < history.best_loss
        if improved:
            history.best_loss, history.best_epoch = monitored, epoch
        if best_weights is not None:
            if improved:
                np.copyto(best_weights, model.flat.params)
                epochs_without_improvement = 0
            else:
                epochs_without_improvement += 1

        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(monitored)
        elif scheduler is not None:
            scheduler.step()
        end = time.perf_counter()
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.train_accuracy.append(correct / seen if has_classes else None)
        history.val_loss.append(val_loss)
        history.val_accuracy.append(val_accuracy)
        history.lr.append(lr)
        history.train_seconds.append(train_end - epoch_start)
        history.epoch_seconds.append(end - epoch_start)
        history.elapsed_seconds.append(end - start)
        if on_epoch is not None:
            on_epoch(history)
        stop = early_stopping_patience is not None and epochs_without_improvement >= early_stopping_patience
        if stop:
            history.stopped_early = epoch < epochs
        if checkpoint is not None:
            training = {"epoch": epoch, "rng": batches.rng.bit_generator.state, "history": asdict(history),
                        "stopped_early": stop, "epochs_without_improvement": epochs_without_improvement}
            if distributed is None:
                save_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler,
                                best_weights=best_weights, training=training)
            else:  # the whole state gathered on rank 0, which writes; every rank learns how that went
                _save_on_rank_0(distributed, checkpoint, model, scheduler, best_weights, training)
        if stop:
            break

    if best_weights is not None and history.best_epoch is not None:
        model.set_weights(best_weights)
        history.restored_best = True
    return history


def _save_on_rank_0(distributed: ShardedOptimizer, checkpoint, model, scheduler, best_weights, training) -> None:
    """fit's checkpoint of a data-parallel run: rank 0 writes the whole state; an error
    there (a full disk) is raised on every rank, none left waiting."""
    state = distributed.gathered_state_dict(root=0)
    failure = None
    if distributed.rank == 0:
        try:
            save_checkpoint(checkpoint, model=model, optimizer=distributed, scheduler=scheduler,
                            best_weights=best_weights, training=training, optimizer_state=state)
        except OSError as error:
            failure = error
    distributed.agree(failure, lambda r, _, message: OSError(f"checkpoint: rank {r} could not write it: {message}"))


def _check_fit_args(model, optimizer, epochs, patience, scheduler) -> None:
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a pyoptim.nn.Sequential, got {type(model).__name__}")
    if isinstance(optimizer, ShardedOptimizer):
        if optimizer.flat is not model.flat:
            raise ValueError("optimizer: it does not update this model; build it over this model")
        local = optimizer.optimizer
    elif isinstance(optimizer, Optimizer):
        local = optimizer
        flat = model.flat.params
        if not any(p is flat or np.shares_memory(p, flat) for group in optimizer.param_groups
                   for p, _ in group["params"]):
            raise ValueError("optimizer: it does not update this model; build it over model.parameters() "
                             "(or its layers' views, model.flat.items())")
    else:
        raise TypeError(f"optimizer: expected a pyoptim optimizer, got {type(optimizer).__name__}")
    _checks.integer("epochs", epochs, min=1, expected="an int >= 1", type_error=False)
    if patience is not None:
        _checks.integer("early_stopping_patience", patience, min=1, expected="an int >= 1 or None",
                        type_error=False)
    if scheduler is not None:
        if not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
            raise TypeError(f"scheduler: expected a pyoptim.lr_scheduler scheduler, got {type(scheduler).__name__}")
        if scheduler.optimizer is not local:  # a ShardedOptimizer's schedule edits its local optimizer
            raise ValueError("scheduler: it belongs to another optimizer")


def _set_mode(optimizer: Optimizer | ShardedOptimizer, training: bool) -> None:
    """Move the parameters of a rule with training and evaluation points (Schedule-Free)
    to the one the next phase needs; other rules have one point and nothing moves."""
    if optimizer.mode_state is not None:
        getattr(optimizer, "train" if training else "eval")()
