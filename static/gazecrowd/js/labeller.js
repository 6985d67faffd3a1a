// The labelling page of image collections (templates/annotation/label.html).
//
// Three modes: "box" (drag a bounding box), "freehand" (draw an outline with the pointer held
// down) and "gaze" (a recording: the pointer is sampled at 60 Hz as in recorder.js, frame = the
// image shown; Space marks "I am fixating an instance"). Every label is POSTed with the time it
// took (box, freehand: pointer down to pointer up; gaze: since the image appeared or the previous
// mark), and the time spent on each image is POSTed when the observer leaves it.
// Coordinates are image pixels, x = column, y = row: boxes in pixel edges ([0, W]), outline
// vertices and points at pixel centres ([-0.5, W - 0.5]), as the API expects.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var cfg = JSON.parse($("labeller-config").textContent);
  var csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  var canvas = $("label-canvas"), ctx = canvas.getContext("2d");
  var scale = Math.min(3, 760 / cfg.width, 560 / cfg.height);
  canvas.width = Math.round(cfg.width * scale);
  canvas.height = Math.round(cfg.height * scale);

  var images = [], k = 0, shownAt = performance.now(), lastMark = shownAt;
  var labels = []; // own labels: {frame, mode, box, outline, point}
  var drag = null, path = null, pointer = null;
  var inflight = 0;
  // For the browser tests and for anyone curious: what the page has done.
  var api = window.gazecrowdLabeller = {
    saved: 0, visits: 0, errors: [], recordingId: null, state: "idle",
    image: function () { return k; }, busy: function () { return inflight; },
  };

  function status(text) { $("status").textContent = text; }
  function fail(text) { $("label-error").textContent = text; api.errors.push(text); }

  function post(url, body, keepalive) {
    inflight += 1;
    return fetch(url, {
      // keepalive (image visits only: small, and posted as the page is left) lets the request
      // outlive the page; not for gaze batches, whose backlog could exceed its 64 kB quota
      method: "POST", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        inflight -= 1;
        return { status: r.status, body: b };
      });
    }, function (err) { inflight -= 1; throw err; });
  }
  function detail(body) {
    return body && body.detail ? body.detail : JSON.stringify(body);
  }

  // --- images ---------------------------------------------------------------------------------
  function image(i) {
    if (!images[i]) {
      var img = new Image();
      img.onload = function () { if (i === k) draw(); };
      img.onerror = function () { fail("image " + (i + 1) + " could not be loaded"); };
      img.src = cfg.frameUrlPrefix + i + ".png";
      images[i] = img;
    }
    return images[i];
  }
  function draw() {
    var img = image(k);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (img.complete && img.naturalWidth) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 2;
    labels.filter(function (l) { return l.frame === k; }).forEach(function (l) { shape(l, "#3ce07a"); });
    if (drag) shape({ mode: "box", box: boxOf(drag) }, "#ffd23c");
    if (path) shape({ mode: "freehand", outline: path, open: true }, "#ffd23c");
    $("position").textContent = "image " + (k + 1) + " of " + cfg.nImages + " (" + cfg.names[k] + ")";
    $("label-count").textContent = labels.filter(function (l) { return l.frame === k; }).length;
  }
  function shape(l, colour) {
    ctx.strokeStyle = colour;
    ctx.beginPath();
    if (l.mode === "box") {
      ctx.rect(l.box[0] * scale, l.box[1] * scale, l.box[2] * scale, l.box[3] * scale);
    } else if (l.mode === "freehand") {
      l.outline.forEach(function (p, i) {
        var x = (p[0] + 0.5) * scale, y = (p[1] + 0.5) * scale;
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      if (!l.open) ctx.closePath();
    } else if (l.point) {
      ctx.arc((l.point[0] + 0.5) * scale, (l.point[1] + 0.5) * scale, 8, 0, 2 * Math.PI);
    }
    ctx.stroke();
  }
  function show(i) {
    if (i < 0 || i >= cfg.nImages || i === k) return;
    visitEnd();
    k = i;
    shownAt = lastMark = performance.now();
    drag = path = null;
    draw();
    image(Math.min(cfg.nImages - 1, k + 1)); // the next image loads while this one is labelled
  }
  function visitEnd() {
    var seconds = (performance.now() - shownAt) / 1000;
    if (cfg.mode === "gaze" && api.state !== "recording") return; // not started: nothing measured
    if (!(seconds > 0) || seconds > 3600) return;
    var body = { frame: k, mode: cfg.mode, seconds: seconds };
    if (api.recordingId) body.recording = api.recordingId;
    post(cfg.visitsUrl, body, true).then(function (res) {
      if (res.status === 201) api.visits += 1; else fail("time on image not saved: " + detail(res.body));
    }, function () { fail("time on image not saved: connection lost"); });
  }

  // --- pointer -> image pixels ----------------------------------------------------------------
  function edges(e) { // pixel-edge coordinates, clamped to the image
    var r = canvas.getBoundingClientRect();
    var x = (e.clientX - r.left) * cfg.width / r.width, y = (e.clientY - r.top) * cfg.height / r.height;
    return [Math.min(cfg.width, Math.max(0, x)), Math.min(cfg.height, Math.max(0, y))];
  }
  function centres(e) { // pixel-centre coordinates
    var p = edges(e);
    return [Math.min(cfg.width - 0.5, Math.max(-0.5, p[0] - 0.5)),
      Math.min(cfg.height - 0.5, Math.max(-0.5, p[1] - 0.5))];
  }
  function boxOf(d) {
    return [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0)];
  }
  function round2(v) { return Math.round(v * 100) / 100; }

  function save(label, seconds) {
    label.frame = k;
    var body = { frame: k, mode: label.mode, seconds: Math.max(seconds, 0.001) };
    ["box", "outline", "point"].forEach(function (f) { if (label[f]) body[f] = label[f]; });
    labels.push(label);
    draw();
    status("Saving…");
    post(cfg.labelsUrl, body).then(function (res) {
      if (res.status === 201) {
        api.saved += 1;
        status("Label saved (" + body.seconds.toFixed(1) + " s)");
      } else {
        labels.splice(labels.indexOf(label), 1);
        draw();
        fail("label not saved: " + detail(res.body));
      }
    }, function () { fail("label not saved: connection lost"); });
  }

  canvas.addEventListener("pointerdown", function (e) {
    if (cfg.mode === "gaze") return;
    canvas.setPointerCapture(e.pointerId);
    var p = edges(e);
    if (cfg.mode === "box") drag = { x0: p[0], y0: p[1], x1: p[0], y1: p[1], t0: performance.now() };
    else { path = [centres(e).map(round2)]; path.t0 = performance.now(); }
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", function (e) {
    if (drag) {
      var p = edges(e);
      drag.x1 = p[0]; drag.y1 = p[1];
      draw();
    } else if (path) {
      var q = centres(e).map(round2), last = path[path.length - 1];
      if (Math.abs(q[0] - last[0]) + Math.abs(q[1] - last[1]) >= 1) { path.push(q); draw(); }
    }
  });
  canvas.addEventListener("pointerup", function () {
    var now = performance.now();
    if (drag) {
      var b = boxOf(drag).map(round2), t0 = drag.t0;
      drag = null;
      if (b[2] >= 1 && b[3] >= 1) save({ mode: "box", box: b }, (now - t0) / 1000); else draw();
    } else if (path) {
      var pts = path.slice(), t1 = path.t0;
      path = null;
      if (pts.length >= 3) save({ mode: "freehand", outline: pts }, (now - t1) / 1000); else draw();
    }
  });

  // --- gaze mode: a recording, sampled as in recorder.js ----------------------------------------
  var t0 = 0, pending = [], batches = [], sampler = null, flusher = null;
  document.addEventListener("mousemove", function (e) {
    var r = canvas.getBoundingClientRect();
    var inside = e.clientX >= r.left && e.clientX < r.right && e.clientY >= r.top && e.clientY < r.bottom;
    pointer = inside ? centres(e) : null;
  });
  function sample() {
    var p = pointer;
    pending.push([Math.round(performance.now() - t0), k, p ? round2(p[0]) : null, p ? round2(p[1]) : null]);
  }
  function flush() {
    if (pending.length) { batches.push({ number: batches.length, samples: pending, stored: false, tries: 0 }); pending = []; }
    pump();
  }
  function pump() {
    batches.filter(function (b) { return !b.stored && !b.sending; }).forEach(function (b) {
      b.sending = true;
      post(cfg.recordingUrlPrefix + api.recordingId + "/batches/", { batch: b.number, samples: b.samples })
        .then(function (res) {
          b.sending = false;
          if (res.status === 200 || res.status === 201) { b.stored = true; return; }
          if (res.status >= 500 || res.status === 429) { b.tries += 1; setTimeout(pump, Math.min(8000, 500 * Math.pow(2, b.tries))); return; }
          fail("gaze batch " + b.number + " refused: " + detail(res.body));
        }, function () { b.sending = false; b.tries += 1; setTimeout(pump, Math.min(8000, 500 * Math.pow(2, b.tries))); });
    });
  }
  function stored() { return batches.every(function (b) { return b.stored; }); }
  function startGaze() {
    var r = canvas.getBoundingClientRect();
    var body = { source: "mouse", screen_width_px: screen.width, screen_height_px: screen.height,
      image_rect: [r.left + window.screenX, r.top + window.screenY, r.width, r.height], sampling_rate_hz: 60 };
    $("gaze-start").disabled = true;
    post(cfg.startUrl, body).then(function (res) {
      if (res.status !== 201 && res.status !== 200) { $("gaze-start").disabled = false; fail("could not start: " + detail(res.body)); return; }
      api.recordingId = res.body.id;
      api.state = "recording";
      t0 = shownAt = lastMark = performance.now();
      sampler = setInterval(sample, 1000 / 60);
      flusher = setInterval(flush, 1000);
      $("gaze-finish").disabled = false;
      status("Recording: look at each instance and press Space while you fixate it");
      canvas.focus();
    }, function () { $("gaze-start").disabled = false; fail("could not start: connection lost"); });
  }
  function finishGaze() {
    if (api.state !== "recording") return;
    visitEnd();
    api.state = "finishing";
    clearInterval(sampler); clearInterval(flusher);
    flush();
    $("gaze-finish").disabled = true;
    status("Saving the gaze…");
    var waited = 0;
    (function wait() {
      if (!stored() && waited < 60000) { waited += 200; setTimeout(wait, 200); return; }
      post(cfg.recordingUrlPrefix + api.recordingId + "/finish/", { expected_batches: batches.length })
        .then(function (res) {
          if (res.status === 200) { api.state = "finished"; status("Finished: " + batches.length + " gaze batches saved."); }
          else if (res.status === 409 && res.body.missing) {
            res.body.missing.forEach(function (n) { if (batches[n]) batches[n].stored = false; });
            pump(); api.state = "recording"; finishGaze();
          } else fail("finishing failed: " + detail(res.body));
        });
    })();
  }
  function mark() {
    if (api.state !== "recording") return;
    var now = performance.now();
    save({ mode: "gaze", point: pointer ? pointer.map(round2) : null }, (now - lastMark) / 1000);
    lastMark = now;
  }
  if (cfg.mode === "gaze") {
    $("gaze-start").addEventListener("click", startGaze);
    $("gaze-finish").addEventListener("click", finishGaze);
  }

  // --- navigation and keys --------------------------------------------------------------------
  $("prev").addEventListener("click", function () { show(k - 1); });
  $("next").addEventListener("click", function () { show(k + 1); });
  document.addEventListener("keydown", function (e) {
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    if (e.key === "ArrowLeft") { show(k - 1); e.preventDefault(); }
    else if (e.key === "ArrowRight") { show(k + 1); e.preventDefault(); }
    else if (e.key === " " && cfg.mode === "gaze") { mark(); e.preventDefault(); }
  });
  window.addEventListener("pagehide", function () { if (cfg.mode !== "gaze") visitEnd(); });

  // own labels drawn so far (observers see only theirs)
  (function loadLabels(url) {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (page) {
        (page.results || []).forEach(function (l) { if (l.mode !== "gaze" || l.point) labels.push(l); });
        if (page.next) loadLabels(page.next); else draw();
      }, function () { fail("your earlier labels could not be loaded"); });
  })(cfg.labelsUrl + "?limit=500");
  draw();
  image(Math.min(cfg.nImages - 1, 1));
})();
