"""griffe extension: parameters documented together (``pred, target: (B, 3, H, W) images``).

The SDK's docstrings describe parameters that share a meaning on one line, names separated by commas.
griffe's Google-style parser reads one name per entry, so before parsing this extension writes such an
entry once per name, each with the shared description. Names that are not in the signature are still
reported by griffe, one by one.

It also documents module constants assigned together (``PART_BODY, PART_FACE = 0, 1``), which griffe's
static analysis skips: each name becomes an attribute with its own value.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params|Other Parameters|Keyword Args):\s*$")
_GROUPED = re.compile(r"^(\s+)(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)(\s*\([^)]*\))?:(\s.*|)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_grouped(text: str) -> str:
    """``a, b: text`` entries of the parameter sections rewritten as ``a: text`` and ``b: text``."""
    lines = text.splitlines()
    out: list[str] = []
    i, section = 0, None
    while i < len(lines):
        line = lines[i]
        m = _SECTION.match(line)
        if m:
            section = _indent(line)
            out.append(line)
            i += 1
            continue
        if section is not None and line.strip() and _indent(line) <= section:
            section = None
        g = _GROUPED.match(line) if section is not None else None
        if not g:
            out.append(line)
            i += 1
            continue
        pad, names, kind, rest = g.group(1), g.group(2), g.group(3) or "", g.group(4)
        body = []
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > len(pad)):
            if not lines[j].strip() and (j + 1 >= len(lines) or _indent(lines[j + 1]) <= len(pad)):
                break
            body.append(lines[j])
            j += 1
        for name in (n.strip() for n in names.split(",")):
            out.append(f"{pad}{name}{kind}:{rest}")
            out.extend(body)
        i = j
    return "\n".join(out)


class GroupedParameters(griffe.Extension):
    """Split grouped parameter entries of functions and classes before their docstrings are parsed."""

    def _fix(self, obj: Any) -> None:
        if obj.docstring is not None and "," in obj.docstring.value:
            obj.docstring.value = split_grouped(obj.docstring.value)

    def on_function_instance(self, *, node: Any, func: griffe.Function, agent: Any, **kwargs: Any) -> None:
        self._fix(func)

    def on_class_instance(self, *, node: Any, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        self._fix(cls)

    def on_module_members(self, *, node: Any, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        if not isinstance(node, ast.Module):
            return
        for stmt in node.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                continue
            target, value = stmt.targets[0], stmt.value
            if not (isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                    and len(target.elts) == len(value.elts)):
                continue
            for name, val in zip(target.elts, value.elts):
                if isinstance(name, ast.Name) and name.id not in mod.members:
                    mod.set_member(name.id, griffe.Attribute(
                        name.id, value=ast.unparse(val), lineno=stmt.lineno, endlineno=stmt.end_lineno))
