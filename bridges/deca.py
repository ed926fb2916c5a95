"""DECA bridge: FLAME parameters from DECA's code dicts.

The format itself (reading and writing code dicts as :class:`~rome_smplx.types.FlameParams`) lives
in :mod:`rome_smplx.io.deca`, the one reader and writer of DECA files, so that the synthetic people,
which sit below the bridges, use the same code. This module is the public entry point and re-exports
it unchanged: ``rome_smplx.bridges.deca.load(path)`` is :func:`rome_smplx.io.deca.load`.
"""

from rome_smplx.io.deca import (  # noqa: F401  (re-exported)
    MAX_EXPRESSION,
    MAX_SHAPE,
    from_codedict,
    load,
    save_codedict,
    to_codedict,
)
