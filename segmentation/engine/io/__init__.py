"""Every file the engine reads or writes goes through here.

Sequences (folders of images, NIfTI volumes, DICOM series, videos), reference masks, gaze CSV
files, panels of simulated observers and prepared sequences (superpixels and features saved
once, reused by every run), and the small files of runs and models (JSON records, stored score
maps, torch weights).
Readers of commercial eye-tracker formats live in :mod:`segmentation.engine.trackers` and
return the same canonical gaze table as :func:`read_gaze_csv`.
"""

from .chunkstore import (
    read_chunk_array,
    read_chunk_json,
    write_chunk_array,
    write_chunk_json,
    write_npz_blocks,
)
from .files import load_score_map, load_torch_state, read_json, save_score_map, write_json
from .gaze_csv import (
    GAZE_COLUMNS,
    MAX_ABS_COORDINATE,
    MAX_ABS_T_MS,
    MAX_FRAME,
    check_gaze_frames,
    gaze_csv_observers,
    read_gaze_csv,
    validate_gaze,
)
from .panel import read_panel
from .prepared import load_prepared, save_prepared
from .sequences import (
    IMAGE_SUFFIXES,
    LazySequence,
    SequenceData,
    open_sequence,
    read_masks,
    read_sequence,
    write_mask_pngs,
)

__all__ = [
    "load_score_map",
    "load_torch_state",
    "read_json",
    "save_score_map",
    "write_json",
    "GAZE_COLUMNS",
    "IMAGE_SUFFIXES",
    "MAX_ABS_COORDINATE",
    "MAX_ABS_T_MS",
    "MAX_FRAME",
    "LazySequence",
    "SequenceData",
    "open_sequence",
    "read_chunk_array",
    "read_chunk_json",
    "write_chunk_array",
    "write_chunk_json",
    "write_npz_blocks",
    "check_gaze_frames",
    "load_prepared",
    "gaze_csv_observers",
    "read_gaze_csv",
    "read_masks",
    "read_panel",
    "read_sequence",
    "save_prepared",
    "validate_gaze",
    "write_mask_pngs",
]
