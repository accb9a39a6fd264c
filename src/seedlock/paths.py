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


def data_home() -> Path:
    """Where seedlock keeps what cannot be rebuilt from the files alone (the catalog).

    ``$SEEDLOCK_DATA`` if set, else ``$SEEDLOCK_HOME`` (so tests and sandboxes keep
    everything in one folder), else the user data directory (``~/.local/share/seedlock``).
    """
    for name in ("SEEDLOCK_DATA", "SEEDLOCK_HOME"):
        env = os.environ.get(name)
        if env:
            return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("seedlock", appauthor=False))
