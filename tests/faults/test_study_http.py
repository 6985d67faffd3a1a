"""A whole study through HTTP, and a study run whose worker is killed in the middle.

Only the accounts are made outside HTTP (there is no sign-up API: an administrator creates
users). Everything else is what clients do: tokens, the study, a sequence upload with
reference masks, members, assignments, live gaze from three observers, the run, downloads.
The workers are the production split: one ``--queues quick,celery`` worker for per-recording
estimates, one ``--queues long`` worker for runs.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile

import numpy as np
import pytest

from .harness import Stack, multipart

pytestmark = pytest.mark.faults

N_FRAMES = 10
SIZE = 64
FPS = 5.0
N_OBSERVERS = 3


def _disc_centre(t: int) -> tuple[float, float]:
    """(x, y) = (column, row) of the disc in frame ``t``."""
    return SIZE / 3 + t * SIZE / (3 * N_FRAMES), SIZE / 2


def _sequence_zips() -> tuple[bytes, bytes]:
    """Frames (a bright disc moving over texture) and its reference masks, as zips of PNGs."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    frames, masks = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(frames, "w") as zf, zipfile.ZipFile(masks, "w") as zm:
        for t in range(N_FRAMES):
            cx, cy = _disc_centre(t)
            disc = (rows - cy) ** 2 + (cols - cx) ** 2 < (SIZE / 6) ** 2
            image = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
            image[disc] = (220, 180, 160)
            zf.writestr(f"frame{t:03d}.png", iio.imwrite("<bytes>", image, extension=".png"))
            zm.writestr(f"frame{t:03d}.png",
                        iio.imwrite("<bytes>", disc.astype(np.uint8) * 255, extension=".png"))
    return frames.getvalue(), masks.getvalue()


def _gaze(observer: int) -> list[list]:
    """60 Hz gaze on the disc, with observer-specific jitter, over the whole sequence."""
    rng = np.random.default_rng(100 + observer)
    samples = []
    for k in range(int(N_FRAMES / FPS * 60)):
        t_ms = k * 1000 / 60
        frame = min(int(t_ms / 1000 * FPS), N_FRAMES - 1)
        cx, cy = _disc_centre(frame)
        x, y = cx + rng.normal(0, 2), cy + rng.normal(0, 2)
        samples.append([round(t_ms, 3), frame, round(float(x), 2), round(float(y), 2)])
    return samples


def _ok(reply, status=(200, 201, 202)):
    assert reply.status in ((status,) if isinstance(status, int) else status), (
        f"HTTP {reply.status}: {reply.body[:1000]!r}")
    return reply.json()


def build_study(stack, name: str) -> dict:
    """Everything up to finished recordings, through HTTP; returns ids and clients."""
    users = stack.services.make_study(name=name, observers=N_OBSERVERS, users_only=True)
    anonymous = stack.client()

    def login(username: str):
        token = _ok(anonymous.request("POST", "/api/auth/token/", json_body={
            "username": username, "password": users["password"]}))["token"]
        return stack.client(token, deadline=60)

    coordinator = login(users["coordinator"])
    study = _ok(coordinator.request("POST", "/api/studies/", json_body={
        "name": name, "target_structure": "disc", "frame_rate": FPS, "quorum": 99,
        "status": "active"}), 201)
    frames_zip, masks_zip = _sequence_zips()
    body, content_type = multipart({"name": "disc"}, {"file": ("disc.zip", frames_zip),
                                                      "truth": ("disc-masks.zip", masks_zip)})
    sequence = _ok(coordinator.request("POST", f"/api/studies/{study['id']}/sequences/",
                                       body=body, headers={"Content-Type": content_type}), 201)
    observers = []
    for k, username in enumerate(users["observers"]):
        _ok(coordinator.request("POST", f"/api/studies/{study['id']}/members/",
                                json_body={"username": username, "role": "observer"}), 201)
        _ok(coordinator.request("POST", f"/api/studies/{study['id']}/assignments/",
                                json_body={"observer": username}), 201)
        client = login(username)
        recording = _ok(client.request(
            "POST", f"/api/studies/{study['id']}/sequences/{sequence['id']}/recordings/",
            json_body={"source": "mouse", "repeat": 1, "playback_fps": FPS}), 201)
        samples = _gaze(k)
        batches = [samples[i:i + 60] for i in range(0, len(samples), 60)]
        for number, batch in enumerate(batches):
            _ok(client.request("POST", f"/api/recordings/{recording['id']}/batches/",
                               json_body={"batch": number, "samples": batch}), 201)
        _ok(client.request("POST", f"/api/recordings/{recording['id']}/finish/",
                           json_body={"expected_batches": len(batches)}), 200)
        observers.append({"username": username, "recording": recording["id"],
                          "samples": len(samples)})
    return {"study": study["id"], "sequence": sequence["id"], "coordinator": coordinator,
            "observers": observers}


def _wait_run(client, study: int, run: int, *, until, timeout: float, services=None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = _ok(client.request("GET", f"/api/studies/{study}/runs/{run}/"), 200)
        if until(state):
            return state
        if time.monotonic() > deadline:
            broker = f"; broker: {services.broker_state()}" if services is not None else ""
            raise TimeoutError(
                f"run {run} still {state['status']} after {timeout} s: {state}{broker}")
        time.sleep(0.1)


def _start_workers(stack):
    quick = stack.worker("quick@%h", queues="quick,celery")
    long_ = stack.worker("long@%h", queues="long")
    for worker in (quick, long_):
        worker.wait_for_log(" ready.", 90)
    return quick, long_


def _check_downloads(client, study: int, run: int) -> dict:
    """Every export opens and agrees with the others; returns what was checked."""
    import nibabel as nib

    got = {}
    reply = client.request("GET", f"/api/studies/{study}/runs/{run}/export/npz/")
    assert reply.status == 200, reply.body[:500]
    with np.load(io.BytesIO(reply.body)) as npz:
        scores, masks = npz["scores"], npz["masks"]
    assert scores.shape == masks.shape == (N_FRAMES, SIZE, SIZE)
    assert scores.dtype == np.float32 and 0 <= scores.min() and scores.max() <= 1
    assert masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    got["npz"] = masks.shape
    reply = client.request("GET", f"/api/studies/{study}/runs/{run}/export/nifti/")
    assert reply.status == 200, reply.body[:500]
    image = nib.Nifti1Image.from_bytes(_gunzip(reply.body))
    assert int(np.asarray(image.dataobj).astype(bool).sum()) == int(masks.sum())
    got["nifti"] = image.shape
    for fmt in ("png", "coco", "csv"):
        reply = client.request("GET", f"/api/studies/{study}/runs/{run}/export/{fmt}/")
        assert reply.status == 200 and len(reply.body) > 0, (fmt, reply.body[:500])
        got[fmt] = len(reply.body)
    coco = json.loads(client.request(
        "GET", f"/api/studies/{study}/runs/{run}/export/coco/").body)
    assert coco, "empty COCO export"
    reply = client.request("GET", f"/api/studies/{study}/runs/{run}/report/report.html")
    assert reply.status == 200 and b"<html" in reply.body.lower()
    got["report.html"] = len(reply.body)
    return got


def _gunzip(data: bytes) -> bytes:
    import gzip

    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


@pytest.fixture(scope="module")
def study_stack(faults_services, tmp_path_factory):
    """Web server, a quick and a long worker, and a study built through HTTP, for this module.

    The two tests share them (the second starts its own run on the same study): building the
    study and starting the processes is most of the time.
    """
    stack = Stack(faults_services, tmp_path_factory.mktemp("study-logs"))
    try:
        stack.web()
        quick, long_ = _start_workers(stack)
        built = build_study(stack, "wholestudy")
        yield stack, quick, long_, built
    finally:
        stack.stop()
        for proc in stack.procs:  # shown by pytest when a test of the module failed
            print(f"\n===== {proc.name} ({proc.log}) =====\n{proc.tail(40)}")


def test_whole_study_through_http_only(study_stack):
    stack, quick, long_, built = study_stack
    started = time.monotonic()
    coordinator, study = built["coordinator"], built["study"]
    # The container probe: production settings, real PostgreSQL and Redis behind it.
    health = coordinator.request("GET", "/healthz", headers={"Host": "10.1.2.3:8000"})
    assert health.status == 200, health.body
    assert json.loads(health.body) == {"status": "ok", "database": "ok", "broker": "ok"}

    # Finishing a recording queued its estimate on the quick queue, and only there.
    deadline = time.monotonic() + 120
    while quick.text().count("segmentation.estimate_recording[") < 2 * N_OBSERVERS:
        assert time.monotonic() < deadline, quick.tail()
        time.sleep(0.2)  # "received" and "succeeded" per recording
    assert "segmentation.estimate_recording[" not in long_.text()

    runs = _ok(coordinator.request("POST", f"/api/studies/{study}/runs/", json_body={}), 202)
    assert len(runs) == 1
    run = _wait_run(coordinator, study, runs[0]["id"],
                    until=lambda r: r["status"] in ("succeeded", "failed"), timeout=120)
    assert run["status"] == "succeeded", run.get("error")
    assert "segmentation.run_execute[" in long_.text()
    assert "segmentation.run_execute[" not in quick.text()
    got = _check_downloads(coordinator, study, run["id"])

    status = _ok(coordinator.request("GET", f"/api/studies/{study}/status/"), 200)
    assert [s["samples"] for s in status["sequences"]] == [
        sum(o["samples"] for o in built["observers"])]
    print(f"\nwhole study over HTTP (after the build) in {time.monotonic() - started:.1f} s: "
          f"run {run['id']} "
          f"timings {run.get('timings')}, metrics {json.dumps(run.get('metrics'))[:300]}, "
          f"downloads {got}")


def test_long_worker_killed_mid_run_the_run_completes_once(study_stack):
    stack, quick, long_, built = study_stack
    coordinator, study = built["coordinator"], built["study"]
    runs = _ok(coordinator.request("POST", f"/api/studies/{study}/runs/", json_body={}), 202)
    run_id = runs[0]["id"]
    # Kill as soon as the run is under way on the long worker.
    state = _wait_run(coordinator, study, run_id, until=lambda r: r["status"] != "queued",
                      timeout=120)
    assert state["status"] == "running", state
    long_.kill9()
    killed = time.monotonic()
    assert _ok(coordinator.request("GET", f"/api/studies/{study}/runs/{run_id}/"))["status"] \
        == "running", "the run finished before the worker was killed: nothing was tested"

    # A worker comes back (a restarted machine, a new one): the run is redelivered to it.
    back = stack.worker("long2@%h", queues="long")
    back.wait_for_log(" ready.", 90)
    run = _wait_run(coordinator, study, run_id,
                    until=lambda r: r["status"] in ("succeeded", "failed"), timeout=180,
                    services=stack.services)
    assert run["status"] == "succeeded", run.get("error")
    assert run["attempts"] == 2, run  # the killed attempt and the redelivered one
    assert "segmentation.run_execute[" in back.text()
    # One result, not two: one run, one ground truth, and it opens.
    listed = _ok(coordinator.request("GET", f"/api/studies/{study}/runs/"), 200)
    assert [r["id"] for r in listed].count(run_id) == 1
    assert all(r["attempts"] == 1 for r in listed if r["id"] != run_id)  # the other test's run
    rows = stack.services.sql(
        "SELECT count(*) FROM segmentation_groundtruth WHERE run_id = %s", (run_id,))
    assert rows == [(1,)]
    # On disk too: the second attempt replaced the first one's files, it did not add copies.
    media = stack.services.tmp / "data" / "media" / "ground_truth"
    assert sorted(p.name for p in media.iterdir()
                  if re.match(rf"run{run_id}[._-]", p.name)) == [
        f"run{run_id}-superpixels.npz", f"run{run_id}.npz"]
    estimates = stack.services.sql(
        "SELECT count(*) FROM segmentation_observerestimate e JOIN annotation_recording r "
        "ON e.recording_id = r.id WHERE r.id = ANY(%s)",
        ([o["recording"] for o in built["observers"]],))
    assert estimates == [(N_OBSERVERS,)]
    _check_downloads(coordinator, study, run_id)
    print(f"\nlong worker killed mid-run: run {run_id} succeeded on the new worker "
          f"{time.monotonic() - killed:.1f} s after the kill, attempts {run['attempts']}")
