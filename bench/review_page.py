"""The results page's review tools in Chromium: time to interactive and threshold redraw.

A fresh data folder; a study whose 100-frame 854x480 sequence is DAVIS parkour from
``../shared/data`` (a synthetic texture when absent), and a succeeded run whose stored score
map is a moving hill (tests/review_scene.py: the pipeline is not what is measured). The page
is served by Django's threaded WSGI server in this process; headless Chromium
(``/usr/bin/chromium``, Playwright) loads it ``--loads`` times (fresh context each: cold
caches) and records, from navigation start: DOMContentLoaded, the first frame drawn and the
threshold ready (the mask overlay selected at load, the frame's score levels fetched and the
mask drawn; the ``gazecrowd:*`` performance marks of viewer.js and review.js). Then it moves
the threshold slider ``--moves`` times and times each redraw: the input handler (cut the
levels, paint, draw) and input to the next animation frame. Prints a Markdown table
(docs/benchmarks.md, "Review tools of the results page").

    .venv/bin/python bench/review_page.py [--loads 5] [--moves 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))
PASSWORD = "bench-Pass-7731"
T, H, W = 100, 480, 854


def _setup(folder: Path):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowd.settings")
    os.environ["GAZECROWD_DATA_DIR"] = str(folder)
    os.environ["AXES_ENABLED"] = "false"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _scene(folder: Path):
    import numpy as np

    from crowd import services
    from tests.review_scene import hill_scores, scored_run

    alice = services.user_get_or_create(username="alice", password=PASSWORD)
    study = services.study_create(name="Review bench", created_by=alice)
    davis = DATA / "davis" / "parkour" / "frames"
    if davis.is_dir() and len(list(davis.iterdir())) >= T:
        source, path = "DAVIS parkour", davis
    else:
        import imageio.v3 as iio

        path = folder / "frames"
        path.mkdir()
        rows, cols = np.mgrid[0:H, 0:W]
        for k in range(T):
            image = (127 + 60 * np.sin((cols + 4 * k) / 23.0) * np.cos(rows / 17.0)).astype(np.uint8)
            iio.imwrite(path / f"{k:05d}.png", image)
        source = "synthetic texture"
    sequence = services.sequence_import(study=study, path=path, name="parkour")
    sequence.refresh_from_db()
    n = sequence.n_frames
    scores = hill_scores(n, sequence.height, sequence.width,
                         lambda k: (200 + 4.5 * k, 240 + 40 * np.sin(k / 9)), sigma=70.0)
    run = scored_run(study=study, sequence=sequence, scores=scores, threshold=0.5)
    return run, source, (n, sequence.height, sequence.width)


def _serve():
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


MOVE = """async (n) => {
  const s = document.getElementById('threshold'), out = [];
  for (let i = 0; i < n; i++) {
    const v = 0.05 + 0.9 * ((i * 37) % n) / n;
    await new Promise(r => requestAnimationFrame(r));
    const t0 = performance.now();
    s.value = v; s.dispatchEvent(new Event('input'));
    const t1 = performance.now();
    await new Promise(r => requestAnimationFrame(r));
    out.push([t1 - t0, performance.now() - t0]);
  }
  return out;
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--moves", type=int, default=50)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gazecrowd-review-bench-"))
    _setup(folder)
    t = time.perf_counter()
    run, source, shape = _scene(folder)
    print(f"# scene ready in {time.perf_counter() - t:.1f} s: {source}, {shape}", file=sys.stderr)
    base = _serve()
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    url = f"/studies/{run.study_id}/runs/{run.pk}/"
    loads, moves, sizes = [], [], []
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for i in range(args.loads + 1):  # the first load warms the server's array cache
            context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base)
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/accounts/login/" not in u)
            # The mask overlay from the start: the threshold is usable once its levels are drawn.
            page.add_init_script("document.addEventListener('DOMContentLoaded', () => {"
                                 " document.getElementById('overlay').value = 'mask'; });")
            page.on("response", lambda r: sizes.append(int(r.headers.get("content-length", 0)))
                    if "/review/scores/" in r.url else None)
            page.goto(url)
            page.wait_for_function("performance.getEntriesByName('gazecrowd:threshold-ready').length > 0",
                                   timeout=30_000)
            marks = page.evaluate("""(() => {
                const m = n => (performance.getEntriesByName(n)[0] || {}).startTime;
                const nav = performance.getEntriesByType('navigation')[0];
                return {dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                        frame: m('gazecrowd:first-frame'), ready: m('gazecrowd:threshold-ready')};
            })()""")
            if i:
                loads.append(marks)
            else:
                cold = marks
            if i == args.loads:
                moves = page.evaluate(MOVE, args.moves)
            context.close()
        browser.close()

    def row(name, values, target=""):
        p95 = sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]
        return (f"| {name} | {statistics.median(values):.0f} | {p95:.0f} | {min(values):.0f} | "
                f"{max(values):.0f} | {len(values)} | {target} |")

    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nResults page of run {run.pk}: {source}, {shape[0]} frames {shape[2]}x{shape[1]}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{load_avg} (1/5/15 min) at the end; Chromium headless.\n")
    print("| measure (ms) | median | p95 | min | max | n | target |")
    print("|---|---|---|---|---|---|---|")
    print(row("DOMContentLoaded", [m["dcl"] for m in loads]))
    print(row("first frame drawn", [m["frame"] for m in loads]))
    print(row("threshold ready (interactive)", [m["ready"] for m in loads], "< 2000"))
    print(row("threshold ready, first load after the server started (cold array cache)", [cold["ready"]], "< 2000"))
    print(row("threshold redraw: input handler", [a for a, _ in moves], "< 100"))
    print(row("threshold redraw: input to next frame", [b for _, b in moves], "< 100"))
    if sizes:
        print(f"\nOne frame's score levels on the wire: {statistics.median(sizes) / 1024:.0f} KiB "
              f"(gzip of {shape[1] * shape[2] * 2 / 1024:.0f} KiB uint16).")


if __name__ == "__main__":
    main()
