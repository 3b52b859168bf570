"""What `pyoptim compare` writes: the table from the best test accuracy down, and a figure in
which each of a dozen and more rules has its own colour and a summary panel."""

import itertools

import pytest

import pyoptim
from pyoptim import train
from pyoptim.train.report import RULE_COLOURS, by_test_accuracy, curves_figure, markdown_table, rule_style

pytest.importorskip("matplotlib")


def result(label, accuracy, *, diverged=False, seconds=0.5, epochs=3):
    """A RuleResult as compare_rules makes them, without the training."""
    history = train.History(
        epoch=list(range(1, epochs + 1)), train_loss=[1.0 / e for e in range(1, epochs + 1)],
        train_accuracy=[0.8] * epochs, val_loss=[1.2 / e for e in range(1, epochs + 1)], val_accuracy=[0.75] * epochs,
        lr=[0.1] * epochs, train_seconds=[seconds] * epochs, epoch_seconds=[seconds] * epochs,
        elapsed_seconds=[seconds * e for e in range(1, epochs + 1)], best_epoch=epochs, best_loss=0.4,
        diverged=diverged, test_loss=None if diverged else 0.3, test_accuracy=None if diverged else accuracy)
    return train.RuleResult(train.RuleEntry(label, pyoptim.SGD, {"lr": 0.1}), history)


def fourteen_rules():
    labels = [e.label for e in train.comparison_entries()] + ["Extra1", "Extra2"]
    assert len(labels) >= 14
    return [result(label, 0.90 + 0.004 * i, seconds=0.1 + 0.01 * i) for i, label in enumerate(labels[:14])]


def test_the_first_eighteen_rules_have_eighteen_colours_and_markers_repeat_later_pairs_never():
    styles = [rule_style(i) for i in range(len(RULE_COLOURS))]
    assert len({colour for colour, _ in styles}) == len(RULE_COLOURS) >= 14
    pairs = [rule_style(i) for i in range(3 * len(RULE_COLOURS))]
    assert len(set(pairs)) == len(pairs)  # past eighteen a colour returns, with another marker


def test_the_colours_are_far_apart():
    from matplotlib.colors import to_rgb

    def lab(colour):  # CIELAB, for distances the eye sees
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
        x, y, z = (sum(m * c for m, c in zip(row, linear)) / white for row, white in zip(
            ((0.4124, 0.3576, 0.1805), (0.2126, 0.7152, 0.0722), (0.0193, 0.1192, 0.9505)), (0.95047, 1.0, 1.08883)))
        f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
        return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])

    closest = min(sum((p - q) ** 2 for p, q in zip(lab(a), lab(b))) ** 0.5
                  for a, b in itertools.combinations(RULE_COLOURS, 2))
    assert closest > 20


def test_fourteen_rules_get_fourteen_colours_in_the_curves():
    results = fourteen_rules()
    figure = curves_figure(results, title="t")
    lines = [line for line in figure.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == [r.entry.label for r in results]
    assert len({line.get_color() for line in lines}) == 14
    assert len({(line.get_color(), line.get_marker()) for line in lines}) == 14


def test_the_figure_has_a_summary_panel_best_rule_first():
    results = fourteen_rules() + [result("Broken", None, diverged=True)]
    figure = curves_figure(results)
    assert len(figure.axes) == 6  # loss and accuracy per epoch and against time, and the two summary panels
    accuracy, speed = figure.axes[4], figure.axes[5]
    assert accuracy.get_xlabel() == "final test accuracy (%)" and speed.get_xlabel().startswith("seconds per epoch")
    top_down = [label.get_text() for _, label in sorted(zip(accuracy.get_yticks(), accuracy.get_yticklabels()),
                                                         key=lambda tick: -tick[0])]
    best_first = [r.entry.label for r in by_test_accuracy(results)]
    assert top_down == best_first and best_first[0] == results[13].entry.label and best_first[-1] == "Broken"
    assert len(accuracy.patches) == 14 and len(speed.patches) == 15  # a diverged rule has a speed, no accuracy
    bar_colours = {tuple(bar.get_facecolor()[:3]) for bar in accuracy.patches}
    assert len(bar_colours) == 14
    assert any(text.get_text() == "diverged" for text in accuracy.texts)


def test_the_table_is_sorted_by_test_accuracy_best_first():
    results = [result("Low", 0.91), result("Broken", None, diverged=True), result("High", 0.97),
               result("Middle", 0.95), result("Tie", 0.95)]
    rows = [line.split("|")[1].strip() for line in markdown_table(results).splitlines()[2:]]
    assert rows == ["High", "Middle", "Tie", "Low", "Broken"]
    assert "diverged" in markdown_table(results).splitlines()[-1]
    assert [r.entry.label for r in results] == ["Low", "Broken", "High", "Middle", "Tie"]  # not reordered


def test_plot_curves_writes_a_png(tmp_path):
    train.plot_curves(fourteen_rules()[:3], tmp_path / "compare.png", title="three rules")
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
