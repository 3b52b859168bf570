"""The layout tells the architecture: each part of the package imports only the
layers below it (ARCHITECTURE.md, "What each folder may import"), and no two
modules import each other."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pyoptim"

# Part of the package -> the parts of pyoptim it may import (besides the standard
# library, NumPy and its own modules). Adapters name their third-party library.
MAY_IMPORT = {
    "_checks": set(),
    "_atomic": set(),
    "_progress": set(),
    "memory": {"_checks"},
    "optim": {"_core", "_checks", "memory"},
    "reference": {"optim"},
    "kernels": {"_core", "_checks", "optim"},
    "lr_scheduler": {"_checks", "optim"},
    "flat": {"_checks", "memory"},
    "nn": {"_core", "_checks", "_atomic", "flat", "memory"},
    "datasets": {"_checks", "_atomic", "_progress"},
    "distributed": {"_core", "_checks", "flat", "memory", "optim"},  # and mpi4py
    "train": {"_core", "_checks", "_atomic", "_progress", "optim", "lr_scheduler", "nn", "datasets", "flat",
              "memory", "distributed", "num_threads", "set_num_threads", "get_num_threads"},
    "cli": {"train", "_checks", "_progress", "num_threads", "set_num_threads", "get_num_threads", "optim",
            "datasets", "distributed", "simd_info", "__version__"},
    "__main__": {"cli"},
    "torch": {"_core", "_checks", "optim"},
    "sklearn": {"_checks", "nn", "train", "optim", "num_threads"},
}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def pyoptim_imports(path: Path):
    """(module-level?, imported part of pyoptim) for each import of pyoptim in `path`."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    depth = len(path.relative_to(PACKAGE).parts) - 1  # packages between pyoptim and the file
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "pyoptim":
                names = node.module.split(".")[1:] or [a.name for a in node.names]
            elif node.level == depth + 1:  # relative to pyoptim itself
                names = node.module.split(".") if node.module else [a.name for a in node.names]
            else:
                continue
            yield id(node) in top, names[0]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "pyoptim" and "." in a.name:
                    yield id(node) in top, a.name.split(".")[1]


def test_each_part_imports_only_the_layers_below():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        part = part_of(path)
        if part == "__init__" or part not in MAY_IMPORT:
            continue
        for _, name in pyoptim_imports(path):
            if name != part and name not in MAY_IMPORT[part]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports pyoptim.{name}")
    assert not wrong, "\n".join(wrong)


def test_every_part_is_placed():
    parts = {part_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert parts <= set(MAY_IMPORT), sorted(parts - set(MAY_IMPORT))


def test_no_import_cycles_between_modules():
    """Module-level imports between the modules of each package form no cycle."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        edges = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    edges.add(candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists()
                              else target)
        graph[module] = {e for e in edges if e != module}

    visiting, done, cycles = set(), set(), []

    def visit(node, stack):
        if node in done or node not in graph:
            return
        if node in visiting:
            cycles.append(stack[stack.index(node):] + [node])
            return
        visiting.add(node)
        for nxt in graph[node]:
            # a package's __init__ importing its own modules is the package's interface, not a cycle
            if not nxt.startswith(node + "."):
                visit(nxt, stack + [nxt])
        visiting.discard(node)
        done.add(node)

    for module in graph:
        visit(module, [module])
    assert not cycles, cycles
