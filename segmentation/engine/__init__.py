"""GazeCrowd's segmentation engine: gaze-based ground truth, a pure scientific library.

Only numpy, scipy, scikit-image, scikit-learn, torch and friends: never Django, Celery or the
platform apps (an import-linter contract in ``pyproject.toml`` enforces it). Files are read and
written only by :mod:`segmentation.engine.io`. The command line is ``python -m
segmentation.engine``.
"""
