// Webcam gaze on the observer's machine: camera -> MediaPipe Face Mesh (vendored, served by this
// server) -> eye features (gaze-model.js) -> ridge regression -> one-euro smoothing -> screen
// point. Video frames stay in this page: nothing but gaze samples ever leaves it (the recorder
// sends those through the batch API).
//
//   GazeCrowdWebcam.start({assetPath, onFrame}) -> Promise of a tracker (rejects with the
//       camera's error: NotAllowedError when refused, NotFoundError without a camera...)
//   tracker.features()            the latest feature vector (null: no usable face now)
//   tracker.collect(ms, preMs)    Promise of the feature vectors of the next ms (and the preMs
//                                 before the call): one calibration target's samples
//   tracker.setModel(model)       start predicting; tracker.gaze() -> {x, y} (viewport px) or null
//   tracker.stats()               {frames, faces, hz (over the last 2 s), meanHz, seconds,
//                                 msPerFrame (time in the face model per camera frame)}
//   tracker.stop()                camera off
//
// Test hook: window.GAZECROWD_WEBCAM_HOOK = {landmarks: function (detected) {...}} is given each
// frame's detected landmarks (or null) and returns the landmarks to use; the browser tests use
// it to move the irises with the target (a still photograph's eyes do not move).
(function () {
  "use strict";
  var GM = window.GazeModel;
  var STALE_MS = 250; // an estimate older than this is no estimate (face lost, blink)

  function start(opts) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      var e = new Error("this browser gives no access to a camera"); e.name = "NotSupportedError";
      return Promise.reject(e);
    }
    if (typeof window.FaceMesh !== "function") {
      return Promise.reject(new Error("the face model script was not loaded from this server"));
    }
    return navigator.mediaDevices.getUserMedia({
      audio: false, video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
    }).then(function (stream) { return begin(stream, opts); });
  }

  function begin(stream, opts) {
    var video = document.createElement("video");
    video.muted = true; video.playsInline = true; video.setAttribute("playsinline", "");
    video.style.cssText = "position:fixed;width:1px;height:1px;opacity:0;pointer-events:none;left:0;top:0";
    video.srcObject = stream;
    document.body.appendChild(video);
    var mesh = new window.FaceMesh({ locateFile: function (file) { return opts.assetPath + file; } });
    // CPU inference (XNNPACK in WebAssembly): measured faster than WebGL where the browser has no
    // GPU (bench/webcam_landmarks.py), and free of GPU-driver trouble; a laptop manages 30 Hz.
    mesh.setOptions({ maxNumFaces: 1, refineLandmarks: true, useCpuInference: opts.useCpuInference !== false,
                      minDetectionConfidence: 0.5, minTrackingConfidence: 0.5, selfieMode: false });
    var latest = null, latestAt = -Infinity, model = null, smoother = new GM.Smoother2D(opts.smoothing || { minCutoff: 0.8, beta: 0.02 });
    var gaze = null, gazeAt = -Infinity, running = true, frames = 0, faces = 0, times = [], since = performance.now();
    var buffer = []; // [time, features] of the last second, for collect()'s preMs
    var collectors = [];
    mesh.onResults(function (r) {
      var now = performance.now();
      frames += 1;
      var lm = r.multiFaceLandmarks && r.multiFaceLandmarks.length ? r.multiFaceLandmarks[0] : null;
      var hook = window.GAZECROWD_WEBCAM_HOOK;
      if (hook && hook.landmarks) lm = hook.landmarks(lm);
      var f = lm ? GM.features(lm) : null;
      if (lm) faces += 1;
      times.push(now);
      while (times.length && now - times[0] > 2000) times.shift();
      if (!f) return;
      latest = f; latestAt = now;
      buffer.push([now, f]);
      while (buffer.length && now - buffer[0][0] > 1000) buffer.shift();
      collectors.forEach(function (c) { c.push(f); });
      if (model) {
        var p = model.predict(f);
        var s = smoother.filter(p, now / 1000);
        gaze = { x: s[0], y: s[1] }; gazeAt = now;
      }
      if (opts.onFrame) opts.onFrame(f);
    });
    var lastTime = -1, busyMs = 0; // time spent in the face model (its cost per frame)
    function loop() {
      if (!running) return;
      // One estimate per new camera frame; yield to the page between frames.
      if (video.readyState >= 2 && video.currentTime !== lastTime) {
        lastTime = video.currentTime;
        var sentAt = performance.now();
        mesh.send({ image: video }).then(function () { busyMs += performance.now() - sentAt; setTimeout(loop, 0); }, function (err) {
          running = false; if (opts.onError) opts.onError(err);
        });
      } else {
        setTimeout(loop, 5);
      }
    }
    return video.play().then(function () { return mesh.initialize(); }).then(function () {
      since = performance.now();
      loop();
      return {
        video: video,
        features: function () { return performance.now() - latestAt < STALE_MS ? latest : null; },
        collect: function (ms, preMs) {
          var t0 = performance.now();
          var got = buffer.filter(function (b) { return t0 - b[0] <= (preMs || 0); }).map(function (b) { return b[1]; });
          collectors.push(got);
          return new Promise(function (resolve) {
            setTimeout(function () { collectors.splice(collectors.indexOf(got), 1); resolve(got); }, ms);
          });
        },
        setModel: function (m) { model = m; smoother.reset(); gaze = null; },
        model: function () { return model; },
        gaze: function () { return performance.now() - gazeAt < STALE_MS ? gaze : null; },
        stats: function () {
          var hz = times.length > 1 ? (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000) : 0;
          var s = (performance.now() - since) / 1000;
          return { frames: frames, faces: faces, hz: hz, meanHz: s > 0 ? frames / s : 0, seconds: s,
                   msPerFrame: frames ? busyMs / frames : null };
        },
        stop: function () {
          running = false;
          stream.getTracks().forEach(function (t) { t.stop(); });
          try { mesh.close(); } catch (e) { /* already closed */ }
          video.remove();
        },
      };
    }, function (err) {
      stream.getTracks().forEach(function (t) { t.stop(); });
      throw err;
    });
  }

  window.GazeCrowdWebcam = { start: start };
})();
