"""Neural networks from scratch over NumPy: layers, losses, models, saving.

Forward and backward passes are written by hand; a model's parameters and
gradients live in one flat buffer each (``pyoptim.FlatParameters``), so any
pyoptim optimizer updates the whole model in one kernel call::

    import pyoptim
    from pyoptim import nn

    model = nn.mlp(784, hidden=(128,), n_classes=10)
    opt = pyoptim.Adam(model.parameters(), lr=1e-3)
    loss, correct = model.loss_and_grad(x_batch, y_batch)   # writes model.flat.grads
    opt.step()
"""

from .activations import ACTIVATIONS, ReLU, Sigmoid, Tanh
from .init import INITIALISERS
from .io import ModelFileError, load_model, save_model
from .layers import Dense, Layer
from .losses import BinaryCrossEntropy, Loss, MeanSquaredError, SoftmaxCrossEntropy
from .models import binary_logistic_regression, logistic_regression, mlp
from .sequential import Sequential

__all__ = [
    "Layer", "Dense", "ReLU", "Tanh", "Sigmoid", "ACTIVATIONS", "INITIALISERS",
    "Loss", "SoftmaxCrossEntropy", "BinaryCrossEntropy", "MeanSquaredError",
    "Sequential", "logistic_regression", "binary_logistic_regression", "mlp",
    "save_model", "load_model", "ModelFileError",
]
