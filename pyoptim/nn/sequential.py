"""A model as a stack of layers and a loss, over one flat parameter buffer."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import _checks
from ..flat import FlatParameters
from .activations import ACTIVATIONS
from .layers import Dense, Layer
from .losses import LOSSES, Loss
from .model_file import read_model_file, write_model_file

# Batch sizes whose buffers a model keeps: training uses two (the batch size
# and the last, smaller batch) and evaluation one or two more.
_CACHED_BATCH_SIZES = 6
DEFAULT_EVAL_BATCH = 2048
# What config() writes as a layer's "type", and the class from_config builds for it.
_LAYER_TYPES = {"Dense": Dense, **{cls.__name__: cls for cls in ACTIVATIONS.values()}}


@dataclass
class _Workspace:
    """Every buffer one forward + backward pass over a batch of a given size needs."""

    outputs: list  # outputs[i]: layer i's output (an elementwise layer shares its input's buffer)
    grads: list  # grads[i]: d(loss)/d(outputs[i]), or None where nothing upstream needs it
    scratch: list  # per-layer temporaries
    loss_work: dict


class Sequential:
    """Layers applied one after another, then a loss; parameters in one ``FlatParameters``.

    ``model.parameters()`` is the single (params, grads) pair of the flat
    buffers, so ``pyoptim.Adam(model.parameters(), lr=1e-3)`` updates the
    whole model in one kernel call after each ``model.loss_and_grad(x, y)``.
    Inputs are (batch, n_features) arrays of the model's dtype (float32 by
    default, or float64). ``seed`` fixes the initial weights.
    """

    def __init__(self, layers: Sequence[Layer], loss: Loss, *, dtype=np.float32, seed: int | None = 0):
        layers = list(layers)
        if not layers:
            raise ValueError("layers: expected at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}]: expected a pyoptim.nn Layer, got {type(layer).__name__}")
        if not isinstance(loss, Loss):
            raise TypeError(f"loss: expected a pyoptim.nn Loss, got {type(loss).__name__}")
        first = next((layer for layer in layers if hasattr(layer, "in_features")), None)
        if first is None:
            raise ValueError("layers: expected at least one Dense layer (it fixes the input width)")
        self.layers, self.loss = layers, loss
        self.n_features = first.in_features
        self.widths = [self.n_features]  # widths[i] is layer i's input width
        for layer in layers:
            self.widths.append(layer.output_width(self.widths[-1]))
        self.n_outputs = self.widths[-1]
        loss.check_width(self.n_outputs)

        shapes = {f"{i}.{name}": shape for i, layer in enumerate(layers)
                  for name, shape in layer.param_shapes().items()}
        self.flat = FlatParameters(shapes, dtype=dtype)
        self.dtype = self.flat.dtype
        for i, layer in enumerate(layers):
            names = layer.param_shapes()
            layer.bind({n: self.flat[f"{i}.{n}"] for n in names}, {n: self.flat.grad(f"{i}.{n}") for n in names})
        # Layer i needs its input gradient only if some layer before it has parameters.
        self._needs_input_grad = [any(layer.param_shapes() for layer in layers[:i]) for i in range(len(layers))]
        self._workspaces: OrderedDict = OrderedDict()
        self.metadata: dict = {}  # free-form, JSON-able; saved with the model
        self.reset_parameters(seed)

    # ---- parameters ----------------------------------------------------------

    def reset_parameters(self, seed: int | None = 0) -> None:
        """Draw fresh initial weights (layer by layer, from one Generator seeded with `seed`)."""
        rng = np.random.default_rng(seed)
        self.flat.params.fill(0)
        for layer in self.layers:
            layer.reset_parameters(rng)

    def parameters(self) -> list:
        """``[(params, grads)]``: the model's two flat buffers, for a pyoptim optimizer."""
        return self.flat.parameters()

    @property
    def n_parameters(self) -> int:
        """Number of trainable values (without the flat buffer's alignment padding)."""
        return sum(a.size for _, a, _ in self.flat.items())

    def __reduce__(self):
        # Layers hold views into the flat buffers; pickling them one by one would
        # cut them loose. Rebuild from the architecture and copy the weights in.
        return (_rebuild, (self.config(), self.get_weights(), self.metadata))

    def get_weights(self) -> np.ndarray:
        """A copy of the flat parameter buffer."""
        return self.flat.params.copy()

    def set_weights(self, weights: np.ndarray) -> None:
        """Copy a flat buffer from ``get_weights()`` (same model, same dtype) into the model."""
        if not isinstance(weights, np.ndarray) or weights.shape != self.flat.params.shape:
            raise ValueError(f"weights: expected an array of shape {self.flat.params.shape} from get_weights(), "
                             f"got {getattr(weights, 'shape', type(weights).__name__)}")
        np.copyto(self.flat.params, weights, casting="same_kind")

    # ---- computing -----------------------------------------------------------

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The outputs (logits) for a batch; a buffer the model reuses, valid until its next call."""
        self._check_inputs(x)
        ws = self._workspace(x.shape[0])
        self._forward(x, ws)
        return ws.outputs[-1]

    def loss_and_grad(self, x: np.ndarray, y: np.ndarray, *, check_targets: bool = True) -> tuple:
        """Forward and backward over one batch: ``(mean loss, number classified correctly)``.

        The gradients are written (not accumulated) into ``model.flat.grads``;
        the count is None for a loss without classes (MSE on float targets).
        ``check_targets=False`` skips the check of `y` (a training loop that
        checked all its targets once; on small batches the check costs more
        than the loss).
        """
        self._check_inputs(x)
        n = x.shape[0]
        if check_targets:
            self.loss.check_targets(y, n, self.n_outputs)
        ws = self._workspace(n)
        self._forward(x, ws)
        outputs = ws.outputs[-1]
        value, correct = self.loss.evaluate_batch(outputs, y, ws.grads[-1], ws.loss_work)
        for i in range(len(self.layers) - 1, -1, -1):
            layer_input = x if i == 0 else ws.outputs[i - 1]
            if not self._needs_input_grad[i]:
                self.layers[i].backward(layer_input, ws.outputs[i], ws.grads[i], None, ws.scratch[i])
                break  # no parameters further back
            self.layers[i].backward(layer_input, ws.outputs[i], ws.grads[i], ws.grads[i - 1], ws.scratch[i])
        return value, correct

    def evaluate(self, x: np.ndarray, y: np.ndarray, *, batch_size: int = DEFAULT_EVAL_BATCH) -> tuple:
        """``(mean loss, accuracy)`` over a data set, in batches; accuracy None for a loss without classes."""
        self._check_inputs(x)
        n = x.shape[0]
        if n == 0:
            raise ValueError("x: expected at least one sample")
        self.loss.check_targets(y, n, self.n_outputs)
        total_loss, correct, has_classes = 0.0, 0, True
        for start in range(0, n, _check_batch_size(batch_size)):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            ws = self._workspace(xb.shape[0])
            self._forward(xb, ws)
            value, hits = self.loss.evaluate_batch(ws.outputs[-1], yb, None, ws.loss_work)
            total_loss += value * xb.shape[0]
            if hits is None:
                has_classes = False
            else:
                correct += hits
        return total_loss / n, (correct / n if has_classes else None)

    def predict_proba(self, x: np.ndarray, *, batch_size: int = DEFAULT_EVAL_BATCH) -> np.ndarray:
        """Class probabilities, (n, classes); a binary model gives (n, 2) as scikit-learn does."""
        return self._map_outputs(x, self.loss.probabilities, batch_size)

    def predict(self, x: np.ndarray, *, batch_size: int = DEFAULT_EVAL_BATCH) -> np.ndarray:
        """The predicted class of each sample (for MSE with one output: the output itself)."""
        return self._map_outputs(x, self.loss.predictions, batch_size)

    # ---- saving and describing ------------------------------------------------

    def config(self) -> dict:
        """The architecture, JSON-able: what ``from_config`` needs to rebuild the model."""
        return {"layers": [layer.config() for layer in self.layers], "loss": self.loss.config(),
                "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict, *, seed: int | None = 0) -> "Sequential":
        """Build a model from ``config()`` (freshly initialised with `seed`)."""
        if not isinstance(config, dict):
            raise TypeError(f"config: expected a dict, got {type(config).__name__}")
        try:
            layer_specs, loss_spec, dtype = config["layers"], config["loss"], config.get("dtype", "float32")
            layers = [_build(_LAYER_TYPES, spec, f"layers[{i}]") for i, spec in enumerate(layer_specs)]
            loss = _build(LOSSES, loss_spec, "loss")
        except KeyError as e:
            raise ValueError(f"config: missing the key {e}") from None
        if dtype not in ("float32", "float64"):
            raise ValueError(f"config: dtype must be 'float32' or 'float64', got {dtype!r}")
        return cls(layers, loss, dtype=np.dtype(dtype), seed=seed)

    def save(self, path, *, metadata: dict | None = None) -> None:
        """Write the model to `path` (exactly that name; format: see ``pyoptim.nn.model_file``)
        with `metadata` (JSON-able; default: ``model.metadata``), atomically."""
        write_model_file(self, path, self.metadata if metadata is None else metadata)

    @classmethod
    def load(cls, path) -> "Sequential":
        """Read a model written by ``save``; ModelFileError if the file is not one."""
        return read_model_file(path, build=lambda architecture: cls.from_config(architecture, seed=None))

    def __repr__(self) -> str:
        stack = " -> ".join([str(self.n_features)] + [repr(layer) for layer in self.layers])
        return (f"Sequential({stack}, loss={self.loss!r}, {self.n_parameters:,} parameters, "
                f"dtype={self.dtype.name})")

    # ---- internals -----------------------------------------------------------

    def _check_inputs(self, x) -> None:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x: expected a numpy array, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x: expected shape (batch, {self.n_features}), got {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(f"x: expected dtype {self.dtype} (the model's), got {x.dtype}; "
                            f"convert once with x.astype(np.{self.dtype.name})")

    def _forward(self, x, ws: _Workspace) -> None:
        layer_input = x
        for layer, out, scratch in zip(self.layers, ws.outputs, ws.scratch):
            layer.forward(layer_input, out, scratch)
            layer_input = out

    def _workspace(self, batch: int) -> _Workspace:
        ws = self._workspaces.get(batch)
        if ws is not None:
            self._workspaces.move_to_end(batch)
            return ws
        outputs: list[np.ndarray] = []
        scratch: list[dict] = []
        for i, layer in enumerate(self.layers):
            width = self.widths[i + 1]
            # Never in place over the caller's input, nor over an output its layer's backward reads.
            in_place = layer.elementwise and i > 0 and not self.layers[i - 1].backward_reads_output
            outputs.append(outputs[i - 1] if in_place else np.empty((batch, width), dtype=self.dtype))
            scratch.append(layer.scratch(batch, self.widths[i], self.dtype))
        # Gradients, from the loss backwards: an elementwise layer's backward runs in place.
        grads: list[np.ndarray | None] = [None] * len(self.layers)
        grads[-1] = np.empty((batch, self.n_outputs), dtype=self.dtype)
        for i in range(len(self.layers) - 1, 0, -1):
            if not self._needs_input_grad[i]:
                break
            grads[i - 1] = grads[i] if self.layers[i].elementwise else np.empty((batch, self.widths[i]),
                                                                                   dtype=self.dtype)
        ws = _Workspace(outputs, grads, scratch, self.loss.workspace(batch, self.n_outputs, self.dtype))
        self._workspaces[batch] = ws
        if len(self._workspaces) > _CACHED_BATCH_SIZES:
            self._workspaces.popitem(last=False)
        return ws

    def _map_outputs(self, x, head, batch_size: int) -> np.ndarray:
        self._check_inputs(x)
        batch_size = _check_batch_size(batch_size)
        parts = [head(self.forward(x[start:start + batch_size])) for start in range(0, x.shape[0], batch_size)]
        if not parts:
            return head(np.empty((0, self.n_outputs), dtype=self.dtype))
        return np.concatenate(parts)


def _check_batch_size(batch_size) -> int:
    return _checks.integer("batch_size", batch_size, min=1, expected="an int >= 1", type_error=False)


def _build(types: dict, spec, where: str):
    if not isinstance(spec, dict) or spec.get("type") not in types:
        raise ValueError(f"config: {where} must be a dict with 'type' one of {sorted(types)}, got {spec!r}")
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        if spec["type"] == "Dense":
            return types["Dense"](kwargs.pop("in_features"), kwargs.pop("out_features"), **kwargs)
        return types[spec["type"]](**kwargs)
    except (KeyError, TypeError) as e:
        raise ValueError(f"config: {where} = {spec!r} is not a valid {spec['type']}: {e}") from None


def _rebuild(config: dict, weights: np.ndarray, metadata: dict) -> "Sequential":
    model = Sequential.from_config(config, seed=None)
    model.set_weights(weights)
    model.metadata = metadata
    return model
