"""Benchmark: DICOMweb import of a series from a local Orthanc, and DICOM SEG export and push.

Starts Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on a free loopback port with a
temporary storage folder, stores a synthetic MR series in it (not timed), then times, on a
scratch SQLite database in a temporary folder:

- ``import``: ``sequence_import_dicomweb`` end to end: QIDO-RS of the series' instances and its
  pixel budget, WADO-RS of every instance, the engine reading the folder, the frames stored
  (target: under 30 s for 150 slices of 512x512);
- ``seg binary`` / ``seg fractional``: a DICOM SEG of a mask / score map on the imported
  sequence's source headers (highdicom), and its size;
- ``stow``: STOW-RS of the binary SEG back to Orthanc.

    nice .venv/bin/python bench/dicomweb.py [--slices 150] [--size 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="gazecrowd-bench-dicomweb-"))
    os.environ.update({"GAZECROWD_DATA_DIR": str(tmp / "data"), "DJANGO_SETTINGS_MODULE": "crowd.settings",
                       "DEBUG": "false", "SECRET_KEY": "bench-only-" + "x" * 50})
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    for name in ("dicomweb_client", "highdicom"):  # one INFO line per instance fetched or copied
        logging.getLogger(name).setLevel(logging.WARNING)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import pydicom

    from crowd import services
    from segmentation import dicom_seg
    from tests.dicom_series import dataset_bytes, series_datasets
    from tests.orthanc import PASSWORD, USER, orthanc_missing, running_orthanc

    reason = orthanc_missing()
    if reason:
        print(reason)
        return 1
    rng = np.random.default_rng(0)
    volume = rng.random((args.slices, args.size, args.size))
    rows = []
    with running_orthanc(tmp / "orthanc") as orthanc:
        datasets = series_datasets(volume)
        t = time.perf_counter()
        for ds in datasets:
            orthanc.upload(dataset_bytes(ds))
        upload_s = time.perf_counter() - t
        study = services.study_create(name="bench", target_structure="tumour")
        connection = services.dicomweb_connection(url=orthanc.dicomweb_url, username=USER, password=PASSWORD)
        series_uid = str(datasets[0].SeriesInstanceUID)
        for k in range(args.repeat):
            connection.fetched_bytes = 0
            t = time.perf_counter()
            sequence = services.sequence_import_dicomweb(study=study, connection=connection, series_uid=series_uid,
                                                         name=f"run{k}")
            rows.append(("import", time.perf_counter() - t, None))
        assert sequence.n_frames == args.slices
        frames = np.load(sequence.frames_file.path, mmap_mode="r")
        masks = np.asarray(frames > np.quantile(frames[0], 0.95))
        scores = np.clip(np.asarray(frames, np.float32) / float(frames.max()), 0, 1)
        for _ in range(args.repeat):
            t = time.perf_counter()
            sources = dicom_seg.sequence_source_headers(sequence)
            binary = dicom_seg.dicom_seg_bytes(sources, masks, kind="BINARY", target="tumour",
                                               algorithm_parameters={"method": "bench"})
            rows.append(("seg binary", time.perf_counter() - t, len(binary)))
            t = time.perf_counter()
            fractional = dicom_seg.dicom_seg_bytes(sources, scores, kind="FRACTIONAL", target="tumour",
                                                   algorithm_parameters={"method": "bench"})
            rows.append(("seg fractional", time.perf_counter() - t, len(fractional)))
            seg = pydicom.dcmread(io.BytesIO(binary))
            t = time.perf_counter()
            services.dicomweb_store(connection=connection, datasets=[seg])
            rows.append(("stow binary", time.perf_counter() - t, len(binary)))

    print(f"# {args.slices} slices of {args.size}x{args.size} (uint16 MR), Orthanc "
          f"on 127.0.0.1; {args.repeat} repeats; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; series stored in Orthanc in {upload_s:.1f} s (not timed below)")
    print("| step | median s | min s | max s | size MB |")
    print("|---|---|---|---|---|")
    for step in ("import", "seg binary", "seg fractional", "stow binary"):
        times = [s for name, s, _ in rows if name == step]
        sizes = [b for name, _, b in rows if name == step and b]
        size = f"{np.median(sizes) / 1e6:.1f}" if sizes else ""
        print(f"| {step} | {np.median(times):.2f} | {min(times):.2f} | {max(times):.2f} | {size} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
