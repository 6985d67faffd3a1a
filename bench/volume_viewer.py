"""How long a 240x240x155 volume takes to open in the volume viewer (Niivue), in Chromium.

A fresh data folder and the embedded default server (``manage.py serve``); a study with one
NIfTI volume of 240x240x155 voxels with its reference mask: the BRATS FLAIR of ``pat0001``
from ``../shared/data`` (stored there at 240x240x74, resampled linearly to 155 slices, the
mask by nearest neighbour) when present, else a synthetic volume of that size (a noisy
ellipsoid "head" with a bright blob). Headless Chromium (Debian's, WebGL2 on SwiftShader: no
GPU here) opens the viewer page ``--repeats`` times, each in a fresh browser context (no
cache), and the page reports when Niivue has loaded the volume and drawn it (the reference
overlay loads only when asked for; no run here, so no computed mask). "open" is from the
start of navigation to that moment (page, Niivue's script, the NIfTI download and decoding,
first draw); "volume.nii.gz" is the server's answer for the volume (Resource
Timing: request start to last byte). Prints a Markdown table (docs/benchmarks.md, "Volume
viewer") with the load average, since the machine is shared.

    .venv/bin/python bench/volume_viewer.py [--repeats 5] [--synthetic] [--screenshot docs/screenshots/volume-viewer.png]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))
CHROMIUM = os.environ.get("GAZECROWD_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "bench-Pass-7731"
SHAPE = (240, 240, 155)
ARGS = ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--ignore-gpu-blocklist"]

SETUP = """
import os
from pathlib import Path
from crowd import services
folder, password = Path(os.environ["BENCH_FOLDER"]), os.environ["BENCH_PW"]
alice = services.user_get_or_create(username="alice", password=password)
study = services.study_create(name="Volume bench", created_by=alice, target_structure="tumour")
sequence = services.sequence_import(study=study, path=folder / "volume.nii.gz", name="volume",
                                    truth=folder / "mask.nii.gz")
print(study.pk, sequence.pk, "x".join(str(n) for n in (sequence.height, sequence.width, sequence.n_frames)))
"""


def _volume(folder: Path, synthetic: bool) -> str:
    """Write volume.nii.gz and mask.nii.gz of SHAPE into ``folder``; returns what they are."""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage

    source = DATA / "brats" / "pat0001"
    if not synthetic and (source / "flair.nii.gz").exists():
        img, mask = nib.load(source / "flair.nii.gz"), nib.load(source / "tumour.nii.gz")
        data, truth = np.asarray(img.dataobj, np.float32), np.asarray(mask.dataobj)
        factors = [n / m for n, m in zip(SHAPE, data.shape)]
        volume = ndimage.zoom(data, factors, order=1).astype(np.float32)
        labels = ndimage.zoom((truth > 0).astype(np.uint8), factors, order=0)
        affine = img.affine.copy()
        affine[:3, :3] = affine[:3, :3] / np.asarray(factors)
        what = f"BRATS pat0001 FLAIR ({'x'.join(map(str, data.shape))}, resampled to {'x'.join(map(str, SHAPE))})"
    else:
        rng = np.random.default_rng(0)
        grid = np.indices(SHAPE, dtype=np.float32)
        centre = [(n - 1) / 2 for n in SHAPE]
        head = sum(((g - c) / (0.42 * n)) ** 2 for g, c, n in zip(grid, centre, SHAPE)) <= 1
        blob = sum(((g - c - 20) / 18) ** 2 for g, c in zip(grid, centre)) <= 1
        volume = (head * 400 + blob * 500 + rng.normal(0, 20, SHAPE)).astype(np.float32)
        labels, affine = blob.astype(np.uint8), np.diag([1.0, 1.0, 1.0, 1.0])
        what = f"synthetic {'x'.join(map(str, SHAPE))}"
    nib.save(nib.Nifti1Image(volume, affine), folder / "volume.nii.gz")
    nib.save(nib.Nifti1Image(labels, affine), folder / "mask.nii.gz")
    return what


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true", help="a synthetic volume even when BRATS is present")
    parser.add_argument("--screenshot", help="save the last view here (1366x768)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        what = _volume(folder, args.synthetic)
        env = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_TASK_ALWAYS_EAGER"}}
        env["GAZECROWD_DATA_DIR"] = str(folder / "data")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        proc = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT, capture_output=True,
                              text=True, env={**env, "BENCH_FOLDER": str(folder), "BENCH_PW": PASSWORD})
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        study, sequence, shape = proc.stdout.split()[-3:]
        port = _free_port()
        log = folder / "serve.log"
        with log.open("w") as sink:
            server = subprocess.Popen([sys.executable, "manage.py", "serve", "--addrport", f"127.0.0.1:{port}"],
                                      cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        opens, downloads, sizes, marks = [], [], [], {}
        try:
            while "is listening on" not in log.read_text():
                if server.poll() is not None:
                    raise SystemExit(log.read_text()[-3000:])
                time.sleep(0.3)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                for _ in range(args.repeats):
                    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base)
                    page = context.new_page()
                    page.goto("/accounts/login/")
                    page.fill("#id_username", "alice")
                    page.fill("#id_password", PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_url(lambda url: "/accounts/login/" not in url)
                    page.goto(f"/studies/{study}/sequences/{sequence}/volume/")
                    page.wait_for_function("() => window.gazecrowdVolume && (window.gazecrowdVolume.ready || "
                                           "window.gazecrowdVolume.error)", timeout=60_000)
                    result = page.evaluate("""() => { const s = window.gazecrowdVolume;
                        const r = performance.getEntriesByType("resource").find(e => e.name.endsWith("volume.nii.gz"));
                        return {error: s.error, open: s.readyAt, marks: s.marks, dims: Array.from(s.nv.volumes[0].dims).slice(1, 4),
                                download: r ? r.responseEnd - r.requestStart : null,
                                bytes: r ? r.encodedBodySize : null}; }""")
                    if result["error"]:
                        raise SystemExit(f"the viewer failed: {result['error']}")
                    opens.append(result["open"] / 1000)
                    for name in ("script", "attached", "loaded"):
                        marks.setdefault(name, []).append(result["marks"][name] / 1000)
                    downloads.append(result["download"] / 1000)
                    sizes.append(result["bytes"])
                    if args.screenshot:  # with the reference overlaid, as a reviewer would
                        page.locator("#reference-opacity").evaluate(
                            "(el) => { el.value = 45; el.dispatchEvent(new Event('input')); }")
                        page.wait_for_function("() => window.gazecrowdVolume.overlays.reference === 'ready'",
                                               timeout=60_000)
                        page.wait_for_timeout(300)
                        page.screenshot(path=args.screenshot)
                    context.close()
                browser.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, load average {load} (1/5/15 min) at the end; "
          f"Chromium headless, WebGL2 on SwiftShader (no GPU); {what}; stored {shape} (rows x columns x slices); "
          f"{args.repeats} opens, each in a fresh browser context")
    print()
    print("| step | median (s) | max (s) | target |")
    print("|---|---|---|---|")
    print(f"| viewer open (navigation -> volume drawn) | {statistics.median(opens):.2f} | {max(opens):.2f} | < 3 s |")
    for name, label in (("script", "page and Niivue's script loaded"), ("attached", "WebGL2 context ready"),
                        ("loaded", "volume fetched and decoded")):
        print(f"| {label} (since navigation) | {statistics.median(marks[name]):.2f} | {max(marks[name]):.2f} | |")
    print(f"| volume.nii.gz from the server ({sizes[0] / 1e6:.1f} MB gzipped) | {statistics.median(downloads):.2f} | "
          f"{max(downloads):.2f} | |")


if __name__ == "__main__":
    main()
