"""Reading a sequence, its reference masks and gaze recordings for the ``run`` and ``report``
commands, with the checks both need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import (
    InputError,
    SequenceData,
    check_gaze_frames,
    read_gaze_csv,
    read_masks,
    read_sequence,
)


@dataclass
class CommandInputs:
    """What a command reads from its ``--frames``, ``--truth`` and ``--gaze`` options.

    Attributes
    ----------
    sequence : SequenceData
    frames : (T, H, W[, 3]) ndarray
    truth : (T, H, W) bool ndarray or None
    recordings : list of (observer name, gaze DataFrame)
        One per (file, observer): several files of one observer are repeated recordings.
    """

    sequence: SequenceData
    frames: np.ndarray
    truth: np.ndarray | None
    recordings: list


def read_inputs(args) -> CommandInputs:
    """Read ``args.frames`` (along ``args.axis``), ``args.truth`` and every ``args.gaze`` file.

    Raises
    ------
    InputError
        Masks that do not match the frames, gaze past the last frame, unreadable files.
    """
    seq = read_sequence(args.frames, axis=args.axis)
    frames = seq.frames
    truth = None
    if args.truth:
        truth = read_masks(args.truth, axis=args.axis)
        if truth.shape != frames.shape[:3]:
            raise InputError(f"{args.truth}: masks have shape {truth.shape}, the frames "
                             f"{frames.shape[:3]}; expected one mask per frame of the same size")
    recordings = []
    for path in args.gaze:
        table = read_gaze_csv(path)
        check_gaze_frames(table, frames.shape[0])
        for name, part in table.groupby("observer", sort=False):
            part = part.copy()
            part.attrs["source"] = str(path)
            recordings.append((str(name), part))
    return CommandInputs(sequence=seq, frames=frames, truth=truth, recordings=recordings)


PX_PER_DEGREE_HELP = ("image pixels per degree of visual angle on the observers' screen; "
                      "superpixels are about 1 degree wide (default: guessed from the frame "
                      "size, and said so)")


def px_per_degree_arg(value: float | None, shape: tuple[int, int]) -> tuple[float, str]:
    """``--px-per-degree``: the value given (checked), or a guess from the frame size.

    Returns ``(px_per_degree, source)``; a guess is also said on stderr, even with ``--quiet``,
    because a guessed scale changes the result.
    """
    import sys

    from .. import guess_px_per_degree

    if value is not None:
        if not 1.0 <= value <= 500.0:
            raise InputError(f"--px-per-degree must be in [1, 500], got {value}")
        return float(value), "given"
    guess = guess_px_per_degree(shape)
    print(f"note: --px-per-degree not given; guessed {guess:.1f} from the frame size "
          f"({shape[0]}x{shape[1]}). Give the observers' screen geometry for superpixels of "
          "one degree.", file=sys.stderr)
    return guess, "guessed from the frame size"
