"""No module imports from a layer above its own (DESIGN.md's order, drawn in ``docs/concepts/design.md``).

Every ``import`` and ``from ... import`` of every module under ``rome_smplx/``, ``bridges/`` and
``trainers/`` is read from the source with :mod:`ast`, including imports inside functions and
``TYPE_CHECKING`` blocks, and relative imports are resolved. A module may import from its own part of
the package (``avatar.full_body`` from ``avatar.head``) and from any part of a lower layer; an import
from a part on the same layer or a higher one fails with the module, the line and both layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Source folder -> the package name it is installed as (``package-dir`` in pyproject.toml).
ROOTS = {"rome_smplx": "rome_smplx", "bridges": "rome_smplx.bridges", "trainers": "rome_smplx.trainers"}

#: The layers, bottom to top. Each entry lists the parts of the package on that layer (a subpackage or
#: a top-level module of ``rome_smplx``; ``""`` is the package's own ``__init__``, the facade
#: ``import rome_smplx as rs`` sees). The same table is drawn in docs/concepts/design.md.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("checks",),
    ("types",),
    ("geometry",),
    ("io", "render"),
    ("assets",),
    ("models",),
    ("weights",),
    ("bridges", "metrics", "avatar"),
    ("",),
    ("trainers", "pipeline"),
    ("evaluation", "edit", "batch", "demo"),
    ("cli",),
)
RANK = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (source file, is a package ``__init__``)."""
    out = {}
    for folder, package in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = [package, *path.relative_to(REPO / folder).with_suffix("").parts]
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def part_of(module: str) -> str:
    """The part of the package ``module`` belongs to (``rome_smplx.models.rome.unet`` -> ``models``)."""
    names = module.split(".")
    assert names[0] == "rome_smplx", module
    return names[1] if len(names) > 1 else ""


def imports_of(module: str) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import of ``rome_smplx`` code in ``module``'s source.

    ``from rome_smplx.x import y`` counts as an import of ``rome_smplx.x.y`` when that is a module,
    else of ``rome_smplx.x``.
    """
    path, is_pkg = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module.split(".") if is_pkg else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((node.lineno, sub if sub in MODULES else target))
    return [(line, name) for line, name in out if name == "rome_smplx" or name.startswith("rome_smplx.")]


def test_every_part_has_a_layer() -> None:
    parts = {part_of(m) for m in MODULES}
    assert len(MODULES) > 80  # the walk found the sources
    assert parts - set(RANK) == set(), f"parts of the package missing from LAYERS: {sorted(parts - set(RANK))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_higher_layer(module: str) -> None:
    mine = part_of(module)
    bad = []
    for line, target in imports_of(module):
        theirs = part_of(target)
        if theirs != mine and RANK[theirs] >= RANK[mine]:
            bad.append(f"line {line}: imports {target} (layer {RANK[theirs]} '{theirs or 'rome_smplx'}'), "
                       f"but {module} is on layer {RANK[mine]} '{mine or 'rome_smplx'}'")
    assert not bad, f"{module} reaches up or sideways:\n  " + "\n  ".join(bad)


def test_the_check_sees_function_level_and_relative_imports(tmp_path, monkeypatch) -> None:
    """The walk finds an import inside a function and resolves a relative one (a check that finds
    nothing would pass trivially)."""
    src = tmp_path / "fake.py"
    src.write_text("def f():\n    from rome_smplx.bridges import pixie\n    from ..avatar import head\n")
    monkeypatch.setitem(MODULES, "rome_smplx.io.fake", (src, False))
    found = imports_of("rome_smplx.io.fake")
    assert (2, "rome_smplx.bridges.pixie") in found
    assert (3, "rome_smplx.avatar.head") in found
    with pytest.raises(AssertionError, match=r"line 2: imports rome_smplx.bridges.pixie \(layer 8"):
        test_no_import_from_a_higher_layer("rome_smplx.io.fake")
