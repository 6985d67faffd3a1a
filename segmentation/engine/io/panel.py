"""Panels of simulated observers: the ``recording.json`` of ``../shared/data/gaze/<set>-<seq>/``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..simulate import Panel, panel_from_dict


def read_panel(path) -> Panel:
    """The panel of observers described by a ``recording.json``.

    Raises
    ------
    InputError
        The file cannot be read, is not JSON, or lacks a field (named in the message).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the panel ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from exc
    return panel_from_dict(data, source=str(path))
