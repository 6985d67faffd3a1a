// The results viewer: frames with the run's pooled score heat map over them (RGBA PNG per frame
// from the server), opacity and frame sliders, play/pause, and the observers' gaze paths (mean
// gaze point per frame, image pixels) drawn as trails. The masks (computed at the threshold
// slider, reference, corrected, compare colours) are drawn by review.js through setOverlay.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("viewer-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var canvas = $("viewer-canvas"), ctx = canvas.getContext("2d");
  var slider = $("frame"), overlaySel = $("overlay"), opacity = $("opacity"), gazeBox = $("gaze");
  var COLOURS = ["#00e5ff", "#76ff03", "#ff4081", "#ffea00", "#b388ff", "#ff9100", "#18ffff", "#f50057"];
  var cache = {}; // url -> Image
  var gaze = null, playing = false, timer = null;
  var drawReview = null, afterRender = null, firstDrawn = false; // review.js's overlay and strip chart

  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds)), m = Math.floor(s / 60), r = s % 60;
    return m + ":" + String(r).padStart(2, "0");
  }
  if (!cfg.finished) { setTimeout(function poll() { // show progress; reload when the run ends
    fetch(cfg.runUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (run) {
      if (run.status === "succeeded" || run.status === "failed") { window.location.reload(); return; }
      var text = $("run-progress-text"), bar = document.querySelector("#run-progress progress");
      if (bar) bar.value = run.progress;
      if (text) {
        text.textContent = run.status === "queued"
          ? "queued " + clock(run.waiting_seconds) + (run.waiting_seconds > 10 ? ", waiting for a free worker" : "")
          : (run.stage || run.status) + " " + Math.round(run.progress * 100) + " %" +
            (run.elapsed_seconds !== null ? " · " + clock(run.elapsed_seconds) + " elapsed" : "") +
            (run.eta_seconds !== null ? " · about " + clock(run.eta_seconds) + " left" : "");
      }
      setTimeout(poll, 2000);
    }, function () { setTimeout(poll, 4000); });
  }, 1000); }

  function image(url) {
    if (!cache[url]) {
      var img = new Image();
      img.onload = function () { render(); };
      img.src = url;
      cache[url] = img;
    }
    return cache[url];
  }
  function frameUrl(k) { return cfg.frameUrlPrefix + k + ".png"; }
  function overlayUrl(k) {
    var kind = overlaySel.value;
    if (kind === "none" || !cfg.overlayUrlPrefix || (drawReview && kind !== "scores")) return null;
    return cfg.overlayUrlPrefix + k + ".png?kind=" + kind;
  }
  function render() {
    var k = Number(slider.value);
    var base = image(frameUrl(k));
    $("frame-label").textContent = "frame " + (k + 1) + " of " + cfg.nFrames;
    if (afterRender) afterRender(k);
    if (!base.complete || !base.naturalWidth) return;
    ctx.globalAlpha = 1;
    ctx.drawImage(base, 0, 0, cfg.width, cfg.height);
    if (!firstDrawn) { firstDrawn = true; performance.mark("gazecrowd:first-frame"); } // bench/review_page.py
    var o = overlayUrl(k);
    if (drawReview && drawReview(ctx, k, Number(opacity.value) / 100)) {
      // drawn by review.js from the raw scores / masks
    } else if (o) {
      var over = image(o);
      if (over.complete && over.naturalWidth) {
        ctx.globalAlpha = Number(opacity.value) / 100;
        ctx.drawImage(over, 0, 0, cfg.width, cfg.height);
        ctx.globalAlpha = 1;
      }
    }
    if (gazeBox.checked && gaze) drawGaze(k);
    // Warm the cache a few frames ahead so that playback does not stall.
    for (var j = 1; j <= 3 && k + j < cfg.nFrames; j++) {
      image(frameUrl(k + j)); if (overlayUrl(k + j)) image(overlayUrl(k + j));
    }
  }
  function drawGaze(k) {
    var r = Math.max(3, cfg.width / 120);
    gaze.recordings.forEach(function (rec, i) {
      var colour = COLOURS[i % COLOURS.length];
      ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = Math.max(1.5, r / 2);
      ctx.beginPath();
      var started = false;
      for (var j = Math.max(0, k - 8); j <= k; j++) {
        var p = rec.points[j];
        if (!p) { started = false; continue; }
        if (!started) { ctx.moveTo(p[0] + 0.5, p[1] + 0.5); started = true; } else ctx.lineTo(p[0] + 0.5, p[1] + 0.5);
      }
      ctx.stroke();
      var now = rec.points[k];
      if (now) { ctx.beginPath(); ctx.arc(now[0] + 0.5, now[1] + 0.5, r, 0, 2 * Math.PI); ctx.fill(); }
    });
  }
  function setPlaying(on) {
    playing = on;
    $("play").textContent = on ? "Pause" : "Play";
    clearInterval(timer);
    if (on) timer = setInterval(function () {
      var k = Number(slider.value) + 1;
      if (k >= cfg.nFrames) k = 0;
      slider.value = k; render();
    }, 1000 / cfg.fps);
  }
  $("play").addEventListener("click", function () { setPlaying(!playing); });
  document.addEventListener("keydown", function (e) {
    if (e.key === " " && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(e.target.tagName)) {
      e.preventDefault(); setPlaying(!playing);
    }
  });
  slider.addEventListener("input", render);
  overlaySel.addEventListener("change", render);
  opacity.addEventListener("input", function () { $("opacity-value").textContent = opacity.value + " %"; render(); });
  gazeBox.addEventListener("change", function () {
    if (gazeBox.checked && !gaze) {
      fetch(cfg.gazeUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (g) {
        gaze = g;
        var legend = $("gaze-legend");
        legend.innerHTML = "";
        g.recordings.forEach(function (rec, i) {
          var li = document.createElement("li");
          li.innerHTML = '<span style="color:' + COLOURS[i % COLOURS.length] + '">●</span> ';
          li.appendChild(document.createTextNode(rec.observer + " #" + rec.repeat));
          legend.appendChild(li);
        });
        legend.hidden = false;
        render();
      });
    } else {
      $("gaze-legend").hidden = !gazeBox.checked;
      render();
    }
  });
  window.gazecrowdViewer = {
    render: render, frame: function () { return Number(slider.value); },
    goTo: function (k) { setPlaying(false); slider.value = k; render(); },
    setOverlay: function (draw, after) { drawReview = draw; afterRender = after; render(); }
  };
  render();
})();
