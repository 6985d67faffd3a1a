"""Run parameters: defaults, validation, and which stage each parameter affects."""

from __future__ import annotations

from typing import Any

from segmentation.engine import METHODS

#: Defaults of a run. ``px_per_degree`` sizes superpixels to about one degree of visual angle.
DEFAULTS: dict[str, Any] = {
    "px_per_degree": "auto",
    "features": "hand",
    "temporal": False,
    "estimate": "default",
    "pool": "default",
    "method": "eel",
    # Booster of eel and el: segmentation.engine.pipeline.N_ROUNDS / N_BAGS (not imported:
    # the engine costs ~1 s to import, and this module is read when the web server starts;
    # tests/segmentation/test_runs.py checks they agree). The paper: 50 rounds, 1 bag.
    "rounds": 200,
    "bags": 3,
    "seed": 0,
    # With reference masks, also score the baselines (probability, el, vilarino) for the report.
    "compare": True,
    # Frames per chunk of a chunked run (docs/runs.md, "Chunked runs"): sequences of at least
    # two chunks run chunk by chunk, on as many workers as there are; shorter ones as one task.
    "chunk_frames": 32,
}
#: Bounds of ``chunk_frames`` (segmentation.engine.MIN_CHUNK_FRAMES / MAX_CHUNK_FRAMES, not
#: imported for the same reason as the booster's defaults; tests check they agree).
MIN_CHUNK_FRAMES, MAX_CHUNK_FRAMES = 4, 1000
PREPARE_KEYS = ("px_per_degree", "features", "temporal", "seed")
ESTIMATE_KEYS = PREPARE_KEYS + ("estimate",)
#: Labels of the engine's methods (segmentation.engine.METHODS, the one list the forms, the API
#: serializer and the validation below use).
METHOD_LABELS = {"eel": "EEL (expected exponential loss)", "el": "EL (exponential loss)",
                 "probability": "pooled probability", "vilarino": "Vilariño baseline"}
MAX_SEED = 2**32 - 1  # what numpy's legacy seeding takes too


class ParameterError(ValueError):
    """A run parameter is unknown or out of range."""


def resolve(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults updated with ``overrides``; unknown names and bad values raise ParameterError."""
    params = dict(DEFAULTS)
    for name, value in (overrides or {}).items():
        if name not in DEFAULTS:
            raise ParameterError(f"unknown run parameter {name!r}; known: {', '.join(DEFAULTS)}")
        if value is not None:
            params[name] = value
    try:
        if params["px_per_degree"] != "auto":
            params["px_per_degree"] = float(params["px_per_degree"])
        params["seed"] = int(params["seed"])
        params["rounds"] = int(params["rounds"])
        params["bags"] = int(params["bags"])
        params["chunk_frames"] = _whole(params["chunk_frames"], "chunk_frames")
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"bad run parameter: {exc}") from exc
    if params["px_per_degree"] != "auto" and not 1.0 <= params["px_per_degree"] <= 500.0:
        raise ParameterError(f"px_per_degree must be in [1, 500], got {params['px_per_degree']}")
    if not 1 <= params["rounds"] <= 2000:
        raise ParameterError(f"rounds must be in [1, 2000], got {params['rounds']}")
    if not 1 <= params["bags"] <= 20:
        raise ParameterError(f"bags must be in [1, 20], got {params['bags']}")
    if not MIN_CHUNK_FRAMES <= params["chunk_frames"] <= MAX_CHUNK_FRAMES:
        raise ParameterError(f"chunk_frames must be in [{MIN_CHUNK_FRAMES}, {MAX_CHUNK_FRAMES}], "
                             f"got {params['chunk_frames']}")
    if not 0 <= params["seed"] <= MAX_SEED:
        raise ParameterError(f"seed must be in [0, {MAX_SEED}], got {params['seed']}")
    if params["method"] not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got {params['method']!r}")
    params["temporal"] = _flag(params["temporal"])
    params["compare"] = _flag(params["compare"])
    return params


def subset(params: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: params[k] for k in keys}


def _whole(value, name: str) -> int:
    """A whole number (3 or 3.0, not 3.5 nor True)."""
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(float(value))


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
