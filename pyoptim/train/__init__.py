"""Training pyoptim.nn models: data preparation, the training loop, schedules, comparisons,
and the experiments the ``pyoptim`` command runs (``pyoptim.train.experiments``).

::

    from pyoptim import nn, train
    data, test = train.load_mnist_splits("path/to/mnist")
    model = nn.mlp(784, (128,), 10)
    opt = train.make_optimizer("adam", model.parameters(), lr=1e-3)
    history = train.fit(model, opt, data, epochs=5, batch_size=64, validation_fraction=0.1,
                        scheduler=train.make_scheduler("cosine", opt, epochs=5))
"""

from .batches import FULL_BATCH, Batches, resolve_batch_size
from .checkpoint import (CheckpointError, load_checkpoint, load_sharded_checkpoint, save_checkpoint,
                         save_sharded_checkpoint)
from .compare import RuleResult, compare_rules
from .data import Split, binary_digits, limit, load_mnist_splits, split_validation
from .experiments import (Comparison, ExperimentData, ExperimentSettings, Training, check_settings,
                          describe_model, load_experiment_data, prepare_comparison, prepare_training,
                          run_comparison, run_training, save_comparison, save_training)
from .history import History
from .loop import fit
from .optimizers import (MATRIX_COMPANION, TUNED_LR, RuleEntry, check_hyperparameters, comparison_entries, default_lr, takes_flat_buffer,
                         make_optimizer, optimizer_class, optimizer_names, parse_hyper_value)
from .._progress import ProgressBar
from .report import by_test_accuracy, curves_figure, markdown_table, plot_curves, write_markdown
from .schedules import SCHEDULES, make_scheduler
from .trajectories import (SURFACES, Surface, Trajectory, Walk, Walker, animate_walks, plot_walks, plot_walks_3d,
                           regression_surface, trajectories, walk, walks_figure)

__all__ = [
    "Split", "binary_digits", "split_validation", "limit", "load_mnist_splits",
    "Batches", "FULL_BATCH", "resolve_batch_size", "History", "fit", "ProgressBar",
    "save_checkpoint", "load_checkpoint", "save_sharded_checkpoint", "load_sharded_checkpoint", "CheckpointError",
    "SCHEDULES", "make_scheduler",
    "MATRIX_COMPANION", "TUNED_LR", "RuleEntry", "comparison_entries", "default_lr", "make_optimizer", "optimizer_class",
    "optimizer_names", "parse_hyper_value", "takes_flat_buffer",
    "RuleResult", "compare_rules", "markdown_table", "write_markdown", "plot_curves", "curves_figure",
    "by_test_accuracy",
    "trajectories", "walk", "Walker", "Walk", "Trajectory", "Surface", "SURFACES", "regression_surface",
    "plot_walks", "walks_figure", "animate_walks", "plot_walks_3d",
    "check_hyperparameters", "ExperimentSettings", "ExperimentData", "Training", "Comparison", "check_settings",
    "prepare_training", "prepare_comparison", "load_experiment_data", "run_training", "save_training",
    "run_comparison", "save_comparison", "describe_model",
]
