"""mkdocs hook: pages generated from the code when the site is built.

Markers in a page's markdown are replaced before it is rendered:

* ``<!-- cli-reference -->``: the ``rome-smplx`` command tree, walked from :data:`rome_smplx.cli.main`
  (usage line, help text, arguments and options of every command and group, nested groups included),
  so a command added to the CLI appears without editing the docs;
* ``<!-- api: PACKAGE -->``: the package's docstring followed by one mkdocstrings block per public
  module of ``PACKAGE`` (modules whose names start with ``_`` and subpackages are skipped; each
  subpackage has its own page). Words after the package name: ``modules-only`` leaves out the
  package's own block, ``exclude=a,b`` leaves out those modules. ``<!-- api-module: MODULE -->`` adds
  one module by name;
* ``<!-- asset-table -->``: the asset folder's files from :data:`rome_smplx.assets.layout.SPECS`
  (what ``rome-smplx assets where`` prints);
* ``<!-- if-exists: PATH -->`` ... ``<!-- end-if -->``: kept only when ``PATH`` (relative to the
  docs folder) exists, for pictures other commands write;
* ``{{ json: FILE KEY [FORMAT] }}``: a value of a JSON file of the repository (``FILE`` relative to
  the repository root, ``KEY`` a dotted path, list items by index), formatted with ``FORMAT`` (a
  ``format()`` spec such as ``.1f``; ``1/:.0f`` formats the reciprocal, ``*1000:.1f`` the value
  times 1000). Measured numbers are quoted from the files the benchmarks write,
  and a key that is not there fails the build.

An optional page (``training_distributed.md``) is added to the navigation under "Training" when the
file exists.

``rome_smplx.bridges`` and ``rome_smplx.trainers`` live in top-level folders and are mapped into the
package by ``[tool.setuptools] package-dir``. Static analysis only sees one folder per package, so
before mkdocstrings starts the hook lays out a temporary tree of symbolic links as the package is
installed (a top-level folder is linked in when ``rome_smplx.<folder>`` imports from it) and points
the Python handler's ``paths`` at it. griffe's messages name files by their path in that tree.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import pkgutil
import re
import shutil
import tempfile
from pathlib import Path

import click
from mkdocs.plugins import event_priority

_API = re.compile(r"<!--\s*api:\s*([\w.]+)((?:\s+[\w=.,-]+)*)\s*-->")
_API_MODULE = re.compile(r"<!--\s*api-module:\s*([\w.]+)\s*-->")
_IF_EXISTS = re.compile(r"<!--\s*if-exists:\s*(\S+)\s*-->(.*?)<!--\s*end-if\s*-->", re.S)
_JSON = re.compile(r"\{\{\s*json:\s*(\S+)\s+(\S+)(?:\s+(\S+))?\s*\}\}")
OPTIONAL_NAV = {"training_distributed.md": ("Training", "Many GPUs, nodes and Ray")}


def public_modules(package: str) -> list[str]:
    """Dotted names of the public, non-package modules directly inside ``package``."""
    pkg = importlib.import_module(package)
    out = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        out.append(f"{package}.{info.name}")
    return sorted(out)


def _api_block(name: str, *, members: bool = True) -> str:
    lines = [f"::: {name}"]
    if not members:
        lines += ["    options:", "      members: false"]
    return "\n".join(lines) + "\n"


def api_markdown(package: str, words: str = "") -> str:
    """The package docstring, then every public module of it (see the module docstring for ``words``)."""
    flags = words.split()
    exclude = {f"{package}.{n}" for w in flags if w.startswith("exclude=") for n in w[8:].split(",")}
    parts = [] if "modules-only" in flags else [_api_block(package, members=False)]
    parts += [_api_block(m) for m in public_modules(package) if m not in exclude]
    return "\n".join(parts)


def _md(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
    return text.replace("_", "\\_").replace("*", "\\*")


def _params(cmd: click.Command, ctx: click.Context) -> list[str]:
    rows = []
    help_option = cmd.get_help_option(ctx)
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Argument):
            kind = p.type.name if p.type is not None else "text"
            req = "required" if p.required else "optional"
            rows.append(f"- `{p.human_readable_name}`: argument ({kind}, {req}).")
            continue
        if p is help_option:  # every command has -h / --help
            continue
        rec = p.get_help_record(ctx)
        if rec is None:
            continue
        names, help_text = rec
        rows.append(f"- `{names}`: {_md(help_text)}" if help_text else f"- `{names}`")
    return [*rows, ""] if rows else []


def _walk(cmd: click.Command, path: list[str], parent: click.Context | None, out: list[str]) -> None:
    ctx = click.Context(cmd, info_name=path[-1], parent=parent, **cmd.context_settings)
    level = min(2 + len(path) - 1, 6)
    out.append(f"{'#' * level} `{' '.join(path)}`\n")
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    out.append(f"```\nUsage: {' '.join(path)} {usage}\n```\n")
    if cmd.help:
        paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(click.unstyle(cmd.help)))
        out.extend(_md(" ".join(p.replace("\b", "").split())) + "\n" for p in paragraphs if p.strip())
    out.extend(_params(cmd, ctx))
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            _walk(sub, [*path, name], ctx, out)


def cli_markdown() -> str:
    """Markdown reference of every ``rome-smplx`` command, generated from the click objects."""
    from rome_smplx.cli import main

    out: list[str] = []
    _walk(main, ["rome-smplx"], None, out)
    return "\n".join(out)


def asset_table() -> str:
    """The licensed files, one row per file the SDK looks for, from the layout module."""
    from rome_smplx.assets.layout import SPECS

    rows = ["| folder | accepted names (first match wins) | needed | what | where to get it |",
            "| --- | --- | --- | --- | --- |"]
    for s in SPECS:
        names = " or ".join(f"`{n}`" for n in s.names)
        need = "required" if s.required else "optional"
        source = re.sub(r"(https?://[^\s),]+)", r"<\1>", s.source).replace("|", "\\|")
        rows.append(f"| `{s.folder}/` | {names} | {need} | {s.what} | {source} |")
    return "\n".join(rows) + "\n"


def json_value(root: Path, file: str, key: str, fmt: str | None = None) -> str:
    """``key`` (dotted; list indices as numbers; a key that itself holds dots is matched whole) of the
    JSON file ``root/file``, formatted by ``fmt``: ``SPEC``, ``*N:SPEC`` (times N) or ``1/:SPEC``."""
    from mkdocs.exceptions import PluginError

    path = root / file
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PluginError(f"json: {file}: cannot read {path}: {e}") from None
    parts, cur = key.split("."), ""
    for i, part in enumerate(parts):
        cur = f"{cur}.{part}" if cur else part
        if isinstance(value, list) and cur.isdigit() and int(cur) < len(value):
            value, cur = value[int(cur)], ""
        elif isinstance(value, dict) and cur in value:
            value, cur = value[cur], ""
        elif i == len(parts) - 1 or not isinstance(value, dict):
            raise PluginError(f"json: {path} has no key {key!r} (stopped at {cur!r})")
    scale, _, spec = (fmt or "").rpartition(":")
    if scale == "1/":
        value = 1.0 / value
    elif scale.startswith("*"):
        value = float(scale[1:]) * value
    elif scale:
        raise PluginError(f"json: {file} {key}: unknown scale {scale!r} (use *N or 1/)")
    return format(value, spec) if spec else str(value)


def _keep_if_exists(docs_dir: Path):
    def repl(m: re.Match) -> str:
        return m.group(2) if (docs_dir / m.group(1)).exists() else ""

    return repl


_VIEW: list[Path] = []


def package_view(root: Path) -> Path:
    """A temporary folder where ``rome_smplx/`` holds the package as installed: its own files plus
    the subpackages that live in other folders of the repository (as symbolic links)."""
    top = "rome_smplx"
    view = Path(tempfile.mkdtemp(prefix="rome-smplx-docs-"))
    pkg = view / top
    pkg.mkdir()
    for entry in (root / top).iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    for folder in sorted(root.iterdir()):
        if not (folder / "__init__.py").is_file() or (pkg / folder.name).exists():
            continue
        try:
            spec = importlib.util.find_spec(f"{top}.{folder.name}")
        except ImportError:
            spec = None
        if spec is not None and spec.origin and Path(spec.origin).resolve().parent == folder.resolve():
            (pkg / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
    _VIEW.append(view)
    return view


@event_priority(100)  # before mkdocstrings reads its handler options
def on_config(config, **kwargs):
    root = Path(config["config_file_path"]).resolve().parent
    python = config["plugins"]["mkdocstrings"].config["handlers"].setdefault("python", {})
    python["paths"] = [str(package_view(root))]
    options = python.setdefault("options", {})
    options["extensions"] = [  # griffe extensions given as paths: relative to mkdocs.yml, not the cwd
        str(root / e.split(":")[0]) + e[len(e.split(":")[0]):]
        if isinstance(e, str) and ".py" in e and not Path(e.split(":")[0]).is_absolute() else e
        for e in options.get("extensions", [])
    ]
    docs_dir = Path(config["docs_dir"])
    nav = config.get("nav") or []
    for page, (section, title) in OPTIONAL_NAV.items():
        if not (docs_dir / page).is_file():
            continue
        listed = any(page in str(entry) for entry in nav)
        if listed:
            continue
        for entry in nav:
            if isinstance(entry, dict) and section in entry:
                value = entry[section]
                entry[section] = [*(value if isinstance(value, list) else [value]), {title: page}]
                break
        else:
            nav.append({title: page})
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    docs_dir = Path(config["docs_dir"])
    markdown = _IF_EXISTS.sub(_keep_if_exists(docs_dir), markdown)
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_markdown())
    if "<!-- asset-table -->" in markdown:
        markdown = markdown.replace("<!-- asset-table -->", asset_table())
    root = Path(config["config_file_path"]).resolve().parent
    markdown = _JSON.sub(lambda m: json_value(root, m.group(1), m.group(2), m.group(3)), markdown)
    markdown = _API.sub(lambda m: api_markdown(m.group(1), m.group(2)), markdown)
    markdown = _API_MODULE.sub(lambda m: _api_block(m.group(1)), markdown)
    return markdown


def on_shutdown(**kwargs) -> None:
    while _VIEW:
        shutil.rmtree(_VIEW.pop(), ignore_errors=True)
