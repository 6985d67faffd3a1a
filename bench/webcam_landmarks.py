"""Webcam gaze bench: estimation rate and calibration-to-first-sample time in headless Chromium.

Two parts, both with Chromium's fake camera playing tests/e2e/fake_camera.py's face video
(a public-domain photograph, face detected in every frame):

1. ``rate``: bench/webcam_bench.html (the face model, gaze-model.js and webcam-gaze.js, served
   with static/ by a local http.server) runs the landmark pipeline for ``--seconds`` and reports
   face-model results per second, with CPU inference (the page's choice) and, with ``--webgl``,
   WebGL inference for comparison. The camera gives 30 frames/s: 30 Hz is the ceiling.
2. ``flow``: the browser test tests/e2e/test_webcam.py::test_webcam_records_with_real_face_detection
   with the page's real timings (GAZECROWD_WEBCAM_BENCH=1): 13 scripted calibration clicks (600 ms
   each), 9 validation targets (1.5 s each), the 3 s countdown; it writes bench/out/webcam.json
   (estimation rate during the whole page, time from calibration start to the first gaze sample,
   validation error on the fake video).

    .venv/bin/python bench/webcam_landmarks.py [--seconds 20] [--webgl] [--skip-flow]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.fake_camera import write_y4m  # noqa: E402

# As tests/e2e/conftest.py (not imported: it needs Django set up).
CHROMIUM = os.environ.get("GAZECROWD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rate(seconds: float, cpu: bool, video: Path) -> dict:
    from playwright.sync_api import sync_playwright

    site = Path(tempfile.mkdtemp())
    (site / "static").symlink_to(ROOT / "static")
    shutil.copy(ROOT / "bench" / "webcam_bench.html", site / "index.html")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=site,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    foreign = []
    try:
        time.sleep(0.5)
        args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
            page = browser.new_page()
            page.on("request", lambda r: None if r.url.startswith(f"http://127.0.0.1:{port}/") else foreign.append(r.url))
            page.goto(f"http://127.0.0.1:{port}/index.html?cpu={1 if cpu else 0}")
            page.wait_for_function("window.bench.state !== 'starting'", timeout=120_000, polling=200)
            state = page.evaluate("window.bench.state")
            if state != "running":
                raise RuntimeError(state)
            time.sleep(2)  # warm-up
            first = page.evaluate("window.bench.tracker.stats()")
            t0 = time.perf_counter()
            time.sleep(seconds)
            last = page.evaluate("window.bench.tracker.stats()")
            elapsed = time.perf_counter() - t0
            init_s = page.evaluate("window.bench.initS")
            browser.close()
    finally:
        server.terminate()
        shutil.rmtree(site, ignore_errors=True)
    frames = last["frames"] - first["frames"]
    per_frame = last["msPerFrame"]
    return {"inference": "cpu (wasm)" if cpu else "webgl", "hz": round(frames / elapsed, 1),
            "ms_per_frame": round(per_frame, 1) if per_frame else None,
            "faces_fraction": round((last["faces"] - first["faces"]) / max(frames, 1), 3),
            "model_start_s": round(init_s, 1), "seconds": round(elapsed, 1), "foreign_requests": foreign}


def flow() -> dict:
    env = {**os.environ, "GAZECROWD_WEBCAM_BENCH": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "tests/e2e/test_webcam.py::test_webcam_records_with_real_face_detection"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-2000:])
    return json.loads((ROOT / "bench" / "out" / "webcam.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--webgl", action="store_true", help="also measure WebGL inference")
    parser.add_argument("--skip-flow", action="store_true")
    args = parser.parse_args()
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_count": os.cpu_count(),
           "chromium": subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()}
    with tempfile.TemporaryDirectory() as tmp:
        video = write_y4m(Path(tmp) / "face.y4m")
        out["rate"] = [rate(args.seconds, True, video)]
        if args.webgl:
            out["rate"].append(rate(args.seconds, False, video))
    for r in out["rate"]:
        print(f"landmarks + features, {r['inference']}: {r['hz']} Hz over {r['seconds']} s, "
              f"{r['ms_per_frame']} ms per frame in the face model "
              f"(face found in {r['faces_fraction']:.0%} of frames; model start {r['model_start_s']} s; "
              f"requests to other hosts: {len(r['foreign_requests'])})")
    if not args.skip_flow:
        out["flow"] = flow()
        f = out["flow"]
        print(f"recording page, real timings: calibration start -> first gaze sample {f['calibration_start_to_first_sample_s']} s; "
              f"estimation {f['estimation_hz_mean']} Hz over the page; validation error {f['validation_error_deg']} deg "
              f"(fake video: a still photograph's eyes); ridge lambda {f['lambda']}")
    path = ROOT / "bench" / "out" / "webcam_bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"-> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
