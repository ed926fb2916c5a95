"""Settings dataclasses from mappings and YAML files: :func:`from_mapping` and :func:`from_yaml`.

Every settings dataclass of the SDK (the training configs of :mod:`rome_smplx.trainers.config`,
:class:`~rome_smplx.models.rome.RomeProfile`) is built through these two functions, so they agree on
what a bad file says:

* not a mapping, or a key the dataclass does not have: :class:`~rome_smplx.errors.InputError`
  ``"<source>: unknown key(s) [...]; known: [...]"``;
* a value the dataclass's own validation (``__post_init__``) refuses: its message, prefixed with the
  source (the file) unless it already starts with it;
* a missing file or one that is not YAML: ``"<path>: config file not found"`` /
  ``"<path>: not valid YAML: ..."``.

The validation itself stays with each dataclass.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from rome_smplx.errors import InputError

__all__ = ["from_mapping", "from_yaml", "read_yaml"]

T = TypeVar("T")


def _prefixed(source: str, text: str) -> str:
    """``text`` naming ``source`` once: ``"lin.yaml: config.steps: ..."``, never ``"config: config ..."``."""
    if text.startswith(source):
        return text
    return f"{source}: {text[len('config: '):] if text.startswith('config: ') else text}"


def from_mapping(cls: type[T], data: Any, source: str = "config") -> T:
    """An instance of the dataclass ``cls`` from a mapping of its field names.

    Missing keys keep their defaults; values are deep-copied (the instance shares nothing with
    ``data``); the dataclass validates them.

    Args:
        cls: a dataclass.
        data: a mapping of field names to values.
        source: what ``data`` came from (a file name, ``"config"``), at the start of every message.

    Raises:
        InputError: ``data`` is not a mapping, has keys that are not fields, or holds values the
            dataclass refuses (its message, naming ``source``).
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: expected a mapping of settings, found {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in set(data) - names)
    if unknown:
        raise InputError(f"{source}: unknown key(s) {unknown}; known: {sorted(names)}")
    try:
        return cls(**copy.deepcopy(dict(data)))
    except InputError as exc:
        raise InputError(_prefixed(source, str(exc))) from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: {exc}") from None


def read_yaml(path: str | os.PathLike) -> Any:
    """The document of a YAML file (``None`` for an empty one), read with ``yaml.safe_load``.

    Raises:
        InputError: the file is missing or not valid YAML (the message names the file).
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: config file not found")
    try:
        return yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not valid YAML: {exc}") from None


def from_yaml(cls: type[T], path: str | os.PathLike, section: str | None = None) -> T:
    """:func:`from_mapping` on a YAML file; an empty file gives the defaults.

    Args:
        cls: a dataclass.
        path: the YAML file (a mapping of field names).
        section: when the file's top-level mapping has this key with a mapping under it, that
            mapping is used (``linear:`` in a file holding several configs).
    """
    data = read_yaml(path)
    if section is not None and isinstance(data, Mapping) and isinstance(data.get(section), Mapping):
        data = data[section]
    return from_mapping(cls, {} if data is None else data, str(Path(path)))
