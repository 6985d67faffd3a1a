"""The engine's public API: every name resolves, is documented, and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import segmentation.engine as engine
from segmentation.engine import detection, trackers

DOCS = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


@pytest.mark.parametrize("package", [engine, detection, trackers], ids=lambda p: p.__name__)
def test_every_public_name_resolves(package):
    for name in package.__all__:
        assert getattr(package, name) is not None, name


def test_every_public_name_is_in_docs_engine_md():
    text = DOCS.read_text(encoding="utf-8")
    missing = [n for n in engine.__all__ if f"`{n}" not in text and f" {n}(" not in text
               and f"`{n}`" not in text]
    assert not missing, f"docs/engine.md does not describe {missing}"


def test_an_unknown_name_says_where_the_public_names_are():
    with pytest.raises(AttributeError, match="__all__"):
        engine.no_such_name  # noqa: B018


def test_importing_the_engine_and_its_defaults_loads_no_numerics():
    # The web server reads METHODS when it starts: that must not cost numpy or torch.
    code = ("import sys; from segmentation.engine import METHODS, DEFAULT_PX_PER_DEGREE, LEVELS; "
            "print(sorted(m for m in ('numpy', 'torch', 'sklearn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_segment_methods_are_the_public_list():
    from segmentation.engine.pipeline import SEGMENTERS

    assert tuple(SEGMENTERS) == engine.METHODS
