// Sequence preview: scrub, step (arrow keys) or play through the frames as observers will see
// them (the platform's PNG-per-frame API), before any run. State on window.gazecrowdPreview
// for the browser tests.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("preview-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var canvas = $("preview-canvas"), ctx = canvas.getContext("2d");
  var slider = $("preview-frame"), label = $("preview-label"), play = $("preview-play");
  var noun = label.textContent.split(" ")[0];
  var cache = {}, timer = null;
  var state = window.gazecrowdPreview = { frame: 0, drawn: -1 };

  function load(k) {
    if (!cache[k]) {
      var img = new Image();
      img.onload = function () { if (k === state.frame) draw(); };
      img.src = cfg.frameUrlPrefix + k + ".png";
      cache[k] = img;
    }
    return cache[k];
  }
  function draw() {
    var img = load(state.frame);
    if (!img.complete || !img.naturalWidth) return;
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    state.drawn = state.frame;
    if (state.frame + 1 < cfg.nFrames) load(state.frame + 1); // next one ready when playing
  }
  function show(k) {
    state.frame = Math.max(0, Math.min(cfg.nFrames - 1, k));
    slider.value = state.frame;
    label.textContent = noun + " " + (state.frame + 1) + " of " + cfg.nFrames;
    draw();
  }
  function stop() { clearInterval(timer); timer = null; play.textContent = "Play"; }
  slider.addEventListener("input", function () { stop(); show(parseInt(this.value, 10)); });
  play.addEventListener("click", function () {
    if (timer) { stop(); return; }
    play.textContent = "Pause";
    timer = setInterval(function () { show((state.frame + 1) % cfg.nFrames); }, 125);
  });
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return; // a slider steps itself
    if (e.key === "ArrowRight" || e.key === "ArrowUp") { e.preventDefault(); stop(); show(state.frame + 1); }
    else if (e.key === "ArrowLeft" || e.key === "ArrowDown") { e.preventDefault(); stop(); show(state.frame - 1); }
    else if (e.key === " " && e.target === document.body) { e.preventDefault(); play.click(); }
  });
  show(0);
})();
