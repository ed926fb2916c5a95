"""The documentation site builds with ``mkdocs build --strict`` and documents every public name.

The API reference is generated from the docstrings when the site is built (``docs/hooks/cli_ref.py``
expands one page per subpackage), so a public name that is not rendered, or a docstring griffe cannot
read, fails here.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The subpackages of DESIGN.md's layout (and the top-level modules beside them) whose public names
#: the API reference must hold. ``cli`` has its own page (the CLI reference).
PACKAGES = (
    "rome_smplx.assets", "rome_smplx.assets.synthetic", "rome_smplx.geometry", "rome_smplx.io",
    "rome_smplx.metrics", "rome_smplx.models", "rome_smplx.models.rome", "rome_smplx.render",
    "rome_smplx.render.raster", "rome_smplx.avatar", "rome_smplx.bridges", "rome_smplx.trainers",
    "rome_smplx.weights",
)
TOP_MODULES = ("rome_smplx.errors", "rome_smplx.checks", "rome_smplx.types", "rome_smplx.pipeline")


def _modules(package: str) -> list[ModuleType]:
    """The package and its public modules (recursively), imported."""
    pkg = importlib.import_module(package)
    out = [pkg]
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            name = f"{package}.{info.name}"
            out.extend(_modules(name) if info.ispkg else [importlib.import_module(name)])
    return out


def _public_names(mod: ModuleType) -> list[str]:
    """``__all__``, or else the classes and functions the module defines under public names."""
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    return [
        n for n, v in vars(mod).items()
        if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", None) == mod.__name__
    ]


def _candidates(mod: ModuleType, name: str, tree: list[str]) -> set[str]:
    """Anchors under which ``mod.name`` may be documented: where it is defined, else any module of
    its package tree that holds the name (constants carry no ``__module__``)."""
    obj = getattr(mod, name)
    if inspect.ismodule(obj):
        return {obj.__name__}
    where = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and where and where.startswith("rome_smplx") and qual:
        return {f"{where}.{qual}"}
    return {f"{m}.{name}" for m in tree}


def _expected() -> dict[str, set[str]]:
    """Public name (as ``module.name``) -> the anchors that would document it."""
    import rome_smplx

    expected: dict[str, set[str]] = {}
    everything = [m.__name__ for p in PACKAGES for m in _modules(p)] + ["rome_smplx", *TOP_MODULES]
    for name in rome_smplx.__all__:
        expected[f"rome_smplx.{name}"] = _candidates(rome_smplx, name, everything)
    for package in PACKAGES:
        mods = _modules(package)
        tree = [m.__name__ for m in mods]
        for mod in mods:
            for name in _public_names(mod):
                expected[f"{mod.__name__}.{name}"] = _candidates(mod, name, tree)
    for modname in TOP_MODULES:
        mod = importlib.import_module(modname)
        expected[modname] = {modname}
        for name in _public_names(mod):
            expected[f"{modname}.{name}"] = _candidates(mod, name, [modname])
    return expected


def _commands(cmd: click.Command, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            if not sub.hidden:
                out += _commands(sub, (*path, name))
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-d", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=540, env=env,
    )
    log = proc.stdout + proc.stderr
    problems = [line for line in log.splitlines() if re.match(r"(WARNING|ERROR)\b", line)]
    assert proc.returncode == 0 and not problems, "mkdocs build --strict failed:\n" + "\n".join(problems or [log[-4000:]])
    return out


@pytest.mark.slow
def test_site_builds_and_api_reference_has_every_public_name(site: Path) -> None:
    ids: set[str] = set()
    for page in (site / "api").rglob("index.html"):
        ids.update(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))
    expected = _expected()
    assert len(expected) > 200  # the walk found the packages (not an empty set that passes trivially)
    missing = sorted(name for name, anchors in expected.items() if not anchors & ids)
    assert not missing, f"{len(missing)} public names missing from the API reference: {missing[:40]}"


@pytest.mark.slow
def test_cli_reference_lists_every_command(site: Path) -> None:
    from rome_smplx.cli import main

    page = (site / "cli" / "index.html").read_text(encoding="utf-8")
    headings = set(re.findall(r'<h[2-6] id="([^"]+)"', page))
    paths = _commands(main, ("rome-smplx",))
    assert len(paths) > 5
    missing = [" ".join(p) for p in paths if "-".join(p) not in headings]
    assert not missing, f"commands missing from the CLI reference: {missing}"
    for path in paths:  # every option of every command is listed with its help
        cmd = main
        for name in path[1:]:
            cmd = cmd.commands[name]
        for param in cmd.params:
            if getattr(param, "hidden", False):
                continue
            for opt in getattr(param, "opts", []):
                if isinstance(param, click.Option):
                    assert f"<code>{opt}" in page or f" {opt}" in page, f"{' '.join(path)}: {opt} not documented"


@pytest.mark.slow
def test_pages_of_the_nav_are_built_with_their_pictures(site: Path) -> None:
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(entry):
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, list):
            for e in entry:
                yield from pages(e)
        elif isinstance(entry, dict):
            for v in entry.values():
                yield from pages(v)

    listed = list(pages(nav))
    assert "training.md" in listed and "api/index.md" in listed
    if (ROOT / "docs" / "training_distributed.md").is_file():  # optional page, added to the nav by the hook
        assert (site / "training_distributed" / "index.html").is_file()
    for md in listed:
        html = site / (md[: -len(".md")] + "/index.html" if not md.endswith("index.md") else md[: -len(".md")] + ".html")
        assert html.is_file(), f"{md} was not built"
        for src in re.findall(r'<img[^>]+src="([^"]+)"', html.read_text(encoding="utf-8")):
            if not src.startswith(("http:", "https:", "data:")):
                assert (html.parent / src).resolve().is_file(), f"{md}: picture {src} missing from the site"
