"""The restricted unpickler, kept under its former name.

It lives in :mod:`rome_smplx.io.pickle_safe` (reading untrusted files is input/output, and the DECA
and PIXIE readers in ``io`` use it); ``rome_smplx.assets.load_pickle`` and this module re-export it.
"""

from rome_smplx.io.pickle_safe import (  # noqa: F401  (re-exported)
    ChumpyStandIn,
    RestrictedUnpickler,
    load_npy,
    load_pickle,
    loads_restricted,
)
