"""Errors raised by the engine."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message names the file, the line or frame, and what is expected.

    A subclass of :class:`ValueError`, so that ``python -m segmentation.engine`` prints it as
    one line and exits with status 2, and callers that already catch ``ValueError`` keep working.
    """


class InputTooLarge(InputError):
    """The input's header declares more pixels (frames x rows x columns) than the budget allows.

    Raised before anything is decoded; ``pixels`` is what the file declares (or a lower bound
    of it), ``budget`` the limit that was passed.
    """

    def __init__(self, message: str, *, pixels: int, budget: int):
        super().__init__(message)
        self.pixels = pixels
        self.budget = budget
