// Gaze replay: recordings played over their sequence. One clock for all shown observers (seconds
// since each recording's first sample; the frame shown is the first shown observer's frame at
// that time). Per observer, in their own colour: the current sample (dot), the fixations of
// the last two seconds (circles, area by duration, joined in order: the scanpath). Under them,
// a heat map of every shown observer's samples on the current frame (a blurred density on a
// quarter-resolution grid). State on window.gazecrowdReplay for the browser tests.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("replay-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var canvas = $("replay-canvas"), ctx = canvas.getContext("2d");
  var status = $("replay-status"), slider = $("replay-time"), playBtn = $("replay-play");
  // Distinct on dark and light images (Okabe-Ito, then more), one per observer, in page order.
  var COLOURS = ["#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7",
                 "#ffffff", "#8c564b", "#7fff00", "#ff1493", "#00ced1"];
  var TRAIL_MS = 2000;
  var SCALE = Math.max(1, Math.min(4, Math.floor(720 / Math.max(cfg.width, cfg.height))));
  canvas.width = cfg.width * SCALE; canvas.height = cfg.height * SCALE;
  var state = window.gazecrowdReplay = { ready: false, timeMs: 0, durationMs: 0, frame: 0, playing: false,
    observers: [], drawnFixations: {}, colours: {} };
  var recs = [], frames = {}, heat = document.createElement("canvas"), last = null;

  function frameImage(k) {
    if (!frames[k]) {
      var img = new Image();
      img.onload = function () { if (k === state.frame) draw(); };
      img.src = cfg.frameUrlPrefix + k + ".png";
      frames[k] = img;
    }
    return frames[k];
  }
  // index of the last sample at or before t (binary search on relative times)
  function at(rec, t) {
    var lo = 0, hi = rec.t.length - 1;
    if (hi < 0 || rec.t[0] > t) return -1;
    while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (rec.t[mid] <= t) lo = mid; else hi = mid - 1; }
    return lo;
  }
  function shown() { return recs.filter(function (r) { return r.shown; }); }

  function drawHeat(list, k) {
    var gw = Math.max(1, Math.ceil(cfg.width / 4)), gh = Math.max(1, Math.ceil(cfg.height / 4));
    var grid = new Float32Array(gw * gh), n = 0;
    list.forEach(function (r) {
      var idx = r.byFrame[k] || [];
      idx.forEach(function (i) {
        var gx = Math.floor(r.x[i] / 4), gy = Math.floor(r.y[i] / 4);
        if (gx >= 0 && gy >= 0 && gx < gw && gy < gh) { grid[gy * gw + gx] += 1; n++; }
      });
    });
    if (!n) return 0;
    // three box blurs ~ a Gaussian (sigma ~ 1 degree at the default 1/30 of the diagonal)
    var radius = Math.max(1, Math.round(Math.hypot(cfg.width, cfg.height) / 30 / 4 / 1.7));
    for (var pass = 0; pass < 3; pass++) { grid = blur(grid, gw, gh, radius, true); grid = blur(grid, gw, gh, radius, false); }
    var max = 0; for (var j = 0; j < grid.length; j++) if (grid[j] > max) max = grid[j];
    heat.width = gw; heat.height = gh;
    var hctx = heat.getContext("2d"), data = hctx.createImageData(gw, gh);
    for (var p = 0; p < grid.length; p++) {
      var v = grid[p] / max;
      if (v < 0.05) continue;
      data.data[p * 4] = 255; data.data[p * 4 + 1] = Math.round(255 * (1 - v)); data.data[p * 4 + 2] = 0;
      data.data[p * 4 + 3] = Math.round(180 * Math.min(1, v * 1.5));
    }
    hctx.putImageData(data, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heat, 0, 0, canvas.width, canvas.height);
    return n;
  }
  function blur(src, w, h, r, horizontal) {
    var out = new Float32Array(src.length), norm = 2 * r + 1;
    for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) {
      var s = 0;
      for (var d = -r; d <= r; d++) {
        var xx = horizontal ? x + d : x, yy = horizontal ? y : y + d;
        if (xx >= 0 && yy >= 0 && xx < w && yy < h) s += src[yy * w + xx];
      }
      out[y * w + x] = s / norm;
    }
    return out;
  }

  function draw() {
    var list = shown(), t = state.timeMs;
    var lead = list[0];
    if (lead) { var i0 = at(lead, t); state.frame = i0 >= 0 ? lead.frame[i0] : lead.frame[0] || 0; }
    state.frame = Math.max(0, Math.min(cfg.nFrames - 1, state.frame || 0));
    var img = frameImage(state.frame);
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (img.complete && img.naturalWidth) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    state.heatSamples = $("replay-heat").checked ? drawHeat(list, state.frame) : 0;
    state.drawnFixations = {};
    list.forEach(function (r) {
      var colour = r.colour, drawn = 0;
      if ($("replay-fixations").checked) {
        ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
        var prev = null;
        r.fix.forEach(function (f) {
          if (f.t > t || f.t + f.d < t - TRAIL_MS) return;
          var x = (f.x + 0.5) * SCALE, y = (f.y + 0.5) * SCALE;
          if (prev) { ctx.moveTo(prev[0], prev[1]); ctx.lineTo(x, y); }
          prev = [x, y];
        });
        ctx.stroke();
        r.fix.forEach(function (f) {
          if (f.t > t || f.t + f.d < t - TRAIL_MS) return;
          var radius = Math.max(4, Math.sqrt(f.d) * 0.9) * SCALE / 2;
          ctx.beginPath(); ctx.arc((f.x + 0.5) * SCALE, (f.y + 0.5) * SCALE, radius, 0, 2 * Math.PI);
          ctx.globalAlpha = 0.25; ctx.fillStyle = colour; ctx.fill();
          ctx.globalAlpha = 1; ctx.lineWidth = 3; ctx.stroke();
          drawn++;
        });
      }
      state.drawnFixations[r.observer] = drawn;
      var i = at(r, t);
      if (i >= 0 && r.x[i] !== null && r.y[i] !== null) {
        ctx.beginPath(); ctx.arc((r.x[i] + 0.5) * SCALE, (r.y[i] + 0.5) * SCALE, 4 + SCALE, 0, 2 * Math.PI);
        ctx.fillStyle = colour; ctx.fill(); ctx.lineWidth = 1.5; ctx.strokeStyle = "#000"; ctx.stroke();
      }
    });
    $("replay-clock").textContent = (t / 1000).toFixed(1) + " s of " + (state.durationMs / 1000).toFixed(1) + " s";
    $("replay-frame").textContent = "frame " + (state.frame + 1) + " of " + cfg.nFrames;
    slider.value = Math.round(t);
  }

  function seek(t) { state.timeMs = Math.max(0, Math.min(state.durationMs, t)); draw(); }
  function pause() { state.playing = false; playBtn.textContent = "Play"; last = null; }
  function tick(now) {
    if (!state.playing) return;
    if (last !== null) {
      var t = state.timeMs + (now - last) * parseFloat($("replay-speed").value);
      if (t >= state.durationMs) { seek(state.durationMs); pause(); return; }
      seek(t);
    }
    last = now;
    requestAnimationFrame(tick);
  }
  playBtn.addEventListener("click", function () {
    if (state.playing) { pause(); return; }
    if (state.timeMs >= state.durationMs) state.timeMs = 0;
    state.playing = true; playBtn.textContent = "Pause"; last = null;
    requestAnimationFrame(tick);
  });
  slider.addEventListener("input", function () { pause(); seek(parseFloat(this.value)); });
  $("replay-heat").addEventListener("change", draw);
  $("replay-fixations").addEventListener("change", draw);
  document.addEventListener("keydown", function (e) {
    if (e.key === " " && e.target === document.body) { e.preventDefault(); playBtn.click(); }
  });

  fetch(cfg.dataUrl, { credentials: "same-origin" }).then(function (r) {
    if (!r.ok) throw new Error("the server answered " + r.status);
    return r.json();
  }).then(function (data) {
    var box = $("replay-observers");
    data.recordings.forEach(function (rec, n) {
      var s = rec.samples, t0 = s.t.length ? s.t[0] : 0, byFrame = {};
      s.frame.forEach(function (f, i) {
        if (s.x[i] === null || s.y[i] === null) return;
        (byFrame[f] = byFrame[f] || []).push(i);
      });
      var r = { id: rec.id, observer: rec.observer, colour: COLOURS[n % COLOURS.length], shown: true,
        t: s.t.map(function (v) { return v - t0; }), frame: s.frame, x: s.x, y: s.y, byFrame: byFrame,
        fix: rec.fixations.map(function (f) { return { t: f[0] - t0, x: f[1], y: f[2], d: f[3], frame: f[4] }; }) };
      recs.push(r);
      state.colours[rec.observer + (rec.repeat > 1 ? " #" + rec.repeat : "")] = r.colour;
      state.durationMs = Math.max(state.durationMs, r.t.length ? r.t[r.t.length - 1] : 0);
      var label = document.createElement("label"), input = document.createElement("input"), sw = document.createElement("span");
      input.type = "checkbox"; input.checked = true; input.dataset.recording = rec.id;
      input.addEventListener("change", function () { r.shown = this.checked; draw(); });
      sw.className = "swatch"; sw.style.background = r.colour;
      label.appendChild(input); label.appendChild(sw);
      label.appendChild(document.createTextNode(rec.observer + (rec.repeat > 1 ? " (repeat " + rec.repeat + ")" : "") +
        " · " + rec.fixations.length + " fixations" + (rec.thinned ? " (samples thinned)" : "")));
      box.appendChild(label);
      // the observer panel's swatches take the replay's colours
      document.querySelectorAll("[data-swatch]").forEach(function (el) {
        if (el.dataset.swatch === rec.observer && !el.style.background) el.style.background = r.colour;
      });
    });
    state.observers = recs.map(function (r) { return r.observer; });
    slider.max = Math.max(1, Math.round(state.durationMs));
    status.textContent = recs.length ? recs.length + " recording" + (recs.length > 1 ? "s" : "") +
      (data.truncated ? " (the first " + recs.length + " only)" : "") + ", " + (state.durationMs / 1000).toFixed(1) + " s."
      : "No finished recording of this sequence yet.";
    state.ready = true;
    draw();
  }).catch(function (err) {
    status.textContent = "The recordings could not be loaded: " + err.message;
    state.error = String(err.message);
  });
})();
