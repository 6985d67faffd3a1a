"""Errors raised by the engine."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message names the file, the line or frame, and what is expected.

    A subclass of :class:`ValueError`, so that ``python -m segmentation.engine`` prints it as
    one line and exits with status 2, and callers that already catch ``ValueError`` keep working.
    """
