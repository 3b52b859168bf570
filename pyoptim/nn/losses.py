"""Losses over a batch of model outputs, each the mean over the batch.

``value_and_grad`` writes the gradient w.r.t. the outputs into a buffer the
model preallocates (pass None for the value alone), using only the
per-batch-size ``workspace`` buffers, so that a training step allocates
nothing. Classification losses take integer class labels.
"""

from __future__ import annotations

import numpy as np

from .. import _core


class Loss:
    """Base class of the losses."""

    def check_width(self, width: int) -> None:
        """ValueError if the model's output width does not suit this loss."""

    def check_targets(self, targets: np.ndarray, batch: int, width: int) -> None:
        """TypeError/ValueError if `targets` do not suit outputs of shape (batch, width)."""
        raise NotImplementedError

    def workspace(self, batch: int, width: int, dtype: np.dtype) -> dict:
        return {}

    def value_and_grad(self, outputs: np.ndarray, targets: np.ndarray, grad: np.ndarray | None,
                       work: dict) -> float:
        """The mean loss; if `grad` is given, also write d(loss)/d(outputs) into it."""
        raise NotImplementedError

    def count_correct(self, outputs: np.ndarray, targets: np.ndarray, work: dict) -> int | None:
        """How many samples the outputs classify correctly (None where that means nothing)."""
        return None

    def evaluate_batch(self, outputs: np.ndarray, targets: np.ndarray, grad: np.ndarray | None,
                       work: dict) -> tuple:
        """``(value_and_grad(...), count_correct(...))``, fused where a loss can."""
        correct = self.count_correct(outputs, targets, work)
        return self.value_and_grad(outputs, targets, grad, work), correct

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        raise TypeError(f"predict_proba: a model trained with {type(self).__name__} has no class "
                        "probabilities")

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict:
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of softmax(logits) against integer labels in [0, classes).

    Per sample ``logsumexp(z) - z[label]``, computed after subtracting the
    row's maximum so that exp never overflows; the gradient is
    ``(softmax(z) - onehot(label)) / batch``.
    """

    def check_width(self, width: int) -> None:
        if width < 2:
            raise ValueError(f"SoftmaxCrossEntropy: needs at least 2 outputs (classes), got {width}")

    def check_targets(self, targets, batch, width) -> None:
        _check_labels(targets, batch, 0, width - 1)

    def workspace(self, batch, width, dtype) -> dict:
        return {"predicted": np.empty(batch, dtype=np.intp), "hits": np.empty(batch, dtype=bool)}

    # One C++ pass per row (pyoptim/nn/softmax_cross_entropy.hpp): max, exp, sum,
    # log, gradient and argmax; NumPy needed a dozen calls, which on small batches
    # cost more than the whole optimizer step.
    def value_and_grad(self, outputs, targets, grad, work) -> float:
        return self.evaluate_batch(outputs, targets, grad, work)[0]

    def evaluate_batch(self, outputs, targets, grad, work) -> tuple:
        labels = targets if targets.dtype == np.int64 else targets.astype(np.int64)
        value, correct = _core.softmax_cross_entropy(np.ascontiguousarray(outputs), labels, grad)
        return value, int(correct)

    def count_correct(self, outputs, targets, work) -> int:
        return _count_argmax_hits(outputs, targets, work)

    def probabilities(self, outputs) -> np.ndarray:
        e = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predictions(self, outputs) -> np.ndarray:
        return np.argmax(outputs, axis=1)


class BinaryCrossEntropy(Loss):
    """Cross-entropy of sigmoid(logit) against labels 0/1 (or targets in [0, 1]), for one output.

    Per sample ``max(z, 0) - z t + log(1 + exp(-|z|))``, which equals
    ``-t log s - (1 - t) log(1 - s)`` with s = sigmoid(z) but never
    overflows; the gradient is ``(sigmoid(z) - t) / batch``.
    """

    def check_width(self, width: int) -> None:
        if width != 1:
            raise ValueError(f"BinaryCrossEntropy: needs exactly 1 output (the logit), got {width}")

    def check_targets(self, targets, batch, width) -> None:
        if isinstance(targets, np.ndarray) and targets.dtype.kind == "f":
            _check_shape(targets, batch)
            if targets.size and not (targets.min() >= 0 and targets.max() <= 1):
                raise ValueError("targets: expected values in [0, 1]")
        else:
            _check_labels(targets, batch, 0, 1)

    def workspace(self, batch, width, dtype) -> dict:
        buffers = {name: np.empty(batch, dtype=dtype) for name in ("target", "exp_neg_abs", "terms", "temp")}
        buffers.update(negative=np.empty(batch, dtype=bool), hits=np.empty(batch, dtype=bool),
                       target_is_one=np.empty(batch, dtype=bool))
        return buffers

    def value_and_grad(self, outputs, targets, grad, work) -> float:
        batch = outputs.shape[0]
        z = outputs[:, 0]
        t, e, terms, temp = work["target"], work["exp_neg_abs"], work["terms"], work["temp"]
        np.copyto(t, targets, casting="unsafe")
        np.abs(z, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|z|) in (0, 1]
        np.log1p(e, out=terms)
        np.maximum(z, 0, out=temp)
        np.add(terms, temp, out=terms)
        np.multiply(z, t, out=temp)
        np.subtract(terms, temp, out=terms)
        value = float(np.sum(terms, dtype=np.float64)) / batch
        if grad is not None:
            # sigmoid(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0, with e = exp(-|z|).
            g = grad[:, 0]
            np.add(e, 1, out=temp)
            np.reciprocal(temp, out=temp)
            np.copyto(g, temp)
            np.less(z, 0, out=work["negative"])
            np.multiply(e, temp, out=g, where=work["negative"])
            np.subtract(g, t, out=g)
            np.multiply(g, 1.0 / batch, out=g)
        return value

    def count_correct(self, outputs, targets, work) -> int:
        hits, is_one = work["hits"], work["target_is_one"]
        np.greater(targets, 0.5, out=is_one)
        np.greater(outputs[:, 0], 0, out=hits)
        np.equal(hits, is_one, out=hits)
        return int(np.count_nonzero(hits))

    def probabilities(self, outputs) -> np.ndarray:
        """(batch, 2): the probabilities of class 0 and of class 1, as scikit-learn's."""
        p1 = (1 + np.tanh(outputs[:, 0] / 2)) / 2
        return np.stack([1 - p1, p1], axis=1)

    def predictions(self, outputs) -> np.ndarray:
        return (outputs[:, 0] > 0).astype(np.int64)


class MeanSquaredError(Loss):
    """Mean over every element of (output - target)^2, as torch.nn.MSELoss().

    Targets are floats of the outputs' shape (or (batch,) for one output), or
    integer class labels, which stand for one-hot rows (a classifier trained
    by regression; its accuracy and predictions are then the argmax).
    """

    def check_targets(self, targets, batch, width) -> None:
        if isinstance(targets, np.ndarray) and targets.dtype.kind in "iub" and width > 1:
            _check_labels(targets, batch, 0, width - 1)
            return
        if not isinstance(targets, np.ndarray) or targets.dtype.kind not in "fiub":
            raise TypeError(f"targets: expected a numeric numpy array, got {type(targets).__name__}")
        if targets.shape not in ((batch, width),) + (((batch,),) if width == 1 else ()):
            expected = f"({batch}, {width})" + (f" or ({batch},)" if width == 1 else "")
            raise ValueError(f"targets: expected shape {expected}, got {targets.shape}")

    def workspace(self, batch, width, dtype) -> dict:
        return {
            "diff": np.empty((batch, width), dtype=dtype),
            "row_starts": np.arange(batch, dtype=np.intp) * width,
            "label_at": np.empty(batch, dtype=np.intp),
            "picked": np.empty(batch, dtype=dtype),
            "predicted": np.empty(batch, dtype=np.intp),
            "hits": np.empty(batch, dtype=bool),
        }

    def value_and_grad(self, outputs, targets, grad, work) -> float:
        batch, width = outputs.shape
        d = work["diff"]
        if _are_labels(targets, width):
            np.copyto(d, outputs)
            label_at, picked, flat = work["label_at"], work["picked"], d.reshape(-1)
            np.add(work["row_starts"], targets, out=label_at, casting="unsafe")
            np.take(flat, label_at, out=picked, mode="clip")
            np.subtract(picked, 1, out=picked)
            np.put(flat, label_at, picked, mode="clip")
        else:
            np.subtract(outputs, targets.reshape(batch, width), out=d, casting="unsafe")
        value = float(np.vdot(d, d)) / d.size
        if grad is not None:
            np.multiply(d, 2.0 / d.size, out=grad)
        return value

    def count_correct(self, outputs, targets, work) -> int | None:
        if not _are_labels(targets, outputs.shape[1]):
            return None
        return _count_argmax_hits(outputs, targets, work)

    def predictions(self, outputs) -> np.ndarray:
        """The argmax class for several outputs; the output itself (regression) for one."""
        return np.argmax(outputs, axis=1) if outputs.shape[1] > 1 else outputs[:, 0].copy()


def _are_labels(targets: np.ndarray, width: int) -> bool:
    return width > 1 and targets.dtype.kind in "iub"


def _count_argmax_hits(outputs, targets, work) -> int:
    predicted, hits = work["predicted"], work["hits"]
    np.argmax(outputs, axis=1, out=predicted)
    np.equal(predicted, targets, out=hits)
    return int(np.count_nonzero(hits))


def _check_shape(targets, batch: int) -> None:
    if targets.shape != (batch,):
        raise ValueError(f"targets: expected shape ({batch},) (one label per sample), got {targets.shape}")


def _check_labels(targets, batch: int, low: int, high: int) -> None:
    if not isinstance(targets, np.ndarray) or targets.dtype.kind not in "iub":
        kind = targets.dtype if isinstance(targets, np.ndarray) else type(targets).__name__
        raise TypeError(f"targets: expected an integer numpy array of class labels, got {kind}")
    _check_shape(targets, batch)
    if batch and (targets.min() < low or targets.max() > high):
        raise ValueError(f"targets: expected class labels in [{low}, {high}], got values in "
                         f"[{targets.min()}, {targets.max()}]")


# Loss names the model factories and the saved-model format use.
LOSSES = {"SoftmaxCrossEntropy": SoftmaxCrossEntropy, "BinaryCrossEntropy": BinaryCrossEntropy,
          "MeanSquaredError": MeanSquaredError}
