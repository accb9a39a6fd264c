"""Where seedlock keeps its own state (hash cache, model index, built models)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$SEEDLOCK_HOME`` if set, else the user cache directory (``~/.cache/seedlock`` on Linux).

    Everything stored here can be rebuilt: it is a cache, never the only copy of anything.
    """
    env = os.environ.get("SEEDLOCK_HOME")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("seedlock", appauthor=False))
