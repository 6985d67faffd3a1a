// Unit tests of static/gazecrowd/js/gaze-model.js: `node --test tests/js/` (Node >= 18).
// Run from pytest by tests/annotation/test_webcam_model_js.py.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const GM = require(path.join(__dirname, "..", "..", "static", "gazecrowd", "js", "gaze-model.js"));

function rng(seed) { // mulberry32: the tests are deterministic
  return function () {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gauss(r) { return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()); }

// A face in normalised image coordinates looking at screen point (sx, sy) in [0, 1]^2: the irises
// move inside the eyes in proportion to the gaze (a known linear mapping), the head sits at
// (hx, hy) with some scale; `noise` jitters every landmark (image units).
function face(sx, sy, { hx = 0.5, hy = 0.45, scale = 0.12, noise = 0, r = Math.random } = {}) {
  const lm = Array.from({ length: GM.N_REFINED }, () => ({ x: hx, y: hy, z: 0 }));
  const put = (i, x, y) => { lm[i] = { x: x + noise * gauss(r), y: y + noise * gauss(r), z: 0 }; };
  const w = scale * 0.45; // eye width
  for (const [side, e] of Object.entries(GM.EYES)) {
    const cx = hx + (side === "right" ? -1 : 1) * scale * 0.5; // right eye on the image's left
    const outer = side === "right" ? cx - w / 2 : cx + w / 2, inner = side === "right" ? cx + w / 2 : cx - w / 2;
    put(e.outer, outer, hy); put(e.inner, inner, hy);
    put(e.upper, cx, hy - w * 0.18); put(e.lower, cx, hy + w * 0.18);
    // Looking right on the screen (sx up) moves both irises towards the image's left (a camera
    // facing the observer), looking down moves them down.
    put(e.iris, cx - (sx - 0.5) * w * 0.3, hy + (sy - 0.5) * w * 0.15);
  }
  put(1, hx, hy + scale * 0.6); put(10, hx, hy - scale * 0.9); put(152, hx, hy + scale * 1.5);
  return lm;
}

const TARGETS = [[.1, .1], [.5, .1], [.9, .1], [.1, .5], [.5, .5], [.9, .5], [.1, .9], [.5, .9], [.9, .9],
  [.3, .3], [.7, .3], [.3, .7], [.7, .7]];
const W = 1280, H = 800;

function calibrationSet(r, { perTarget = 20, noise = 0.0004, headJitter = 0.01 } = {}) {
  const X = [], Y = [], groups = [];
  TARGETS.forEach(([sx, sy], g) => {
    for (let i = 0; i < perTarget; i++) {
      const f = GM.features(face(sx, sy, { hx: 0.5 + headJitter * gauss(r), hy: 0.45 + headJitter * gauss(r), noise, r }));
      X.push(f); Y.push([sx * W, sy * H]); groups.push(g);
    }
  });
  return { X, Y, groups };
}

test("features: 12 numbers from refined landmarks; null without irises or with closed eyes", () => {
  const f = GM.features(face(0.5, 0.5));
  assert.equal(f.length, GM.NAMES.length);
  assert.ok(f.every(Number.isFinite));
  assert.equal(GM.features(face(0.5, 0.5).slice(0, 468)), null); // not refined: no iris
  const closed = face(0.5, 0.5);
  for (const e of Object.values(GM.EYES)) closed[e.lower] = { ...closed[e.upper] };
  assert.equal(GM.features(closed), null);
  // Iris features move with the gaze, normalised by eye width (a bigger face: the same numbers).
  const a = GM.features(face(0.9, 0.5)), b = GM.features(face(0.9, 0.5, { scale: 0.2 }));
  assert.ok(Math.abs(a[0] - b[0]) < 1e-9 && Math.abs(a[2] - b[2]) < 1e-9);
  assert.ok(a[0] < f[0] && a[2] > f[2] - 1); // right iris moved along its axis
});

test("fitRidge recovers a known linear map (small lambda)", () => {
  const r = rng(1), d = 5, Wt = [[3, -1], [0.5, 2], [0, 0], [-2, 1], [1, 1]], b = [10, -4];
  const X = [], Y = [];
  for (let i = 0; i < 200; i++) {
    const x = Array.from({ length: d }, () => gauss(r) * 3 + 1);
    X.push(x); Y.push([0, 1].map((c) => b[c] + x.reduce((s, v, j) => s + v * Wt[j][c], 0)));
  }
  const m = GM.fitRidge(X, Y, 1e-8);
  for (let i = 0; i < 20; i++) {
    const p = m.predict(X[i]);
    assert.ok(Math.abs(p[0] - Y[i][0]) < 1e-6 && Math.abs(p[1] - Y[i][1]) < 1e-6, `${p} vs ${Y[i]}`);
  }
  // A model survives JSON (the page keeps it for the next sequence).
  const back = GM.restore(JSON.parse(JSON.stringify(m)));
  assert.deepEqual(back.predict(X[3]), m.predict(X[3]));
  // A large lambda shrinks towards the mean of Y.
  const big = GM.fitRidge(X, Y, 1e6).predict(X[0]);
  const mean = [0, 1].map((c) => Y.reduce((s, y) => s + y[c], 0) / Y.length);
  assert.ok(Math.abs(big[0] - mean[0]) < 0.1 && Math.abs(big[1] - mean[1]) < 0.1);
});

test("calibration on synthetic faces maps unseen gaze points accurately", () => {
  const r = rng(2);
  const { X, Y, groups } = calibrationSet(r);
  const fit = GM.fitCV(X, Y, groups);
  let err = 0, n = 0;
  for (let i = 0; i < 50; i++) {
    const sx = 0.1 + 0.8 * r(), sy = 0.1 + 0.8 * r();
    const p = fit.model.predict(GM.features(face(sx, sy, { hx: 0.5 + 0.01 * gauss(r), hy: 0.45 + 0.01 * gauss(r), noise: 0.0004, r })));
    err += Math.hypot(p[0] - sx * W, p[1] - sy * H); n++;
  }
  err /= n;
  assert.ok(err < 60, `mean error ${err.toFixed(1)} px`); // ~1.5 deg at 60 cm on a 34.5 cm wide screen
  assert.ok(fit.cvError < 80, `cv error ${fit.cvError}`);
});

test("leave-one-target-out CV picks a small lambda for clean data and a larger one for noisy data", () => {
  const clean = calibrationSet(rng(3), { noise: 0, headJitter: 0.005 });
  const noisy = calibrationSet(rng(4), { perTarget: 3, noise: 0.01, headJitter: 0.03 });
  const a = GM.fitCV(clean.X, clean.Y, clean.groups), b = GM.fitCV(noisy.X, noisy.Y, noisy.groups);
  assert.ok(b.lambda > a.lambda, `clean ${a.lambda}, noisy ${b.lambda}`);
  assert.equal(a.cvError, Math.min(...a.errors));
  assert.equal(b.cvError, Math.min(...b.errors));
  assert.ok(a.lambda < 1, `clean data: lambda ${a.lambda}`);
  // The chosen lambda beats both ends of the grid on noisy data (or equals one when it is best).
  assert.ok(b.cvError <= b.errors[0] && b.cvError <= b.errors[b.errors.length - 1]);
  assert.throws(() => GM.fitCV(clean.X.slice(0, 40), clean.Y.slice(0, 40), clean.groups.slice(0, 40)), /at least 3/);
});

test("one-euro smoothing reduces jitter and follows a step", () => {
  const r = rng(5), f = new GM.Smoother2D({ minCutoff: 1.0, beta: 0.01 });
  let raw = 0, smooth = 0, prevRaw = null, prevSmooth = null;
  for (let i = 0; i < 300; i++) { // 10 s at 30 Hz of a fixation with 20 px noise
    const t = i / 30, p = [640 + 20 * gauss(r), 400 + 20 * gauss(r)];
    const s = f.filter(p, t);
    if (prevRaw) { raw += Math.hypot(p[0] - prevRaw[0], p[1] - prevRaw[1]); smooth += Math.hypot(s[0] - prevSmooth[0], s[1] - prevSmooth[1]); }
    prevRaw = p; prevSmooth = s;
  }
  assert.ok(smooth < raw / 3, `jitter raw ${raw.toFixed(0)} smoothed ${smooth.toFixed(0)}`);
  // A saccade to (1000, 400): the filter gets there within half a second.
  let s;
  for (let i = 300; i < 315; i++) s = f.filter([1000, 400], i / 30);
  assert.ok(Math.abs(s[0] - 1000) < 40, `after 0.5 s: ${s[0]}`);
});
