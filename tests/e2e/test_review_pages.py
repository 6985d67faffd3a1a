"""The review pages in a real browser: volume viewer, gaze replay, sequence preview, observer panel.

Alice coordinates a study of six slices of the shipped BRATS sample (a NIfTI volume with its
tumour masks); four observers' gaze is imported and a real run pools them. Dave, an extra
observer, looked away most of the time: the run flags him. Alice opens the volume in the
viewer, changes window/level and plane, replays two observers' gaze, scrubs the preview and
reads why Dave was flagged. Every page runs under its own Content-Security-Policy with every
outside host blocked (so nothing is fetched from a CDN).

The screenshots at 1366x768 of the replay, the panel and the preview go to docs/screenshots/
(the user guide, docs/web.md, shows them); the volume viewer's there is bench/volume_viewer.py's
(a whole BRATS volume rather than these six slices).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from annotation import services as annotation_services
from crowd import services
from crowd.models import StudyMembership
from segmentation import services as seg_services

from .conftest import (
    CHROMIUM_ARGS,
    PASSWORD,
    SCREENSHOTS,
    block_outside_hosts,
    chromium,
    log_in_page,
)

Role = StudyMembership.Role
pytestmark = pytest.mark.django_db(transaction=True)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREEN = {"width": 1366, "height": 768}
# WebGL2 without a GPU: Chromium's software rasteriser (SwiftShader), which recent Chromium
# only enables for WebGL when asked.
WEBGL_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + [
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
FIXATING = {"olga": [(40.0 + 20 * k, 60.0 + 10 * k) for k in range(6)],
            "omar": [(200.0 - 25 * k, 150.0) for k in range(6)]}


@pytest.fixture(scope="module")
def gl_browser():
    with chromium(WEBGL_ARGS) as launched:
        yield launched


@pytest.fixture
def review_study(tmp_path, user):
    """Alice's study: the BRATS sample's six slices, four observers, Dave looking away; a run."""
    import nibabel as nib

    from segmentation.engine.datasets import load_sample
    from tests.segmentation.conftest import N_FRAMES, OBSERVERS

    alice = user("alice")
    sample = load_sample("brats-pat0001")
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    frames = np.moveaxis(sample.frames[:N_FRAMES], 0, -1).astype(np.float32)
    masks = np.moveaxis(sample.truth[:N_FRAMES], 0, -1).astype(np.uint8)
    nib.save(nib.Nifti1Image(frames, affine), tmp_path / "flair.nii.gz")
    nib.save(nib.Nifti1Image(masks, affine), tmp_path / "tumour.nii.gz")
    study = services.study_create(name="Tumours", created_by=alice, target_structure="tumour", quorum=99)
    sequence = services.sequence_import(study=study, path=tmp_path / "flair.nii.gz", name="pat0001",
                                        truth=tmp_path / "tumour.nii.gz")
    for table in sample.gaze:
        name = table["observer"].iloc[0]
        if name not in OBSERVERS:
            continue
        path = tmp_path / f"{name}.csv"
        table[table["frame"] < N_FRAMES].to_csv(path, index=False, na_rep="")
        annotation_services.recording_import_file(
            sequence=sequence, observer=services.user_get_or_create(username=name), path=path, fmt="csv",
            ensure_member=True)
    # Dave: eye lost on 80% of his samples (the tracker's blanks), the rest on the tumour's slice.
    good = sample.gaze[0]
    dave = good[good["frame"] < N_FRAMES].copy()
    lost = np.arange(len(dave)) % 5 != 0
    dave.loc[lost, ["x", "y"]] = np.nan
    dave["observer"] = "dave"
    path = tmp_path / "dave.csv"
    dave.to_csv(path, index=False, na_rep="")
    annotation_services.recording_import_file(
        sequence=sequence, observer=services.user_get_or_create(username="dave", password=PASSWORD),
        path=path, fmt="csv", ensure_member=True)
    # Olga and Omar hold their eyes still on one point per slice (fixations the replay must draw).
    from tests.segmentation.gaze_scenes import fixating_gaze_csv
    for seed, (name, where) in enumerate(FIXATING.items()):
        annotation_services.recording_import_file(
            sequence=sequence, observer=services.user_get_or_create(username=name),
            path=fixating_gaze_csv(tmp_path, name, where, seed=seed), fmt="csv", ensure_member=True)
    (run,) = seg_services.study_run_create(study=study, sequence=sequence, parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == run.Status.SUCCEEDED, run.error
    return study, sequence, run


@pytest.fixture
def page_as(gl_browser, live_server):
    contexts = []

    def open_page(username: str):
        context = gl_browser.new_context(viewport=SCREEN, base_url=live_server.url)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.outside = block_outside_hosts(page, live_server.url)
        page.violations = []
        page.on("console", lambda m: page.violations.append(m.text)
                if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text else None)
        return log_in_page(page, username)

    yield open_page
    for context in contexts:
        context.close()


def _canvas_mean(page, selector: str) -> float:
    """Mean grey level of an element's pixels as shown (a screenshot of it)."""
    from PIL import Image

    image = Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("L")
    return float(np.asarray(image, float).mean())


def test_volume_viewer_window_level_and_planes(review_study, page_as):
    study, sequence, run = review_study
    page = page_as("alice")
    page.goto(f"/studies/{study.pk}/runs/{run.pk}/volume/")
    page.wait_for_function("() => window.gazecrowdVolume && (window.gazecrowdVolume.ready || window.gazecrowdVolume.error)")
    assert page.evaluate("window.gazecrowdVolume.error") is None
    # The computed mask follows the volume; the reference comes when its opacity is raised.
    page.wait_for_function("() => window.gazecrowdVolume.overlays.mask === 'ready'")
    page.locator("#reference-opacity").evaluate("(el) => { el.value = 40; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => window.gazecrowdVolume.overlays.reference === 'ready'")
    state = page.evaluate("""() => { const nv = window.gazecrowdVolume.nv;
        return {dims: Array.from(nv.volumes[0].dims), sliceType: nv.opts.sliceType,
                names: nv.volumes.map(v => v.name), opacity: nv.volumes.map(v => v.opacity)}; }""")
    # the volume in its file's voxel order (rows, columns, slices), the computed mask, the reference
    assert state["dims"][1:4] == [sequence.height, sequence.width, sequence.n_frames]
    assert state["names"] == ["volume.nii.gz", "computed-mask.nii.gz", "reference.nii.gz"]
    assert state["opacity"][1:] == [0.5, 0.4]
    assert state["sliceType"] == 3  # three planes
    page.wait_for_timeout(300)
    before = _canvas_mean(page, "#volume-canvas")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the guide's is the benchmark's full volume
    page.screenshot(path=str(SCREENSHOTS / "volume-viewer-6-slices.png"))

    # A narrower window on a higher level: Niivue's window changes and the picture darkens.
    cal = page.evaluate("[window.gazecrowdVolume.nv.volumes[0].cal_min, window.gazecrowdVolume.nv.volumes[0].cal_max]")
    level = page.locator("#window-level")
    level.evaluate("(el) => { el.value = el.max * 0.9; el.dispatchEvent(new Event('input')); }")
    after_cal = page.evaluate("[window.gazecrowdVolume.nv.volumes[0].cal_min, window.gazecrowdVolume.nv.volumes[0].cal_max]")
    assert after_cal[0] > cal[0] and after_cal[1] > cal[1]
    page.wait_for_timeout(300)
    darker = _canvas_mean(page, "#volume-canvas")
    assert darker < before - 1, (before, darker)

    # One plane: Niivue's slice type changes and the picture with it.
    page.select_option("#plane", "2")
    assert page.evaluate("window.gazecrowdVolume.nv.opts.sliceType") == 2
    page.wait_for_timeout(300)
    assert abs(_canvas_mean(page, "#volume-canvas") - darker) > 0.5

    # Zoom and pan reach Niivue's 2-D view.
    page.locator("#zoom").evaluate("(el) => { el.value = 2; el.dispatchEvent(new Event('input')); }")
    assert page.evaluate("window.gazecrowdVolume.nv.scene.pan2Dxyzmm[3]") == 2
    page.select_option("#drag", "pan")
    assert page.evaluate("window.gazecrowdVolume.nv.opts.dragModePrimary === window.gazecrowdVolume.nv.dragModes.pan")
    box = page.locator("#volume-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 20, steps=5)
    page.mouse.up()
    pan = page.evaluate("Array.from(window.gazecrowdVolume.nv.scene.pan2Dxyzmm)")
    assert pan[3] == 2 and (pan[0] != 0 or pan[1] != 0 or pan[2] != 0), pan

    # The mask overlay's opacity reaches Niivue.
    page.locator("#mask-opacity").evaluate("(el) => { el.value = 0; el.dispatchEvent(new Event('input')); }")
    assert page.evaluate("window.gazecrowdVolume.nv.volumes[1].opacity") == 0
    assert page.outside == [], page.outside
    assert page.violations == [], page.violations


def _colour_pixels(page, canvas: str, hex_colour: str, tolerance: int = 40) -> int:
    """Pixels of a 2-D canvas within ``tolerance`` (per channel) of ``hex_colour``."""
    return page.evaluate("""([id, hex, tol]) => {
        const c = document.getElementById(id), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const want = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
        let n = 0;
        for (let i = 0; i < d.length; i += 4)
            if (Math.abs(d[i] - want[0]) <= tol && Math.abs(d[i + 1] - want[1]) <= tol && Math.abs(d[i + 2] - want[2]) <= tol) n++;
        return n; }""", [canvas, hex_colour, tolerance])


def test_gaze_replay_and_the_observer_panel(review_study, page_as):
    study, sequence, run = review_study
    page = page_as("alice")
    page.goto(f"/studies/{study.pk}/runs/{run.pk}/replay/")
    page.wait_for_function("() => window.gazecrowdReplay && (window.gazecrowdReplay.ready || window.gazecrowdReplay.error)")
    state = page.evaluate("window.gazecrowdReplay")
    assert "error" not in state or state["error"] is None
    assert {"olga", "omar", "dave"} <= set(state["observers"])
    colours = state["colours"]
    assert len(set(colours.values())) == len(colours)  # one colour each

    # Only Olga and Omar, in the middle of their third fixation (2 x 17 samples + 100 ms).
    for box in page.locator("#replay-observers input[type=checkbox]").all():
        name = box.evaluate("(el) => el.parentElement.textContent")
        if not name.startswith(("olga", "omar")):
            box.uncheck()
    page.locator("#replay-time").evaluate("(el) => { el.value = 2 * 17 * 1000 / 60 + 100; el.dispatchEvent(new Event('input')); }")
    state = page.evaluate("window.gazecrowdReplay")
    assert state["frame"] == 2
    assert state["drawnFixations"]["olga"] >= 1 and state["drawnFixations"]["omar"] >= 1
    assert state["heatSamples"] > 0
    for name in ("olga", "omar"):
        assert _colour_pixels(page, "replay-canvas", colours[name]) > 50, name

    # Play: the clock advances, the slider with it; pause stops it.
    DOCS.mkdir(parents=True, exist_ok=True)
    page.select_option("#replay-speed", "0.5")  # 1.65 s of gaze: half speed, not over before the pause
    page.click("#replay-play")
    page.wait_for_timeout(700)
    page.click("#replay-play")
    later = page.evaluate("window.gazecrowdReplay.timeMs")
    assert state["timeMs"] + 150 < later < state["durationMs"]
    assert float(page.locator("#replay-time").input_value()) == pytest.approx(later, abs=1)
    page.wait_for_timeout(200)
    assert page.evaluate("window.gazecrowdReplay.timeMs") == later
    page.screenshot(path=str(DOCS / "gaze-replay.png"))

    # The panel: Dave is flagged for his own data, in the run's words; the others pass.
    dave = page.locator("#observer-panel [data-observer=dave]")
    assert "flagged" in dave.get_attribute("class")
    reason = run.observers["flag_reasons"]["dave"]
    assert f"Flagged because {reason}." in dave.inner_text()
    assert "valid samples (eye found)" in dave.inner_text()
    olga = page.locator("#observer-panel [data-observer=olga]")
    assert "Not flagged" in olga.inner_text()
    # the swatches take the replay's colours
    assert olga.locator("[data-swatch]").evaluate("(el) => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
    dave.scroll_into_view_if_needed()
    page.locator("#observer-panel").screenshot(path=str(DOCS / "observer-panel.png"))
    assert page.outside == [], page.outside
    assert page.violations == [], page.violations


def test_sequence_preview_scrubs_frames(review_study, page_as):
    study, sequence, _ = review_study
    page = page_as("alice")
    page.goto(f"/studies/{study.pk}")
    page.click(f"a[href='/studies/{study.pk}/sequences/{sequence.pk}/preview/']")
    page.wait_for_function("() => window.gazecrowdPreview && window.gazecrowdPreview.drawn === 0")
    assert "third (k) axis" in page.locator("#slice-axis").inner_text()
    digest = "() => { const c = document.getElementById('preview-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let h = 0; for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i]) % 1000000007; return h; }"
    first = page.evaluate(digest)
    page.locator("#preview-frame").fill("3")
    page.wait_for_function("() => window.gazecrowdPreview.drawn === 3")
    assert page.locator("#preview-label").inner_text() == f"slice 4 of {sequence.n_frames}"
    assert page.evaluate(digest) != first
    page.locator("#preview-frame").focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => window.gazecrowdPreview.drawn === 2")
    page.screenshot(path=str(DOCS / "sequence-preview.png"))
    assert page.outside == [], page.outside
    assert page.violations == [], page.violations
