"""Restricted reading of pickled model files (``.pkl``, object ``.npy`` / ``.npz``).

Model files are untrusted input: a pickle can call any importable function while it loads. This
module reads them with an unpickler that resolves only the globals real SMPL-X / FLAME / RingNet /
DECA / ROME files need, and refuses everything else *before* anything is called:

* numpy array, dtype and scalar reconstruction (``numpy.core`` and ``numpy._core`` spellings);
* ``scipy.sparse`` matrices (csc, csr, coo, ...), returned densified as ndarrays;
* chumpy objects (``chumpy.ch.Ch``, ``chumpy.ch_ops.*``, ``chumpy.reordering.*``, ``chumpy.utils``):
  replaced by a stand-in that keeps the pickled state and is turned into the ndarray it holds
  (``state['x']``), so chumpy is never imported and need not be installed;
* pickled torch tensors (DECA's ``landmark_embedding.npy``): the tensor rebuild function, with the
  nested storage bytes read by ``torch.load(weights_only=True)``;
* a few inert helpers pickles use for plain data (``_codecs.encode`` for bytes,
  ``copyreg._reconstructor`` for the stand-ins above, ``collections.OrderedDict``).

Any other global (``os.system``, ``builtins.eval``, ``subprocess.*``, ``torch.load``, ...) raises
:class:`~rome_smplx.errors.AssetError` naming the file and the refused global.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rome_smplx.errors import AssetError

_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_SPARSE_KINDS = ("csc", "csr", "coo", "bsr", "dia", "dok", "lil")


class ChumpyStandIn:
    """Stand-in for a pickled chumpy object: keeps the pickled state, never runs chumpy code."""

    chumpy_name = "chumpy.ch.Ch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], (dict, type(None))):
            # (dict, slots) form of BUILD
            merged = dict(state[0] or {})
            if isinstance(state[1], dict):
                merged.update(state[1])
            state = merged
        self.state = state if isinstance(state, dict) else {"state": state}

    def to_array(self, where: str) -> np.ndarray:
        """The ndarray this chumpy object holds (``state['x']``), or a few reordering/op results."""
        st = self.state
        if "x" in st:
            return np.asarray(_resolve(st["x"], where))
        name = type(self).chumpy_name.rsplit(".", 1)[-1]
        a = _resolve(st.get("a"), where) if "a" in st else None
        b = _resolve(st.get("b"), where) if "b" in st else None
        if a is not None and b is not None and name in ("add", "subtract", "multiply"):
            op = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply}[name]
            return op(np.asarray(a), np.asarray(b))
        if a is not None and name == "transpose":
            return np.transpose(np.asarray(a), st.get("axes"))
        if a is not None and name == "reshape":
            return np.reshape(np.asarray(a), st.get("newshape"))
        raise AssetError(
            f"chumpy object {type(self).chumpy_name} holds no array ('x' missing in its state); "
            "expected a plain chumpy.Ch array",
            path=where,
        )


class SparseStandIn:
    """Stand-in for a pickled ``scipy.sparse`` matrix; densified after loading."""

    kind = "csc"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {}

    def to_array(self, where: str) -> np.ndarray:
        import scipy.sparse as sp

        st = self.state
        shape = st.get("_shape", st.get("shape"))
        try:
            shape = tuple(int(s) for s in shape)
            if self.kind in ("csc", "csr", "bsr"):
                cls = {"csc": sp.csc_matrix, "csr": sp.csr_matrix, "bsr": sp.bsr_matrix}[self.kind]
                m = cls((np.asarray(st["data"]), np.asarray(st["indices"]), np.asarray(st["indptr"])), shape=shape)
            elif self.kind == "coo":
                row = st.get("row", st.get("coords", [None, None])[0])
                col = st.get("col", st.get("coords", [None, None])[1])
                m = sp.coo_matrix((np.asarray(st["data"]), (np.asarray(row), np.asarray(col))), shape=shape)
            elif self.kind == "dia":
                m = sp.dia_matrix((np.asarray(st["data"]), np.asarray(st["offsets"])), shape=shape)
            else:
                raise KeyError(f"unsupported sparse kind {self.kind}")
            return np.asarray(m.toarray())
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise AssetError(
                f"pickled scipy.sparse {self.kind} matrix is malformed ({type(e).__name__}: {e})", path=where
            ) from None


def _make_chumpy(qualname: str) -> type:
    return type("Chumpy_" + qualname.replace(".", "_"), (ChumpyStandIn,), {"chumpy_name": qualname})


def _make_sparse(kind: str) -> type:
    return type(f"Sparse_{kind}", (SparseStandIn,), {"kind": kind})


_STANDIN_CACHE: dict[str, type] = {}


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` limited to the stand-in classes (protocol 0/1 pickles)."""
    if not (isinstance(cls, type) and issubclass(cls, (ChumpyStandIn, SparseStandIn))) or base is not object:
        raise pickle.UnpicklingError(f"copyreg._reconstructor refused for {cls!r}")
    obj = cls.__new__(cls)
    obj.__init__()
    return obj


def _safe_codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as pickles use it for bytes: str -> bytes only."""
    if not isinstance(obj, str) or not isinstance(encoding, str):
        raise pickle.UnpicklingError("_codecs.encode refused for non-string input")
    return obj.encode(encoding, errors)


def _safe_storage_from_bytes(b: bytes) -> Any:
    """``torch.storage._load_from_bytes`` with ``weights_only=True`` (the original allows any code)."""
    import torch

    if not isinstance(b, (bytes, bytearray)):
        raise pickle.UnpicklingError("torch storage payload is not bytes")
    return torch.load(io.BytesIO(bytes(b)), weights_only=True)


def _lookup(module: str, name: str) -> Any:
    """The object a pickle may bind to ``module.name``, or ``None`` when refused."""
    if module in _NUMPY_MODULES or module in ("numpy.core.multiarray", "numpy"):
        import numpy.core.multiarray as ma

        table = {"_reconstruct": ma._reconstruct, "scalar": ma.scalar}
        if module == "numpy":
            table = {"ndarray": np.ndarray, "dtype": np.dtype}
        return table.get(name)
    if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
        from numpy.core.numeric import _frombuffer

        return _frombuffer
    if module == "numpy.dtypes" and name.endswith("DType"):
        import numpy.dtypes as nd

        obj = getattr(nd, name, None)
        return obj if isinstance(obj, type) and issubclass(obj, np.dtype) else None
    if module.startswith("scipy.sparse"):
        for kind in _SPARSE_KINDS:
            if name == f"{kind}_matrix" or name == f"{kind}_array":
                key = f"sparse:{kind}"
                if key not in _STANDIN_CACHE:
                    _STANDIN_CACHE[key] = _make_sparse(kind)
                return _STANDIN_CACHE[key]
        return None
    if module == "chumpy" or module.startswith("chumpy."):
        key = f"{module}.{name}"
        if key not in _STANDIN_CACHE:
            _STANDIN_CACHE[key] = _make_chumpy(key)
        return _STANDIN_CACHE[key]
    if module in ("copy_reg", "copyreg") and name == "_reconstructor":
        return _safe_reconstructor
    if module in ("__builtin__", "builtins") and name == "object":
        return object
    if module in ("__builtin__", "builtins") and name in ("set", "frozenset", "complex", "slice"):
        import builtins

        return getattr(builtins, name)
    if module == "_codecs" and name == "encode":
        return _safe_codecs_encode
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
        import torch._utils as tu

        return getattr(tu, name)
    if module == "torch.storage" and name == "_load_from_bytes":
        return _safe_storage_from_bytes
    return None


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in this module's docstring."""

    def __init__(self, file: BinaryIO, where: str) -> None:
        super().__init__(file, encoding="latin1")
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        obj = _lookup(module, name)
        if obj is None:
            raise AssetError(
                f"refused to load: the pickle references the global '{module}.{name}', which a model "
                "file never needs (only numpy arrays, scipy.sparse matrices, chumpy arrays and tensors "
                "are allowed); the file is corrupt or malicious",
                path=self.where,
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise AssetError("refused to load: the pickle uses persistent ids (not a plain model pickle)", path=self.where)


def _resolve(obj: Any, where: str, _depth: int = 0) -> Any:
    """Replace stand-ins by ndarrays, recursively through dicts, lists, tuples and object arrays."""
    if _depth > 50:
        raise AssetError("pickled data nests too deeply", path=where)
    if isinstance(obj, (ChumpyStandIn, SparseStandIn)):
        return obj.to_array(where)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, where, _depth + 1)) for k, v in obj.items()) if isinstance(
            obj, collections.OrderedDict
        ) else {k: _resolve(v, where, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, where, _depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v, where, _depth + 1) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        out = np.empty(obj.shape, dtype=object)
        for i, v in np.ndenumerate(obj):
            out[i] = _resolve(v, where, _depth + 1)
        return out
    return obj


def loads_restricted(data: bytes | BinaryIO, where: str | Path) -> Any:
    """Unpickle ``data`` (bytes or a binary stream) with the restricted unpickler.

    Args:
        data: the pickle bytes or an open binary stream positioned at the pickle.
        where: the file name used in error messages.

    Raises:
        AssetError: on a refused global or any malformed pickle.
    """
    where = str(where)
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        obj = RestrictedUnpickler(stream, where).load()
    except AssetError:
        raise
    except RecursionError:
        raise AssetError("cannot unpickle: the pickle nests too deeply", path=where) from None
    except MemoryError:
        raise AssetError("cannot unpickle: the pickle asks for more memory than available", path=where) from None
    except Exception as e:  # UnpicklingError, EOFError, ValueError, TypeError, ... from corrupt bytes
        from rome_smplx.io.checkpoints import _unpickler_detail

        raise AssetError(
            f"cannot unpickle: the file is truncated or corrupt ({type(e).__name__}: {_unpickler_detail(str(e))})",
            path=where,
        ) from None
    return _resolve(obj, where)


def load_pickle(path: str | Path) -> Any:
    """Load a model ``.pkl`` file safely (latin1 encoding, restricted globals).

    chumpy arrays come back as ndarrays, scipy.sparse matrices densified.

    Raises:
        AssetError: the file is missing, a directory, empty, corrupt, or references a refused global.
    """
    path = Path(path)
    data = _read_bytes(path)
    return loads_restricted(data, path)


def check_file(path: Path) -> None:
    """Raise :class:`~rome_smplx.errors.AssetError` naming ``path`` if it is missing, a directory or empty."""
    if not path.exists():
        raise AssetError("file not found", path=path)
    if path.is_dir():
        raise AssetError("expected a file, found a directory", path=path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise AssetError(f"cannot stat ({e.strerror or e})", path=path) from None
    if size == 0:
        raise AssetError("the file is empty (0 bytes)", path=path)


def _read_bytes(path: Path) -> bytes:
    check_file(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AssetError(f"cannot read ({e.strerror or e})", path=path) from None
    if not data:
        raise AssetError("the file is empty (0 bytes)", path=path)
    return data


def _read_npy_stream(fp: BinaryIO, where: str) -> np.ndarray:
    """Read one ``.npy`` array from ``fp``; object arrays go through the restricted unpickler."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except AssetError:
        raise
    except Exception as e:
        raise AssetError(f"not a valid .npy array ({type(e).__name__}: {e})", path=where) from None
    if dtype.hasobject:
        obj = loads_restricted(fp, where)
        if not isinstance(obj, np.ndarray):
            # numpy pickles the whole object array; anything else is not a .npy payload
            raise AssetError(f"object .npy payload is a {type(obj).__name__}, expected an ndarray", path=where)
        return obj
    count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    nbytes = count * dtype.itemsize
    raw = fp.read(nbytes)
    if len(raw) != nbytes:
        raise AssetError(
            f"truncated .npy array: header says {shape} {dtype} ({nbytes} bytes), found {len(raw)} bytes",
            path=where,
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count)
    if fortran:
        return arr.reshape(shape[::-1]).transpose().copy()
    return arr.reshape(shape).copy()


def load_npy(path: str | Path) -> Any:
    """Load a ``.npy`` (ndarray) or ``.npz`` (dict of ndarrays) file with restricted pickles.

    A 0-d object array (RingNet's ``flame_dynamic_embedding.npy``, DECA's ``landmark_embedding.npy``)
    is returned as the object it holds (usually a dict).

    Raises:
        AssetError: the file is missing, empty, truncated, not numpy data, or holds a refused global.
    """
    path = Path(path)
    data = _read_bytes(path)
    where = str(path)
    if data[:4] == b"PK\x03\x04" or path.suffix == ".npz":
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            out = {}
            for name in zf.namelist():
                key = name.removesuffix(".npy")
                with zf.open(name) as member:
                    out[key] = _read_npy_stream(io.BytesIO(member.read()), f"{where}[{key}]")
            return out
        except AssetError:
            raise
        except Exception as e:  # BadZipFile, zlib.error, EOFError, ...
            raise AssetError(f"not a readable .npz archive ({type(e).__name__}: {e})", path=path) from None
    arr = _read_npy_stream(io.BytesIO(data), where)
    if arr.dtype == object and arr.shape == ():
        return arr[()]
    return arr


__all__ = ["ChumpyStandIn", "RestrictedUnpickler", "check_file", "load_npy", "load_pickle", "loads_restricted"]
