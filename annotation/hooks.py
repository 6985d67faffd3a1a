"""What happens when a recording finishes: a list of callables other apps register.

The segmentation app sits above annotation in the layers and may not be imported from here, so
it registers itself (in its ``AppConfig.ready``)::

    from annotation.hooks import on_recording_finished
    on_recording_finished(lambda recording_id: estimate_recording.delay(recording_id))

:func:`annotation.services.recording_finish` calls every registered callable with the
recording's id after the transaction that finished it commits (never for a rolled-back finish,
once per finish: finishing an already finished recording calls nothing).
"""

from __future__ import annotations

from collections.abc import Callable

_recording_finished: list[Callable[[int], object]] = []


def on_recording_finished(fn: Callable[[int], object]) -> Callable[[int], object]:
    """Register ``fn(recording_id)``; registering the same callable twice keeps one. Returns fn."""
    if fn not in _recording_finished:
        _recording_finished.append(fn)
    return fn


def recording_finished_hooks() -> tuple[Callable[[int], object], ...]:
    return tuple(_recording_finished)
