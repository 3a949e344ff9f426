"""The package's one structural rule, checked on the code's imports (at module level and inside functions):

* the core (the modules at the top of ``plm_recipes/`` and its core packages ``data/``, ``metrics/``) imports no
  family and no layer;
* a family imports the core and the layers declared for it, never another family;
* a layer imports the core only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plm_recipes"
CORE_PACKAGES = {"data", "metrics"}
# a layer: code two families share that is no family's own, and the families that may use it
LAYERS = {"pairs": {"matching", "sentence_embedding"}}


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every module (or name in a module) ``path`` imports, relative imports resolved
    against ``package`` (the dotted package ``path`` is in)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # `from .. import matching` imports a package by name
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names] if not node.module else \
                [(node.lineno, module)]
    return found


def violations(root: Path) -> list[str]:
    """Every import in the package at ``root`` that breaks the rule, as ``file:line: what``."""
    name = root.name
    units = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} - CORE_PACKAGES
    broken = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        owner = relative.parts[0] if len(relative.parts) > 1 and relative.parts[0] in units else None
        package = ".".join([name, *relative.parts[:-1]])
        for line, module in imported_modules(path, package):
            parts = module.split(".")
            if parts[0] != name or len(parts) < 2 or parts[1] not in units or parts[1] == owner:
                continue
            target = parts[1]
            if owner is None:
                broken.append(f"{relative}:{line}: the core imports {module}")
            elif owner in LAYERS:
                broken.append(f"{relative}:{line}: the layer {owner} imports {module}")
            elif target not in LAYERS:
                broken.append(f"{relative}:{line}: the family {owner} imports another family's {module}")
            elif owner not in LAYERS[target]:
                broken.append(f"{relative}:{line}: the family {owner} imports the layer {target}, which is not "
                              f"declared for it (LAYERS)")
    return broken


def test_the_package_keeps_the_rule():
    assert violations(PACKAGE) == []


def test_every_package_is_a_family_a_layer_or_core():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert CORE_PACKAGES <= packages and set(LAYERS) <= packages
    assert "sentence_embedding" in packages and "matching" in packages


@pytest.mark.parametrize(("file", "source", "expected"), [
    ("cli.py", "from .matching import cli\n", "cli.py:1: the core imports fake.matching"),
    ("loading.py", "def f():\n    import fake.extraction.modeling\n", "loading.py:2: the core imports fake.extraction"),
    ("data/readers.py", "from ..pairs.data import read_pairs\n", "the core imports fake.pairs.data"),
    ("matching/cli.py", "from ..extraction import schema\n", "the family matching imports another family's"),
    ("matching/x.py", "from fake.extraction.schema import parse\n", "the family matching imports another family's"),
    ("extraction/x.py", "from ..pairs import read_pairs\n", "the layer pairs, which is not declared for it"),
    ("pairs/x.py", "from ..matching.data import Category\n", "the layer pairs imports fake.matching.data"),
    ("data/__init__.py", "from .. import matching\n", "the core imports fake.matching"),
])
def test_a_broken_rule_is_found(tmp_path, file, source, expected):
    root = tmp_path / "fake"
    for package in ("", "data", "metrics", "matching", "extraction", "pairs", "sentence_embedding"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "matching" / "ok.py").write_text("from ..pairs.data import read_pairs\nfrom ..loading import x\n")
    (root / "pairs" / "ok.py").write_text("from ..data.readers import read_records\n")
    assert violations(root) == []
    (root / file).write_text(source)
    found = violations(root)
    assert len(found) == 1 and expected in found[0], found
