"""Where things live, and confinement of user-entered paths to the data root."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


def data_root() -> Path:
    """Datasets and user image folders live here (``RESNET_VIZ_DATA_ROOT``, default ``./data``)."""
    return Path(os.environ.get("RESNET_VIZ_DATA_ROOT", "data")).expanduser().resolve()


def resolve_under(root: Path, user_path: str) -> Path:
    """Resolve ``user_path`` inside ``root``; refuse anything that leaves it (``..``, absolute
    paths elsewhere, symlinks pointing out)."""
    root = root.resolve()
    candidate = (root / user_path).resolve()
    if candidate != root and root not in candidate.parents:
        raise InputError(
            f"{user_path!r} is outside the data root {root}. Put the data under the data root "
            "(set RESNET_VIZ_DATA_ROOT to move it) and give a path relative to it."
        )
    return candidate
