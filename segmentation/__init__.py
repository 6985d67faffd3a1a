"""Segmentation runs, pooled ground truth, exports and reports (Django app).

The science lives in :mod:`segmentation.engine`, a pure library that knows nothing of Django.
"""
