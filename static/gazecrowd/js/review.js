// Review tools of the results page: the threshold slider (the mask cut from the run's stored
// score levels in the browser, no rerun), hand correction (brush, eraser, fill, undo/redo,
// propagation to neighbouring frames, saved as a new ground-truth version) and the compare view
// (TP/FP/FN colours, per-frame Dice strip chart, jump to the worst frames).
//
// Each frame's scores come as raw uint16 levels (score = level / 65535), exactly as stored, so
// the mask shown at a threshold is the mask an export cuts at it (segmentation/overlays.py).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("viewer-config").textContent);
  var R = cfg.review;
  var viewer = window.gazecrowdViewer;
  if (!R || !viewer) return;
  var $ = function (id) { return document.getElementById(id); };
  var W = cfg.width, H = cfg.height, N = W * H;
  var csrf = (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "";
  var LEVELS = 65535;
  var COLOURS = { mask: [0, 220, 255], edit: [255, 200, 0], ref: [120, 255, 120],
                  tp: [0, 200, 83], fp: [255, 23, 68], fn: [41, 121, 255] };

  // --- raw layers: scores, reference masks, versions (cached per frame) ------------------------
  var layers = {}, order = [], MAX_CACHED = 48;
  function layer(name, k) {
    var key = name + "/" + k;
    if (layers[key] === undefined) {
      layers[key] = null; // loading
      order.push(key);
      if (order.length > MAX_CACHED) delete layers[order.shift()];
      fetch(R.layerUrlPrefix + name + "/" + k + ".bin", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.arrayBuffer() : null; })
        .then(function (buf) {
          layers[key] = buf === null ? false : (name === "scores" ? new Uint16Array(buf) : new Uint8Array(buf));
          viewer.render();
        }, function () { layers[key] = false; });
    }
    return layers[key]; // typed array, null (loading) or false (none)
  }
  function whenLoaded(name, k) {
    return new Promise(function (resolve) {
      (function wait() {
        var v = layer(name, k);
        if (v === null) setTimeout(wait, 30); else resolve(v);
      })();
    });
  }

  // --- threshold ----------------------------------------------------------------------------
  var slider = $("threshold"), valueLabel = $("threshold-value");
  var threshold = Number(R.threshold);
  // The smallest level whose score (float32, as the server computes it) reaches t.
  function cutLevel(t) {
    var ft = Math.fround(t), lo = 0, hi = LEVELS + 1;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (Math.fround(mid / LEVELS) >= ft) hi = mid; else lo = mid + 1;
    }
    return lo;
  }
  function computedMask(k, t) { // Uint8Array or null while loading
    var levels = layer("scores", k);
    if (!levels) return null;
    var cut = cutLevel(t), out = new Uint8Array(N);
    for (var i = 0; i < N; i++) out[i] = levels[i] >= cut ? 1 : 0;
    return out;
  }
  var marker = $("rule-marker");
  if (marker) marker.style.left = (100 * R.ruleThreshold) + "%";
  function showThreshold() {
    valueLabel.textContent = threshold.toFixed(3);
    slider.value = threshold;
  }
  slider.addEventListener("input", function () {
    if (editThreshold !== null) { slider.value = editThreshold; return; }
    threshold = Number(slider.value);
    valueLabel.textContent = threshold.toFixed(3);
    if (overlayKind() === "none" || overlayKind() === "scores") $("overlay").value = "mask";
    viewer.render();
    // A strip chart of the computed masks follows the threshold (once the slider rests).
    clearTimeout(recompare);
    if (comparison && $("compare-left").value === "computed") recompare = setTimeout(function () { runCompare(true); }, 400);
  });
  var recompare = null;
  function saveThreshold(value) {
    return fetch(R.thresholdUrl, {
      method: "PUT", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify({ threshold: value })
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        var status = $("threshold-status");
        if (!res.ok) { status.textContent = "Not saved: " + JSON.stringify(res.body); status.className = "error-text"; return; }
        R.threshold = res.body.threshold; threshold = res.body.threshold; showThreshold(); viewer.render();
        status.className = "hint";
        status.textContent = res.body.reviewed_threshold === null
          ? "Exports cut at the rule's choice, " + res.body.threshold.toFixed(3) + "."
          : "Saved: exports cut at " + res.body.threshold.toFixed(3) + " (set by " + res.body.reviewed_by + ", " +
            new Date(res.body.reviewed_at).toLocaleString() + ").";
      });
  }
  if ($("save-threshold")) $("save-threshold").addEventListener("click", function () { saveThreshold(threshold); });
  if ($("reset-threshold")) $("reset-threshold").addEventListener("click", function () { saveThreshold(null); });

  // --- the overlay drawn by the viewer --------------------------------------------------------
  function overlayKind() { return $("overlay").value; }
  var scratch = document.createElement("canvas"); scratch.width = W; scratch.height = H;
  var sctx = scratch.getContext("2d"), image = sctx.createImageData(W, H);
  function paint(mask, colour, into) {
    var d = into.data;
    for (var i = 0, j = 0; i < N; i++, j += 4) {
      if (mask[i]) { d[j] = colour[0]; d[j + 1] = colour[1]; d[j + 2] = colour[2]; d[j + 3] = 255; }
      else d[j + 3] = 0;
    }
  }
  function shownMask(k) { // the edited mask, else the starting point while editing, else the computed one
    if (edits[k]) return edits[k];
    if (editing && editBase() !== "computed") return layer(editBase(), k) || null;
    return computedMask(k, editThreshold !== null ? editThreshold : threshold);
  }
  var lastArea = null, ready = false;
  function drawOverlay(ctx, k, alpha) {
    var kind = overlayKind(), mask = null;
    if (kind === "mask" || kind === "compare") { // warm the next frames so that playback does not stall
      for (var j = 1; j <= 2 && k + j < cfg.nFrames; j++) layer("scores", k + j);
    }
    if (kind === "mask") {
      mask = shownMask(k);
      if (!mask) return true;
      paint(mask, edits[k] ? COLOURS.edit : COLOURS.mask, image);
      showArea(mask, k);
      if (!ready) { ready = true; performance.mark("gazecrowd:threshold-ready"); } // bench/review_page.py
    } else if (kind === "reference") {
      mask = layer("reference", k);
      if (mask === false) { $("mask-area").textContent = "frame " + (k + 1) + " has no reference mask"; return true; }
      if (!mask) return true;
      paint(mask, COLOURS.ref, image);
      showArea(mask, k);
    } else if (kind === "compare") {
      if (!drawCompare(k)) return true;
    } else return false; // the viewer draws it (heat map PNG) or nothing
    sctx.putImageData(image, 0, 0);
    ctx.globalAlpha = alpha;
    ctx.drawImage(scratch, 0, 0, W, H);
    ctx.globalAlpha = 1;
    if (editing) drawCursor(ctx);
    return true;
  }
  function showArea(mask, k) {
    var n = 0;
    for (var i = 0; i < N; i++) n += mask[i];
    lastArea = n;
    $("mask-area").textContent = "mask area, frame " + (k + 1) + ": " + n + " px (" + (100 * n / N).toFixed(2) + " %)";
    $("mask-area").dataset.area = n; $("mask-area").dataset.frame = k;
  }

  // --- hand correction ------------------------------------------------------------------------
  var edits = {};          // frame -> Uint8Array (only frames touched since the last save)
  var editThreshold = null; // the threshold the edits started from (locked while unsaved)
  var undoStack = [], redoStack = [], MAX_UNDO = 60;
  var editing = false, stroke = null, cursor = null;
  var canvas = $("viewer-canvas");
  function tool() { var t = document.querySelector("input[name=tool]:checked"); return t ? t.value : "brush"; }
  function radius() { return Number($("brush-size").value) / 2; }
  function toImage(e) { // pointer -> image pixel, through the canvas's object-fit: contain box
    var r = canvas.getBoundingClientRect(), s = Math.min(r.width / W, r.height / H);
    var ox = r.left + (r.width - W * s) / 2, oy = r.top + (r.height - H * s) / 2;
    return { x: (e.clientX - ox) / s - 0.5, y: (e.clientY - oy) / s - 0.5 };
  }
  function stamp(mask, x, y, r, value) {
    var x0 = Math.max(0, Math.floor(x - r)), x1 = Math.min(W - 1, Math.ceil(x + r));
    var y0 = Math.max(0, Math.floor(y - r)), y1 = Math.min(H - 1, Math.ceil(y + r)), r2 = r * r;
    for (var yy = y0; yy <= y1; yy++) {
      for (var xx = x0; xx <= x1; xx++) {
        if ((xx - x) * (xx - x) + (yy - y) * (yy - y) <= r2) mask[yy * W + xx] = value;
      }
    }
  }
  function segment(mask, a, b, r, value) {
    var dist = Math.hypot(b.x - a.x, b.y - a.y), steps = Math.max(1, Math.ceil(dist / Math.max(0.5, r / 2)));
    for (var i = 0; i <= steps; i++) stamp(mask, a.x + (b.x - a.x) * i / steps, a.y + (b.y - a.y) * i / steps, r, value);
  }
  // Flip the 4-connected region under (x, y): a hole becomes object, an island background.
  function fill(mask, x, y) {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    var start = y * W + x, from = mask[start], to = from ? 0 : 1, stack = [start];
    while (stack.length) {
      var p = stack.pop();
      if (mask[p] !== from) continue;
      mask[p] = to;
      var px = p % W;
      if (px > 0) stack.push(p - 1);
      if (px < W - 1) stack.push(p + 1);
      if (p >= W) stack.push(p - W);
      if (p < N - W) stack.push(p + W);
    }
  }
  function applyOp(mask, op) {
    if (op.type === "fill") { fill(mask, op.points[0].x, op.points[0].y); return; }
    for (var i = 0; i < op.points.length; i++) segment(mask, op.points[Math.max(0, i - 1)], op.points[i], op.r, op.value);
  }
  function frames(k) {
    var n = Math.max(0, Math.min(10, Number($("propagate").value) || 0)), out = [];
    for (var j = Math.max(0, k - n); j <= Math.min(cfg.nFrames - 1, k + n); j++) out.push(j);
    return out;
  }
  function beginEdits() {
    if (editThreshold === null) { editThreshold = threshold; showLock(); }
    if ($("edit-base")) $("edit-base").disabled = true;
  }
  function showLock() {
    $("threshold-lock").hidden = editThreshold === null;
    if (editThreshold !== null) $("threshold-lock").textContent =
      "Threshold held at " + editThreshold.toFixed(3) + " while you have unsaved edits.";
  }
  function editBase() { var b = $("edit-base"); return b ? b.value : "computed"; }
  function baseMask(k) { // the starting point of frame k: computed at the held threshold, or a version
    var base = editBase();
    return base === "computed" ? computedMask(k, editThreshold) : layer(base, k);
  }
  function editable(k) { // the frame's edit array, created from the starting point (promise)
    if (edits[k]) return Promise.resolve(edits[k]);
    var base = editBase();
    return whenLoaded(base === "computed" ? "scores" : base, k).then(function () {
      if (!edits[k]) edits[k] = new Uint8Array(baseMask(k));
      return edits[k];
    });
  }
  // Apply ``op`` to frame ``k`` and its neighbours; one undo step for all of them.
  function commit(op, k, liveMask, liveBefore) {
    var step = [];
    var targets = frames(k);
    return Promise.all(targets.map(function (j) {
      if (j === k && liveMask) { step.push({ k: j, before: liveBefore.before, had: liveBefore.had }); return null; }
      var had = !!edits[j];
      return editable(j).then(function (mask) {
        step.push({ k: j, before: mask.slice(), had: had });
        applyOp(mask, op);
      });
    })).then(function () {
      step.forEach(function (s) { s.after = edits[s.k].slice(); });
      undoStack.push(step);
      // Each step holds two copies of every frame it touched (N bytes each): keep at most
      // MAX_UNDO steps and about 200 MB, dropping the oldest.
      var bytes = 0;
      undoStack.forEach(function (st) { bytes += st.length * 2 * N; });
      while (undoStack.length > 1 && (undoStack.length > MAX_UNDO || bytes > 200e6)) bytes -= undoStack.shift().length * 2 * N;
      redoStack = [];
      afterEdit();
    });
  }
  function restore(step, which) {
    step.forEach(function (s) {
      if (which === "before" && !s.had) delete edits[s.k]; else edits[s.k] = s[which].slice();
    });
    afterEdit();
  }
  function afterEdit() {
    var list = Object.keys(edits).map(Number).sort(function (a, b) { return a - b; });
    $("edited-frames").textContent = list.length ? "Edited frames: " + list.map(function (k) { return k + 1; }).join(", ") : "No unsaved edits.";
    $("save-version").disabled = !list.length;
    $("undo").disabled = !undoStack.length; $("redo").disabled = !redoStack.length;
    if (!list.length && !undoStack.length) {
      editThreshold = null; showLock();
      if ($("edit-base")) $("edit-base").disabled = false;
    }
    viewer.render();
  }
  function drawCursor(ctx) {
    if (!cursor || tool() === "fill") return;
    ctx.strokeStyle = tool() === "eraser" ? "#ff1744" : "#ffc800"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(cursor.x + 0.5, cursor.y + 0.5, radius(), 0, 2 * Math.PI); ctx.stroke();
  }
  canvas.addEventListener("pointerdown", function (e) {
    if (!editing || e.button !== 0) return;
    var k = viewer.frame(), p = toImage(e);
    beginEdits();
    e.preventDefault();
    var had = !!edits[k];
    editable(k).then(function (mask) {
      var before = { before: mask.slice(), had: had };
      if (tool() === "fill") {
        var op = { type: "fill", points: [p] };
        applyOp(mask, op);
        commit(op, k, mask, before);
        return;
      }
      stroke = { op: { type: "brush", points: [p], r: radius(), value: tool() === "eraser" ? 0 : 1 }, k: k, mask: mask, before: before };
      applyOp(mask, stroke.op);
      viewer.render();
    });
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!editing) return;
    cursor = toImage(e);
    if (stroke) {
      var pts = stroke.op.points;
      pts.push(cursor);
      segment(stroke.mask, pts[pts.length - 2], cursor, stroke.op.r, stroke.op.value);
    }
    viewer.render();
  });
  function endStroke() {
    if (!stroke) return;
    var s = stroke; stroke = null;
    commit(s.op, s.k, s.mask, s.before);
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  canvas.addEventListener("pointerleave", function () { cursor = null; if (editing) viewer.render(); });
  function undo() { var s = undoStack.pop(); if (s) { redoStack.push(s); restore(s, "before"); } }
  function redo() { var s = redoStack.pop(); if (s) { undoStack.push(s); restore(s, "after"); } }
  if ($("edit-mode")) {
    $("edit-mode").addEventListener("change", function () {
      editing = $("edit-mode").checked;
      $("edit-tools").hidden = !editing;
      canvas.classList.toggle("editing", editing);
      if (editing) $("overlay").value = "mask";
      viewer.render();
    });
    $("undo").addEventListener("click", undo);
    $("redo").addEventListener("click", redo);
    $("brush-size").addEventListener("input", function () { $("brush-size-value").textContent = $("brush-size").value + " px"; });
    document.addEventListener("keydown", function (e) {
      if (!editing || !(e.ctrlKey || e.metaKey) || /^(INPUT|TEXTAREA)$/.test(e.target.tagName)) return;
      if (e.key === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
      else if (e.key === "y" || (e.key === "Z" && e.shiftKey)) { e.preventDefault(); redo(); }
    });
    $("save-version").addEventListener("click", saveVersion);
    $("edit-base").addEventListener("change", function () { viewer.render(); });
  }
  function pngOf(mask) { // opaque white object on black, as the API reads it
    var c = document.createElement("canvas"); c.width = W; c.height = H;
    var g = c.getContext("2d"), img = g.createImageData(W, H), d = img.data;
    for (var i = 0, j = 0; i < N; i++, j += 4) { var v = mask[i] ? 255 : 0; d[j] = d[j + 1] = d[j + 2] = v; d[j + 3] = 255; }
    g.putImageData(img, 0, 0);
    return c.toDataURL("image/png");
  }
  function saveVersion() {
    var ks = Object.keys(edits).map(Number).sort(function (a, b) { return a - b; });
    if (!ks.length) return;
    var status = $("edit-status");
    status.className = "hint"; status.textContent = "Saving " + ks.length + " frame(s)…";
    $("save-version").disabled = true;
    fetch(R.versionsUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(Object.assign(
        editBase() === "computed" ? { run: R.runId, threshold: editThreshold } : { base_version: Number(editBase().slice(1)) },
        { note: $("version-note").value, frames: ks.map(function (k) { return { index: k, png: pngOf(edits[k]) }; }) }))
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) {
          status.className = "error-text"; status.textContent = "Not saved: " + JSON.stringify(res.body);
          $("save-version").disabled = false; return;
        }
        edits = {}; undoStack = []; redoStack = []; editThreshold = null;
        status.textContent = "Saved as version " + res.body.version + " (frames " +
          res.body.frames_edited.map(function (k) { return k + 1; }).join(", ") + ").";
        status.dataset.version = res.body.version;
        showLock(); afterEdit(); loadVersions();
      }, function (err) { status.className = "error-text"; status.textContent = "Not saved: " + err; $("save-version").disabled = false; });
  }

  // --- versions -------------------------------------------------------------------------------
  var versions = [];
  function loadVersions() {
    return fetch(R.versionsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; }).then(function (list) {
        versions = list;
        var ul = $("versions"); ul.innerHTML = "";
        if (!list.length) { var none = document.createElement("li"); none.className = "muted"; none.textContent = "No corrected version yet."; ul.appendChild(none); }
        list.slice().reverse().forEach(function (v) {
          var li = document.createElement("li");
          li.appendChild(document.createTextNode("v" + v.version + " · " + v.editor + " · " +
            new Date(v.created_at).toLocaleString() + " · run " + v.run + (v.threshold !== null ? " at " + v.threshold.toFixed(3) : "") +
            " · " + v.frames_edited.length + " frame(s) edited "));
          ["png", "nifti"].forEach(function (fmt) {
            var a = document.createElement("a"); a.href = v.downloads[fmt]; a.textContent = fmt; a.setAttribute("download", "");
            a.dataset.version = v.version; li.appendChild(a); li.appendChild(document.createTextNode(" "));
          });
          ul.appendChild(li);
        });
        ["compare-left", "compare-right", "edit-base"].forEach(function (id) {
          var sel = $(id);
          if (!sel) return;
          var keep = sel.value;
          Array.prototype.slice.call(sel.querySelectorAll("option[data-version]")).forEach(function (o) { o.remove(); });
          list.forEach(function (v) {
            var o = document.createElement("option"); o.value = "v" + v.version; o.dataset.version = v.version;
            o.textContent = "Corrected version " + v.version; sel.appendChild(o);
          });
          sel.value = keep;
          if (!sel.value) sel.selectedIndex = 0;
        });
      });
  }

  // --- compare --------------------------------------------------------------------------------
  var comparison = null; // the API's answer
  function sideMask(side, k) {
    if (side === "computed") return computedMask(k, threshold);
    if (side === "reference") return layer("reference", k);
    return layer(side, k); // v<N>
  }
  function drawCompare(k) {
    var a = sideMask($("compare-left").value, k), b = sideMask($("compare-right").value, k);
    if (a === false || b === false) { $("mask-area").textContent = "frame " + (k + 1) + " has no mask to compare with"; return false; }
    if (!a || !b) return false;
    var d = image.data, tp = 0, fp = 0, fn = 0;
    for (var i = 0, j = 0; i < N; i++, j += 4) {
      var c = a[i] ? (b[i] ? COLOURS.tp : COLOURS.fp) : (b[i] ? COLOURS.fn : null);
      if (c) { d[j] = c[0]; d[j + 1] = c[1]; d[j + 2] = c[2]; d[j + 3] = 255; } else d[j + 3] = 0;
      if (a[i] && b[i]) tp++; else if (a[i]) fp++; else if (b[i]) fn++;
    }
    var dice = tp + fp + fn ? 2 * tp / (2 * tp + fp + fn) : 1;
    $("mask-area").textContent = "frame " + (k + 1) + ": Dice " + dice.toFixed(3) + " · TP " + tp + " · FP " + fp + " · FN " + fn;
    $("mask-area").dataset.dice = dice; $("mask-area").dataset.frame = k;
    return true;
  }
  function runCompare(keepOverlay) {
    var left = $("compare-left").value, right = $("compare-right").value, q = [];
    if (left === "computed") q.push("threshold=" + threshold); else q.push("version=" + left.slice(1));
    if (right !== "reference") q.push("against=" + right.slice(1));
    var summary = $("compare-summary");
    summary.textContent = "Comparing…";
    if (!keepOverlay) $("overlay").value = "compare";
    viewer.render();
    return fetch(R.compareUrl + "?" + q.join("&"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) { summary.textContent = res.body.detail || JSON.stringify(res.body); comparison = null; drawStrip(); return; }
        comparison = res.body;
        summary.textContent = comparison.left + " vs " + comparison.right + ": mean Dice " +
          (comparison.mean_dice === null ? "n/a" : comparison.mean_dice.toFixed(3)) + " over " + comparison.frames.length + " frame(s).";
        var ul = $("worst-frames"); ul.innerHTML = "";
        var byFrame = {}; comparison.frames.forEach(function (f) { byFrame[f.frame] = f; });
        comparison.worst.forEach(function (k) {
          var li = document.createElement("li"), b = document.createElement("button");
          b.type = "button"; b.className = "link"; b.dataset.frame = k;
          b.textContent = "frame " + (k + 1) + " (Dice " + byFrame[k].dice.toFixed(3) + ")";
          b.addEventListener("click", function () { viewer.goTo(k); });
          li.appendChild(b); ul.appendChild(li);
        });
        $("worst-frames-box").hidden = !comparison.worst.length;
        drawStrip();
      });
  }
  var strip = $("dice-strip");
  function drawStrip() {
    var g = strip.getContext("2d"), w = strip.width, h = strip.height, n = cfg.nFrames, bw = w / n;
    g.clearRect(0, 0, w, h);
    g.fillStyle = "#f3f4f6"; g.fillRect(0, 0, w, h);
    if (comparison) {
      comparison.frames.forEach(function (f) {
        var v = f.dice, hue = Math.round(120 * v);
        g.fillStyle = "hsl(" + hue + ",75%,42%)";
        var bh = Math.max(3, v * (h - 2)); // a frame at Dice 0 still shows a (red) bar
        g.fillRect(f.frame * bw, h - bh, Math.max(1, bw - (bw > 3 ? 1 : 0)), bh);
      });
    }
    var k = viewer.frame();
    g.fillStyle = "#111"; g.fillRect(k * bw + bw / 2 - 1, 0, 2, h);
  }
  strip.addEventListener("click", function (e) {
    var r = strip.getBoundingClientRect(), k = Math.floor((e.clientX - r.left) / r.width * cfg.nFrames);
    viewer.goTo(Math.max(0, Math.min(cfg.nFrames - 1, k)));
  });
  $("compare-run").addEventListener("click", function () { runCompare(false); });
  ["compare-left", "compare-right"].forEach(function (id) {
    $(id).addEventListener("change", function () { if (comparison) runCompare(true); else viewer.render(); });
  });

  showThreshold();
  viewer.setOverlay(drawOverlay, drawStrip);
  loadVersions();
  window.gazecrowdReview = {
    threshold: function () { return threshold; }, area: function () { return lastArea; },
    cutLevel: cutLevel, edited: function () { return Object.keys(edits).map(Number); },
    editedValue: function (k, x, y) { return edits[k] ? edits[k][y * W + x] : null; },
    comparison: function () { return comparison; }
  };
})();
