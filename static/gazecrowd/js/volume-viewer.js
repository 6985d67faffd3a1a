// The volume viewer: Niivue (static/vendor/niivue/) draws the volume in three orthogonal planes
// (or one) with a crosshair; the run's computed mask (red) and the reference (green) are
// overlays with their own opacity. Window/level, zoom and the left-drag mode are controls;
// Niivue's own mouse handling does the rest (right drag: window/level, scroll: slices).
// The state is on window.gazecrowdVolume for the browser tests and the benchmark.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("volume-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var status = $("volume-status");
  var state = window.gazecrowdVolume = { ready: false, error: null, t0: performance.now(), loadMs: null };
  if (!window.niivue || !window.niivue.Niivue) {
    status.textContent = "The viewer script did not load.";
    state.error = "niivue missing";
    return;
  }
  var nv = new window.niivue.Niivue({
    backColor: [0, 0, 0, 1], crosshairColor: [1, 0.85, 0, 1], crosshairWidth: 1,
    show3Dcrosshair: true, isResizeCanvas: true, multiplanarForceRender: false,
    isColorbar: false, dragAndDropEnabled: false, loadingText: "loading…",
  });
  state.nv = nv;
  var volumes = [{ url: cfg.volumeUrl, name: "volume.nii.gz", colormap: "gray" }];
  if (cfg.maskUrl) volumes.push({ url: cfg.maskUrl, name: "computed-mask.nii.gz", colormap: "red", opacity: 0.5, cal_min: 0.5, cal_max: 1 });
  if (cfg.referenceUrl) volumes.push({ url: cfg.referenceUrl, name: "reference.nii.gz", colormap: "green", opacity: 0, cal_min: 0.5, cal_max: 1 });
  var range = { min: 0, max: 1 };

  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3); }
  function showWindow() {
    var v = nv.volumes[0];
    var width = v.cal_max - v.cal_min, level = (v.cal_max + v.cal_min) / 2;
    $("window-width").value = width; $("window-level").value = level;
    $("window-width-value").textContent = fmt(width);
    $("window-level-value").textContent = fmt(level);
  }
  function setWindow(width, level) {
    var v = nv.volumes[0];
    v.cal_min = level - width / 2; v.cal_max = level + width / 2;
    nv.updateGLVolume();
    showWindow();
  }
  function overlayIndex(url) { return cfg.maskUrl && url === cfg.maskUrl ? 1 : (cfg.maskUrl ? 2 : 1); }

  nv.attachToCanvas($("volume-canvas")).then(function () {
    return nv.loadVolumes(volumes);
  }).then(function () {
    var v = nv.volumes[0];
    range = { min: v.global_min, max: v.global_max };
    var span = Math.max(range.max - range.min, 1e-6);
    $("window-width").min = span / 500; $("window-width").max = span; $("window-width").step = span / 500;
    $("window-level").min = range.min; $("window-level").max = range.max; $("window-level").step = span / 500;
    nv.setSliceType(nv.sliceTypeMultiplanar);
    showWindow();
    state.loadMs = performance.now() - state.t0;
    state.ready = true;
    status.textContent = "Loaded " + v.dims.slice(1, 4).join("×") + " voxels in " + (state.loadMs / 1000).toFixed(1) + " s.";
  }).catch(function (err) {
    state.error = String(err && err.message || err);
    status.textContent = "The volume could not be shown: " + state.error;
  });

  nv.onIntensityChange = function () { showWindow(); };
  nv.onLocationChange = function (loc) { $("location").textContent = loc && loc.string ? loc.string : ""; };

  $("plane").addEventListener("change", function () { nv.setSliceType(parseInt(this.value, 10)); });
  $("window-width").addEventListener("input", function () {
    var v = nv.volumes[0]; setWindow(parseFloat(this.value), (v.cal_max + v.cal_min) / 2);
  });
  $("window-level").addEventListener("input", function () {
    var v = nv.volumes[0]; setWindow(v.cal_max - v.cal_min, parseFloat(this.value));
  });
  $("zoom").addEventListener("input", function () {
    var p = nv.scene.pan2Dxyzmm;
    nv.setPan2Dxyzmm([p[0], p[1], p[2], parseFloat(this.value)]);
    $("zoom-value").textContent = parseFloat(this.value).toFixed(1) + "×";
  });
  $("drag").addEventListener("change", function () {
    nv.opts.dragModePrimary = nv.dragModes[this.value] !== undefined ? nv.dragModes[this.value]
      : ({ crosshair: 8, pan: 3, windowing: 9 })[this.value];
  });
  $("reset-view").addEventListener("click", function () {
    nv.setPan2Dxyzmm([0, 0, 0, 1]); $("zoom").value = 1; $("zoom-value").textContent = "1.0×";
    nv.volumes[0].cal_min = nv.volumes[0].robust_min !== undefined ? nv.volumes[0].robust_min : range.min;
    nv.volumes[0].cal_max = nv.volumes[0].robust_max !== undefined ? nv.volumes[0].robust_max : range.max;
    nv.updateGLVolume(); showWindow();
  });
  [["mask-opacity", cfg.maskUrl], ["reference-opacity", cfg.referenceUrl]].forEach(function (pair) {
    var input = $(pair[0]);
    if (!input) return;
    input.addEventListener("input", function () {
      nv.setOpacity(overlayIndex(pair[1]), this.value / 100);
      $(pair[0] + "-value").textContent = this.value + " %";
    });
  });
})();
