"""What a call costs: its wall time and how far the process's memory rose while it ran.

Memory is the resident set size (``/proc/self/statm``) sampled every millisecond by a thread,
so allocations made in C (numpy, nibabel, Pillow, FFmpeg) count as well as Python's; the
figure is the peak during the call minus the size just before it. Used by the bomb tests: a
refusal must come fast and without the allocation the file asks for.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


@dataclass
class Cost:
    seconds: float
    rss_rise: int  # bytes: peak resident size during the call minus the size before it
    result: object = None
    error: BaseException | None = None

    @property
    def rss_rise_mb(self) -> float:
        return self.rss_rise / 2**20


def cost_of(call) -> Cost:
    """Run ``call()`` and measure it; an exception it raises is kept in ``error``."""
    before = rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = error = None
    try:
        result = call()
    except BaseException as exc:  # noqa: BLE001 (the caller asserts on it)
        error = exc
    seconds = time.perf_counter() - start
    peak[0] = max(peak[0], rss_bytes())
    done.set()
    sampler.join()
    return Cost(seconds, peak[0] - before, result, error)
