"""The suite writes its caches into the session's temporary folder (conftest's autouse fixture)."""

from __future__ import annotations

import os
from pathlib import Path


def test_caches_point_into_the_session_temp_folder(tmp_path_factory):
    import torch.hub

    from rome_smplx.assets import cache_root

    base = tmp_path_factory.getbasetemp().resolve()
    home = Path.home().resolve()
    for name, path in (("cache_root()", cache_root()), ("torch.hub", Path(torch.hub.get_dir())),
                       ("XDG_CACHE_HOME", Path(os.environ["XDG_CACHE_HOME"])), ("HF_HOME", Path(os.environ["HF_HOME"])),
                       ("MPLCONFIGDIR", Path(os.environ["MPLCONFIGDIR"]))):
        p = path.resolve()
        assert p.is_relative_to(base), f"{name} = {p} is outside the session's temp folder {base}"
        assert not p.is_relative_to(home / ".cache"), name
