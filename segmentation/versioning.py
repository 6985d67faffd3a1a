"""The engine's code version: a digest of its source, recorded with every cached array and run.

A cache row is only reused when its code version matches, so changing the science recomputes
instead of serving stale superpixels or estimates.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent / "engine"


@cache
def code_version() -> str:
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(ENGINE_DIR.rglob("*.py")):
        digest.update(path.relative_to(ENGINE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def parameters_key(parameters: dict, *, stage: str) -> str:
    """A stable key for (stage, parameters, code version)."""
    blob = json.dumps({"stage": stage, "p": parameters, "v": code_version()}, sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()
