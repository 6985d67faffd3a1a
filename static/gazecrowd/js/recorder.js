// The recording page: optional 9-point calibration/validation, then the sequence played full
// screen on a canvas at the study's frame rate while gaze (mouse pointer; the webcam through the
// bundled face model, webcam-gaze.js; or WebGazer when the server hosts it) is sampled at 60 Hz
// and streamed to the platform's API in ~1 s batches:
//   POST {startUrl}                               -> the recording (its id)
//   POST /api/recordings/<id>/batches/ {batch, samples: [[t_ms, frame, x, y], ...]}
//   POST /api/recordings/<id>/finish/  {expected_batches}   (409 lists missing batches)
// Every batch is kept until the recording is finished, so a lost or refused one is resent;
// the platform stores a retried batch once. Coordinates sent are image pixels (x = column,
// y = row, origin at the centre of the top-left pixel); null x, y = no gaze (lost sample).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("recorder-config").textContent);
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  // Tests shorten the waits (window.GAZECROWD_TIMING = {dwellMs, countdownS, holdMs}).
  var timing = window.GAZECROWD_TIMING || {};
  var DWELL_MS = timing.dwellMs || 1500; // each validation target is shown this long
  var COUNTDOWN_S = timing.countdownS === undefined ? 3 : timing.countdownS;
  var HOLD_MS = timing.holdMs || 600; // webcam calibration: samples taken after each click...
  var PRE_MS = 300; // ...and in the moment before it (the observer was looking at the target)
  var WEBCAM_REDO_DEG = cfg.webcamRecalibrateDeg || 3; // above this, recalibration is offered first
  var SAVED_KEY = "gazecrowd.webcamCalibration", SAVED_MAX_AGE_MS = 30 * 60 * 1000;
  var SAMPLE_HZ = 60;
  var BATCH_MS = 1000;

  var $ = function (id) { return document.getElementById(id); };
  var stage = $("stage"), canvas = $("canvas"), ctx = canvas.getContext("2d");
  var indicator = $("indicator"), calib = $("calib"), target = $("calib-target");

  var api = {
    state: "loading", recordingId: null, batchesSent: 0, samples: 0, calibrationDeg: null,
    validationDeg: null, driftDeg: null, calibAttempts: 0, source: "mouse", fallback: null, webcam: null, lambda: null,
    timing: { calibrationStart: null, firstSample: null },
    imageRect: function () { return rect; },
    frame: function () { return frame; }, // the frame on the canvas now (-1 before the first)
  };
  window.gazecrowdRecorder = api;

  // --- frames: a window fetched ahead, never the whole sequence -----------------------------
  // A sequence of thousands of frames is not preloaded: the first AHEAD frames (4 s of
  // playback) are loaded and decoded before the start, then playback keeps the next AHEAD
  // frames requested ahead of the clock (at most MAX_INFLIGHT requests at once) and forgets the
  // frames behind it. Timing stays the clock's: a frame not decoded when its time comes is not
  // waited for; the frame on screen stays, the samples meanwhile name it, and a frame never
  // shown counts in api.dropped.
  var AHEAD = Math.min(cfg.nFrames, Math.max(16, Math.ceil(cfg.fps * (timing.aheadS || 4))));
  var MAX_INFLIGHT = 6;
  var frames = {}, requested = {}, inflight = 0, horizon = 0;
  var onLoad = null, onFail = null; // set while the first window loads (preload)
  api.ahead = AHEAD; api.dropped = 0; api.late = 0; api.shown = 0; api.maxHeld = 0; api.requests = 0;
  function held() { return Object.keys(frames).length; }
  var failures = {};
  function request(k) {
    requested[k] = true; inflight += 1; api.requests += 1;
    var img = new Image();
    img.src = cfg.frameUrlPrefix + k + ".png";
    return img.decode().then(function () {
      if (k >= horizon - 2) { frames[k] = img; api.maxHeld = Math.max(api.maxHeld, held()); }
      if (onLoad) onLoad();
    }, function () {
      failures[k] = (failures[k] || 0) + 1;
      if (failures[k] < 3) delete requested[k]; // asked again by fetchAhead below
      else if (onFail) onFail(new Error("frame " + k + " could not be loaded"));
    }).finally(function () { inflight -= 1; fetchAhead(horizon); });
  }
  function fetchAhead(from) {
    horizon = from;
    Object.keys(frames).forEach(function (key) { if (+key < from - 2) delete frames[key]; });
    Object.keys(requested).forEach(function (key) { if (+key < from - 2) delete requested[key]; });
    var end = Math.min(cfg.nFrames, from + AHEAD);
    for (var k = from; k < end && inflight < MAX_INFLIGHT; k++) {
      if (!requested[k]) request(k); // a frame still missing when its time comes is dropped
    }
  }
  function preload() {
    // The first window, MAX_INFLIGHT requests at a time: the page is ready once it is decoded.
    var bar = $("load-progress"), status = $("load-status");
    bar.max = AHEAD;
    return new Promise(function (resolve, reject) {
      onLoad = function () {
        var n = 0;
        for (var k = 0; k < AHEAD; k++) if (frames[k]) n += 1;
        bar.value = n;
        status.textContent = "Frames loaded: " + n + " of the first " + AHEAD;
        if (n === AHEAD) { onLoad = onFail = null; resolve(); }
      };
      onFail = function (err) { onLoad = onFail = null; reject(err); };
      fetchAhead(0);
    });
  }

  // --- geometry -----------------------------------------------------------------------------
  var rect = null; // where the image is drawn, CSS pixels of the viewport
  function layout() {
    var dpr = window.devicePixelRatio || 1;
    var cw = window.innerWidth, ch = window.innerHeight;
    canvas.width = Math.round(cw * dpr); canvas.height = Math.round(ch * dpr);
    var scale = Math.min(cw / cfg.width, ch / cfg.height);
    rect = { left: (cw - cfg.width * scale) / 2, top: (ch - cfg.height * scale) / 2,
             width: cfg.width * scale, height: cfg.height * scale, scale: scale };
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }
  function screenOffset() {
    if (document.fullscreenElement) return { x: 0, y: 0 };
    // Outside full screen, the viewport's place on the screen is an estimate.
    return { x: window.screenX + (window.outerWidth - window.innerWidth) / 2,
             y: window.screenY + (window.outerHeight - window.innerHeight) };
  }
  function pxPerCm() { return screen.width / Number($("screen-cm").value || 34.5); }
  function degrees(px) {
    var cm = px / pxPerCm(), d = Number($("distance-cm").value || 60);
    return (Math.atan2(cm, d) * 180) / Math.PI;
  }

  // --- gaze sources -------------------------------------------------------------------------
  var pointer = null; // latest {x, y} in viewport pixels, null when unknown or off the window
  document.addEventListener("mousemove", function (e) { if (source === "mouse") pointer = { x: e.clientX, y: e.clientY }; });
  document.addEventListener("mouseleave", function () { if (source === "mouse") pointer = null; });
  var source = "mouse"; // "mouse", "webcam" (the bundled face model) or "webgazer"
  var tracker = null; // webcam-gaze.js's tracker while the webcam is on
  function gazeNow() { return source === "webcam" ? (tracker && tracker.gaze()) : pointer; }
  function apiSource() { return source === "mouse" ? "mouse" : "webcam"; }

  function startWebcam() {
    return window.GazeCrowdWebcam.start({ assetPath: cfg.faceMesh.assetPath }).then(function (t) {
      tracker = t; api.webcam = t;
    });
  }
  // No camera, permission refused, or the face model failed: record with the mouse instead.
  function fallBackToMouse(err) {
    var why = err && err.name === "NotAllowedError" ? "the camera was not allowed"
      : err && (err.name === "NotFoundError" || err.name === "OverconstrainedError") ? "no camera was found"
      : "the webcam could not start (" + ((err && err.message) || err) + ")";
    source = "mouse"; api.source = "mouse"; api.fallback = why;
    if (tracker) { tracker.stop(); tracker = null; }
    $("fallback-note").textContent = "Recording with the mouse pointer: " + why + ".";
    $("fallback-note").hidden = false;
  }

  function startWebGazer() {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = cfg.webgazerScript;
      s.onload = function () {
        var wg = window.webgazer;
        wg.params.faceMeshSolutionPath = cfg.webgazerModelPath;
        wg.saveDataAcrossSessions(false);
        wg.setGazeListener(function (data) { pointer = data ? { x: data.x, y: data.y } : null; });
        wg.begin().then(function () {
          wg.showVideoPreview(false).showPredictionPoints(false);
          resolve();
        }, reject);
      };
      s.onerror = function () { reject(new Error("webgazer.js could not be loaded from this server")); };
      document.head.appendChild(s);
    });
  }

  // --- calibration and validation -----------------------------------------------------------
  var POINTS = [[.1, .1], [.5, .1], [.9, .1], [.1, .5], [.5, .5], [.9, .5], [.1, .9], [.5, .9], [.9, .9]];
  // The webcam's regression gets 4 more targets between those (13 in all).
  var WEBCAM_POINTS = POINTS.concat([[.3, .3], [.7, .3], [.3, .7], [.7, .7]]);
  var DRIFT_POINTS = [[.5, .5], [.2, .2], [.8, .2], [.2, .8], [.8, .8]];
  function shuffled(a) { return a.map(function (p) { return [Math.random(), p]; }).sort().map(function (x) { return x[1]; }); }
  function showTarget(p) {
    target.style.left = (p[0] * window.innerWidth) + "px";
    target.style.top = (p[1] * window.innerHeight) + "px";
    target.hidden = false;
  }
  function clickEach() { // calibration: the observer clicks each target (trains WebGazer)
    var order = shuffled(POINTS), i = 0;
    return new Promise(function (resolve) {
      function next() {
        if (i >= order.length) { target.onclick = null; target.hidden = true; resolve(); return; }
        $("calib-help").textContent = "Calibration: look at the red target and click it (" + (i + 1) + " of 9).";
        showTarget(order[i]); target.focus();
        target.onclick = function () { i += 1; next(); };
      }
      next();
    });
  }
  // Webcam calibration: the observer looks at each target and clicks it; the face features of
  // the moment before the click and the HOLD_MS after it are that target's samples.
  function clickEachWebcam() {
    var order = shuffled(WEBCAM_POINTS), i = 0, X = [], Y = [], groups = [];
    return new Promise(function (resolve) {
      function next(note) {
        if (i >= order.length) { target.onclick = null; target.hidden = true; resolve({ X: X, Y: Y, groups: groups }); return; }
        $("calib-help").textContent = (note ? note + " " : "") + "Calibration: look at the red target and click it (" +
          (i + 1) + " of " + order.length + "). Keep your head still.";
        showTarget(order[i]); target.focus();
        var shownAt = performance.now();
        target.onclick = function () {
          target.onclick = null;
          var p = order[i];
          // Before the click, only what came 200 ms (a saccade) after the target appeared.
          var pre = Math.max(0, Math.min(PRE_MS, performance.now() - shownAt - 200));
          tracker.collect(HOLD_MS, pre).then(function (got) {
            api.calibAttempts += 1;
            if (got.length < 2) { next("Your face was not seen: face the camera, with light on your face."); return; }
            got.forEach(function (f) { X.push(f); Y.push([p[0] * window.innerWidth, p[1] * window.innerHeight]); groups.push(i); });
            i += 1; next();
          });
        };
      }
      next();
    });
  }
  function fitWebcam(data) {
    var fit = window.GazeModel.fitCV(data.X, data.Y, data.groups);
    tracker.setModel(fit.model);
    api.lambda = fit.lambda;
    return fit;
  }
  function savedCalibration(anyWindow) { // a calibration holds for the window it was made in
    try {
      var s = JSON.parse(window.sessionStorage.getItem(SAVED_KEY) || "null");
      if (!s || Date.now() - s.savedAt > SAVED_MAX_AGE_MS) return null;
      if (!anyWindow && (Math.abs(s.viewport[0] - window.innerWidth) > 2 ||
                         Math.abs(s.viewport[1] - window.innerHeight) > 2)) return null;
      return s;
    } catch (e) { return null; }
  }
  function saveCalibration() { // numbers only: the regression and its accuracy, for this tab
    try {
      window.sessionStorage.setItem(SAVED_KEY, JSON.stringify({
        model: tracker.model().toJSON(), validationDeg: api.validationDeg, lambda: api.lambda,
        viewport: [window.innerWidth, window.innerHeight], savedAt: Date.now(),
      }));
    } catch (e) { /* storage refused: the next sequence calibrates afresh */ }
  }
  function validate(points, label) { // validation: mean gaze over the last second of each target's dwell
    points = points || POINTS; label = label || "Validation";
    var order = shuffled(points), errors = [];
    return order.reduce(function (chain, p, i) {
      return chain.then(function () {
        $("calib-help").textContent = label + ": look at the target (" + (i + 1) + " of " + order.length + "). Do not click.";
        showTarget(p);
        var seen = [], t0 = performance.now();
        return new Promise(function (resolve) {
          var timer = setInterval(function () {
            var t = performance.now() - t0;
            var g = gazeNow();
            if (t > DWELL_MS - Math.min(1000, DWELL_MS * 0.66) && g) seen.push([g.x, g.y]);
            if (t >= DWELL_MS) {
              clearInterval(timer);
              if (seen.length) {
                var mx = seen.reduce(function (s, q) { return s + q[0]; }, 0) / seen.length;
                var my = seen.reduce(function (s, q) { return s + q[1]; }, 0) / seen.length;
                errors.push(Math.hypot(mx - p[0] * window.innerWidth, my - p[1] * window.innerHeight));
              } else {
                errors.push(null);
              }
              resolve();
            }
          }, 1000 / SAMPLE_HZ);
        });
      });
    }, Promise.resolve()).then(function () { target.hidden = true; return errors; });
  }
  function meanDeg(errors) {
    var ok = errors.filter(function (e) { return e !== null; }).map(degrees);
    if (!ok.length) return null;
    return { mean: ok.reduce(function (s, e) { return s + e; }, 0) / ok.length, worst: Math.max.apply(null, ok),
             n: ok.length, of: errors.length };
  }
  function offer(text, poor) { // the result, with "Start recording" and "Calibrate again"
    $("calib-help").textContent = "";
    $("calib-accuracy").textContent = text;
    $("calib-result").hidden = false;
    (poor ? $("calib-again") : $("calib-go")).focus();
    return new Promise(function (resolve) {
      $("calib-go").onclick = function () { calib.classList.remove("on"); resolve(); };
      $("calib-again").onclick = function () { api.driftDeg = null; resolve(calibrate()); };
    });
  }
  function calibrate() {
    api.state = "calibrating";
    calib.classList.add("on");
    $("calib-result").hidden = true;
    if (api.timing.calibrationStart === null) api.timing.calibrationStart = performance.now();
    var webcam = source === "webcam";
    var fitted = webcam ? clickEachWebcam().then(fitWebcam) : clickEach();
    return fitted.then(function () { return validate(); }).then(function (errors) {
      var m = meanDeg(errors), limit = webcam ? WEBCAM_REDO_DEG : 2, text;
      if (!m) {
        api.calibrationDeg = api.validationDeg = null;
        text = "No gaze was measured on any target: check the source, then calibrate again.";
      } else {
        api.calibrationDeg = m.mean;
        api.validationDeg = Math.min(90, m.mean);
        text = "Mean error " + m.mean.toFixed(2) + "° (worst " + m.worst.toFixed(2) + "°) over " + m.n + " of " +
          m.of + " targets" + (m.mean > limit ? (webcam ? ": above " + limit + "°, calibrating again is recommended." +
          " Sit still, light your face from the front, keep about the same distance." : ": consider calibrating again.") : ".");
        if (webcam) saveCalibration();
      }
      return offer(text, !m || m.mean > limit);
    });
  }
  // Between sequences: a calibration kept from the previous sequence (same window, < 30 min) is
  // checked on 5 targets instead of calibrating again; its drift is stored with the recording.
  function driftCheck(saved) {
    api.state = "calibrating";
    calib.classList.add("on");
    $("calib-result").hidden = true;
    if (api.timing.calibrationStart === null) api.timing.calibrationStart = performance.now();
    tracker.setModel(window.GazeModel.restore(saved.model));
    api.lambda = saved.lambda;
    return validate(DRIFT_POINTS, "Drift check").then(function (errors) {
      var m = meanDeg(errors);
      api.validationDeg = saved.validationDeg; api.calibrationDeg = saved.validationDeg;
      api.driftDeg = m ? Math.min(90, m.mean) : null;
      var poor = !m || m.mean > WEBCAM_REDO_DEG;
      return offer(m ? "Drift check: mean error " + m.mean.toFixed(2) + "° over " + m.n + " of " + m.of +
        " targets (your calibration's validation: " + (saved.validationDeg === null ? "not measured" : saved.validationDeg.toFixed(2) + "°") +
        ")" + (poor ? ": above " + WEBCAM_REDO_DEG + "°, calibrating again is recommended." : ".")
        : "No gaze was measured on the drift targets: calibrate again.", poor);
    });
  }

  // --- streaming ----------------------------------------------------------------------------
  var batches = []; // {number, samples, stored, attempts}
  var pending = [], nextNumber = 0, sending = false, fatal = null;
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { return { status: r.status, body: b }; });
    });
  }
  function show(kind, text) {
    indicator.className = "stream-indicator on " + kind;
    indicator.textContent = text;
  }
  function waiting() { return batches.filter(function (b) { return !b.stored; }).length; }
  function flush() {
    if (!pending.length) return;
    batches.push({ number: nextNumber, samples: pending, stored: false, attempts: 0 });
    nextNumber += 1; pending = [];
    pump();
  }
  function pump() {
    if (sending || fatal) return;
    var batch = batches.find(function (b) { return !b.stored; });
    if (!batch) return;
    sending = true;
    var url = cfg.recordingUrlPrefix + api.recordingId + "/batches/";
    post(url, { batch: batch.number, samples: batch.samples }).then(function (res) {
      sending = false;
      if (api.state === "aborted") return; // its answer no longer matters
      if (res.status === 200 || res.status === 201) {
        batch.stored = true;
        api.batchesSent = batches.filter(function (b) { return b.stored; }).length;
        var left = waiting();
        show("ok", "Gaze saved: batch " + batch.number + (left ? " · " + left + " waiting" : ""));
        pump();
      } else if (res.status >= 500 || res.status === 429 || res.status === 0) {
        retry(batch, "server busy (" + res.status + ")");
      } else {
        fatal = "batch " + batch.number + " refused (" + res.status + "): " + JSON.stringify(res.body);
        show("failed", "Gaze not saved: " + fatal);
      }
    }, function () { sending = false; retry(batch, "connection lost"); });
  }
  function retry(batch, why) {
    batch.attempts += 1;
    var delay = Math.min(8000, 500 * Math.pow(2, batch.attempts - 1));
    show("retrying", "Retrying batch " + batch.number + " in " + (delay / 1000).toFixed(1) + " s (" + why +
      ", attempt " + batch.attempts + ") · " + waiting() + " waiting");
    setTimeout(pump, delay);
  }
  function drained(timeoutMs) {
    var t0 = performance.now();
    return new Promise(function (resolve, reject) {
      (function check() {
        if (fatal) { reject(new Error(fatal)); return; }
        if (!waiting()) { resolve(); return; }
        if (performance.now() - t0 > timeoutMs) {
          reject(new Error(waiting() + " batches could not be sent; keep this page open and try again"));
          return;
        }
        setTimeout(check, 100);
      })();
    });
  }
  function finish(tries) {
    return post(cfg.recordingUrlPrefix + api.recordingId + "/finish/", { expected_batches: nextNumber })
      .then(function (res) {
        if (res.status === 200) return res.body;
        if (res.status === 409 && res.body.missing && tries > 0) { // resend what the server lacks
          res.body.missing.forEach(function (n) { if (batches[n]) batches[n].stored = false; });
          pump();
          return drained(60000).then(function () { return finish(tries - 1); });
        }
        throw new Error("finishing failed (" + res.status + "): " + JSON.stringify(res.body));
      });
  }

  // --- playback -----------------------------------------------------------------------------
  var sampler = null, flusher = null, t0 = 0, frame = -1, lateFrame = -1, stopped = false;
  function draw(k) {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, window.innerWidth, window.innerHeight);
    ctx.drawImage(frames[k], rect.left, rect.top, rect.width, rect.height);
    api.shown += 1;
  }
  function sample() {
    var t = performance.now() - t0;
    var k = Math.min(cfg.nFrames - 1, Math.floor((t * cfg.fps) / 1000));
    if (k !== frame && !frames[k] && frame >= 0) k = frame; // not decoded yet: still on screen
    var g = gazeNow();
    if (g && rect) {
      if (api.timing.firstSample === null) api.timing.firstSample = performance.now();
      var x = (g.x - rect.left) / rect.scale - 0.5, y = (g.y - rect.top) / rect.scale - 0.5;
      pending.push([Math.round(t * 10) / 10, k, Math.round(x * 100) / 100, Math.round(y * 100) / 100]);
    } else {
      pending.push([Math.round(t * 10) / 10, k, null, null]);
    }
    api.samples += 1;
  }
  function countdown() {
    return new Promise(function (resolve) {
      var n = COUNTDOWN_S;
      (function tick() {
        ctx.fillStyle = "#000"; ctx.fillRect(0, 0, window.innerWidth, window.innerHeight);
        if (n <= 0) { resolve(); return; }
        ctx.fillStyle = "#fff"; ctx.font = "bold 64px system-ui, sans-serif"; ctx.textAlign = "center";
        ctx.fillText(String(n), window.innerWidth / 2, window.innerHeight / 2);
        n -= 1; setTimeout(tick, 1000);
      })();
    });
  }
  function play() {
    return new Promise(function (resolve) {
      t0 = performance.now(); frame = -1; api.shown = 0; api.late = 0;
      sampler = setInterval(sample, 1000 / SAMPLE_HZ);
      flusher = setInterval(flush, BATCH_MS);
      (function loop() {
        if (stopped) { resolve(false); return; }
        var k = Math.floor(((performance.now() - t0) * cfg.fps) / 1000);
        if (k >= cfg.nFrames) { resolve(true); return; }
        fetchAhead(k);
        if (k !== frame && frames[k]) { frame = k; draw(k); }
        else if (k !== frame && k !== lateFrame) { lateFrame = k; api.late += 1; } // not decoded in time
        requestAnimationFrame(loop);
      })();
    }).then(function (completed) {
      clearInterval(sampler); clearInterval(flusher);
      api.dropped = cfg.nFrames - api.shown; // frames whose time came and went unseen
      if (completed) flush();
      else { pending = []; fatal = "stopped"; } // an aborted recording takes no more batches
      return completed;
    });
  }
  function leaveFullscreen() {
    stage.classList.remove("on"); calib.classList.remove("on");
    if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(function () {});
    if (source === "webgazer" && window.webgazer) window.webgazer.end();
    if (tracker) { tracker.stop(); tracker = null; }
  }
  function finishScreen(title, text) {
    $("setup").hidden = true;
    $("finish").hidden = false;
    $("finish-title").textContent = title;
    $("finish-text").textContent = text;
    $("finish").focus();
  }

  function startRecording() {
    layout();
    stage.classList.add("on");
    var off = screenOffset(), cm = Number($("screen-cm").value);
    var body = {
      source: apiSource(), playback_fps: cfg.fps, sampling_rate_hz: SAMPLE_HZ,
      screen_width_px: screen.width, screen_height_px: screen.height,
      screen_width_cm: cm, screen_height_cm: Math.round((cm * screen.height / screen.width) * 10) / 10,
      viewing_distance_cm: Number($("distance-cm").value),
      image_rect: [rect.left + off.x, rect.top + off.y, rect.width, rect.height].map(function (v) {
        return Math.round(v * 10) / 10;
      }),
    };
    if (api.calibrationDeg !== null) body.calibration_error_deg = Math.round(api.calibrationDeg * 1000) / 1000;
    if (api.validationDeg !== null) body.validation_error_deg = Math.round(api.validationDeg * 1000) / 1000;
    if (api.driftDeg !== null) body.drift_error_deg = Math.round(api.driftDeg * 1000) / 1000;
    return post(cfg.startUrl, body).then(function (res) {
      if (res.status !== 201 && res.status !== 200) {
        var why = res.body && res.body.detail ? res.body.detail : JSON.stringify(res.body);
        throw new Error("the recording could not start: " + why);
      }
      api.recordingId = res.body.id;
      api.state = "recording";
      wasFullscreen = !!document.fullscreenElement;
      show("ok", "Recording: gaze is being saved");
      // The first window again if an earlier playback on this page moved past it.
      return countdown().then(function () { return frames[0] ? null : preload(); }).then(play);
    }).then(function (completed) {
      if (!completed) return abort();
      api.state = "saving";
      leaveFullscreen();
      show("ok", "Saving the last gaze batches…");
      return drained(60000).then(function () { return finish(5); }).then(function (rec) {
        api.state = "finished";
        show("ok", "All gaze saved: " + nextNumber + " batches");
        finishScreen("Thank you!", "Recording #" + rec.id + " saved: " + api.samples + " gaze samples in " +
          nextNumber + " batches" + (api.calibrationDeg !== null ? ", calibration error " +
          api.calibrationDeg.toFixed(2) + "°" : "") + (api.driftDeg !== null ? ", drift " + api.driftDeg.toFixed(2) + "°" : "") +
          (api.fallback ? " (mouse pointer: " + api.fallback + ")" : "") + ".");
      });
    });
  }
  function abort() {
    api.state = "aborted";
    leaveFullscreen();
    var done = api.recordingId
      ? post(cfg.recordingUrlPrefix + api.recordingId + "/abort/", {}) : Promise.resolve();
    return done.then(function () {
      show("failed", "Recording stopped");
      finishScreen("Recording stopped", "You stopped the recording; it is kept as aborted and not used. " +
        "Use “Record again” when you are ready.");
    });
  }

  // Browsers keep Esc for themselves in full screen (it leaves full screen without a keydown):
  // leaving full screen during a recording stops it, as Esc does outside full screen.
  var wasFullscreen = false;
  document.addEventListener("fullscreenchange", function () {
    if (api.state !== "recording") return;
    if (document.fullscreenElement) wasFullscreen = true;
    else if (wasFullscreen) stopped = true;
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && api.state === "recording") { stopped = true; }
    // Nothing is recorded yet: leaving the calibration is starting the page afresh.
    if (e.key === "Escape" && api.state === "calibrating") { window.location.reload(); }
  });
  window.addEventListener("resize", function () { if (api.state !== "recording") return; layout(); if (frame >= 0) draw(frame); });

  // Screen width from a bank card (ISO/IEC 7810 ID-1: 85.60 x 53.98 mm) matched on the screen:
  // CSS pixels on both sides, so the device pixel ratio cancels.
  var CARD_CM = 8.56, CARD_RATIO = 53.98 / 85.6;
  function cardBox() {
    var w = Number($("card-size").value);
    $("card-box").style.width = w + "px"; $("card-box").style.height = Math.round(w * CARD_RATIO) + "px";
    return w;
  }
  $("card-check").addEventListener("click", function () { $("card-panel").hidden = false; cardBox(); $("card-size").focus(); });
  $("card-size").addEventListener("input", cardBox);
  $("card-done").addEventListener("click", function () {
    $("screen-cm").value = (Math.round((screen.width * CARD_CM / cardBox()) * 10) / 10).toFixed(1);
    $("card-panel").hidden = true; $("screen-cm").focus();
  });

  // The webcam starts only after the observer has read what happens to it and agreed.
  var consented = false;
  $("consent-accept").addEventListener("click", function () {
    consented = true; $("consent").hidden = true; begin();
  });
  $("consent-mouse").addEventListener("click", function () {
    $("consent").hidden = true;
    document.querySelector("input[name=source][value=mouse]").checked = true;
    begin();
  });
  $("setup-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var chosen = document.querySelector("input[name=source]:checked").value;
    if (chosen === "webcam" && !consented) {
      $("consent").hidden = false; $("consent-accept").focus();
      return;
    }
    begin();
  });
  function begin() {
    $("setup-error").textContent = "";
    $("fallback-note").hidden = true;
    source = document.querySelector("input[name=source]:checked").value;
    api.source = source; api.fallback = null;
    var el = document.documentElement;
    // Full screen must be asked for inside the click; refusal is fine (the stage fills the
    // window). Wait for it, and for the resize it causes, before measuring where things are.
    var fullscreen = el.requestFullscreen ? el.requestFullscreen().catch(function () {}) : Promise.resolve();
    $("start").disabled = true;
    fullscreen
      .then(function () { return new Promise(function (r) { setTimeout(r, 200); }); })
      .then(function () {
        if (source === "webgazer") return startWebGazer();
        if (source === "webcam") return startWebcam().catch(fallBackToMouse);
        return null;
      })
      .then(function () {
        if (source !== "webcam") return $("calibrate").checked ? calibrate() : null;
        var saved = savedCalibration(); // the webcam needs its regression: calibrate, or check drift
        return saved && $("reuse-calibration").checked ? driftCheck(saved) : calibrate();
      })
      .then(startRecording)
      .catch(function (err) {
        leaveFullscreen();
        api.state = "error";
        $("setup-error").textContent = "Problem: " + err.message;
        $("start").disabled = false;
        if (indicator.className.indexOf("failed") < 0) indicator.className = "stream-indicator";
      });
  }

  // A calibration kept from the previous sequence of this tab can be reused (after a drift check).
  if (cfg.faceMesh && savedCalibration(true)) $("reuse-row").hidden = false;

  preload().then(function () {
    api.state = "ready";
    $("start").disabled = false;
    $("load-status").textContent = AHEAD < cfg.nFrames
      ? "First " + AHEAD + " of " + cfg.nFrames + " frames loaded; the rest stream while you watch. Ready."
      : "All " + cfg.nFrames + " frames loaded. Ready.";
  }, function (err) {
    api.state = "error";
    $("setup-error").textContent = "The sequence could not be loaded: " + err.message + ". Reload the page.";
  });
})();
