"""Resource limits of the readers and writers (no heavy imports: the CLI shows them in its help).

* :data:`DEFAULT_MAX_PIXELS`: image files with more pixels are refused before decoding
  (``--max-pixels``; a 12 000 x 12 500 photo fits).
* :data:`MAX_FRAMES` / :data:`MAX_OUTPUT_BYTES`: an animation longer than this, or whose meshes
  would take more space, needs ``--max-frames`` or ``--yes``.
"""

from __future__ import annotations

DEFAULT_MAX_PIXELS = 150_000_000
MAX_FRAMES = 10_000
MAX_OUTPUT_BYTES = 4 * 1024**3

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_FRAMES", "MAX_OUTPUT_BYTES"]
