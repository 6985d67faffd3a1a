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
  var state = window.gazecrowdVolume = { ready: false, error: null, t0: performance.now(), loadMs: null, marks: {} };
  state.marks.script = state.t0; // ms since the start of navigation, per step
  if (!window.niivue || !window.niivue.Niivue) {
    status.textContent = "The viewer script did not load.";
    state.error = "niivue missing";
    return;
  }
  var nv = new window.niivue.Niivue({
    backColor: [0, 0, 0, 1], crosshairColor: [1, 0.85, 0, 1], crosshairWidth: 1,
    show3Dcrosshair: true, isResizeCanvas: true, multiplanarForceRender: false,
    // No 3-D rendering tile in the three-plane view: ray casting a volume costs seconds
    // without a GPU (software WebGL) and a reviewer checks masks on slices.
    multiplanarShowRender: 0,
    isColorbar: false, dragAndDropEnabled: false, loadingText: "loading…",
  });
  state.nv = nv;
  // The volume is shown first; the computed mask is added once it is on screen, the reference
  // only when asked for (its opacity raised): without a GPU (software WebGL) Niivue takes
  // seconds to resample each overlay into the volume's grid, and the volume should not wait.
  var overlays = { mask: { url: cfg.maskUrl, name: "computed-mask.nii.gz", colormap: "red", opacity: 0.5 },
                   reference: { url: cfg.referenceUrl, name: "reference.nii.gz", colormap: "green", opacity: 0.5 } };
  state.overlays = {}; // name -> "loading" | "ready" | error text
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
  function indexOf(name) {
    for (var i = 0; i < nv.volumes.length; i++) if (nv.volumes[i].name === name) return i;
    return -1;
  }
  function addOverlay(key, opacity) {
    var o = overlays[key];
    if (!o.url || state.overlays[key]) return Promise.resolve();
    state.overlays[key] = "loading";
    var note = $(key === "mask" ? "mask-opacity-value" : "reference-opacity-value");
    if (note) note.textContent = "loading…";
    return nv.addVolumeFromUrl({ url: o.url, name: o.name, colormap: o.colormap, opacity: opacity,
                                 cal_min: 0.5, cal_max: 1 }).then(function () {
      state.overlays[key] = "ready";
      state.marks[key] = performance.now();
      var input = $(key + "-opacity"), now = input ? input.value / 100 : opacity; // moved meanwhile?
      nv.setOpacity(indexOf(o.name), now);
      if (note) note.textContent = Math.round(now * 100) + " %";
    }, function (err) {
      state.overlays[key] = "failed: " + (err && err.message || err);
      if (note) note.textContent = "could not be loaded";
    });
  }

  nv.attachToCanvas($("volume-canvas")).then(function () {
    state.marks.attached = performance.now();
    return nv.loadVolumes([{ url: cfg.volumeUrl, name: "volume.nii.gz", colormap: "gray" }]);
  }).then(function () {
    state.marks.loaded = performance.now();
    var v = nv.volumes[0];
    range = { min: v.global_min, max: v.global_max };
    var span = Math.max(range.max - range.min, 1e-6);
    $("window-width").min = span / 500; $("window-width").max = span; $("window-width").step = span / 500;
    $("window-level").min = range.min; $("window-level").max = range.max; $("window-level").step = span / 500;
    nv.setSliceType(nv.sliceTypeMultiplanar);
    showWindow();
    state.loadMs = performance.now() - state.t0;
    nv.drawScene();
    state.readyAt = performance.now(); // since the start of navigation: what the benchmark reports
    state.ready = true;
    status.textContent = "Loaded " + v.dims.slice(1, 4).join("×") + " voxels in " + (state.readyAt / 1000).toFixed(1) + " s.";
    return addOverlay("mask", 0.5);
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
  [["mask-opacity", "mask"], ["reference-opacity", "reference"]].forEach(function (pair) {
    var input = $(pair[0]);
    if (!input) return;
    input.addEventListener("input", function () {
      var opacity = this.value / 100;
      if (!state.overlays[pair[1]]) { addOverlay(pair[1], opacity); return; }
      var i = indexOf(overlays[pair[1]].name);
      if (i < 0) return; // still loading: it takes the slider's value when it comes
      nv.setOpacity(i, opacity);
      $(pair[0] + "-value").textContent = this.value + " %";
    });
  });
})();
