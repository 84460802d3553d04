"""The tree draws the architecture: no module imports from a layer above its own.

Layers, bottom to top (docs/architecture.md): core → zoo → results → analyses
→ views → studies → cli. Analyses may use one another (a path is evaluated on
a surface's grid; a landscape asks curvature for its eigenvectors).
"""

import ast
from pathlib import Path

import lossatlas

PACKAGE = Path(lossatlas.__file__).parent
LAYERS = {
    "core": 0,
    "zoo": 1,
    "results": 2,
    **dict.fromkeys(("surface", "curvature", "paths", "geometry", "topology", "optim"), 3),
    **dict.fromkeys(("plot", "report"), 4),
    "studies": 5,
    "cli": 6,
}
# names the package root re-exports, by the layer they come from
ROOT_NAMES = {
    **dict.fromkeys(("Objective", "DeterminismError", "ParamSpace", "ParamEntry"), "core"),
    "CheckpointMismatch": "core",
    "__version__": "core",
    "save_checkpoint": "results",
}


def _imported(tree: ast.AST) -> set[str]:
    """Every lossatlas module a file imports, at top level or inside a function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lossatlas":
                found.update(f"lossatlas.{a.name}" for a in node.names)
            elif node.module.startswith("lossatlas."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lossatlas."))
    return found


def test_every_top_level_entry_is_a_layer():
    entries = {
        p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert entries - {"__init__", "__main__"} == set(LAYERS)


def test_nothing_imports_upward():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:
            continue  # the package's own __init__ and __main__ sit above every layer
        own = LAYERS[parts[0]]
        for module in _imported(ast.parse(path.read_text())):
            top = module.split(".")[1]
            top = ROOT_NAMES.get(top, top)
            assert top in LAYERS, f"{path}: imports {module}, which is in no layer"
            if LAYERS[top] > own:
                upward.append(f"{'/'.join(parts)} imports {module}")
    assert not upward, "\n".join(upward)
