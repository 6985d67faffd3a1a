// Webcam gaze model: face-mesh landmarks -> eye features -> screen x, y.
//
//   features(landmarks)       MediaPipe Face Mesh landmarks (478 with refineLandmarks: 468-477
//                             are the irises) -> a feature vector, or null when the eyes are not
//                             usable (no iris landmarks, eyes closed, degenerate geometry)
//   fitRidge(X, Y, lambda)    ridge regression X (n x d) -> Y (n x 2), features standardised,
//                             intercept not penalised; returns a model with predict(x)
//   fitCV(X, Y, groups, lambdas)  lambda chosen by leave-one-target-out cross-validation (each
//                             calibration target's samples held out in turn); returns
//                             {model, lambda, cvError (mean px), errors (per lambda)}
//   OneEuro(opts)             one-euro filter (Casiez et al. 2012) for one number;
//   Smoother2D(opts)          the same on x and y
//
// Everything runs in the observer's browser; video frames never leave it. Also loads in Node
// (module.exports) for the unit tests in static/gazecrowd/js/tests/.
(function (root, factory) {
  "use strict";
  var api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.GazeModel = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  // Face Mesh indices (refined landmarks). "Right" and "left" are the subject's: the right eye
  // is on the image's left in an unmirrored camera image.
  var EYES = {
    right: { outer: 33, inner: 133, upper: 159, lower: 145, iris: 468 },
    left: { outer: 263, inner: 362, upper: 386, lower: 374, iris: 473 },
  };
  var NOSE_TIP = 1, FOREHEAD = 10, CHIN = 152;
  var N_REFINED = 478;
  var NAMES = [
    "right_iris_u", "right_iris_v", "left_iris_u", "left_iris_v", "right_lid", "left_lid",
    "head_x", "head_y", "yaw", "pitch", "roll", "scale",
  ];
  var MIN_LID = 0.08; // eyelid opening / eye width below this: a blink (no estimate)

  function eye(lm, e) {
    var o = lm[e.outer], i = lm[e.inner], c = lm[e.iris];
    var mx = (o.x + i.x) / 2, my = (o.y + i.y) / 2;
    var dx = i.x - o.x, dy = i.y - o.y, w = Math.hypot(dx, dy);
    if (!(w > 1e-6)) return null;
    var ex = dx / w, ey = dy / w; // along the eye; (-ey, ex) across it
    var rx = c.x - mx, ry = c.y - my;
    var lid = Math.hypot(lm[e.lower].x - lm[e.upper].x, lm[e.lower].y - lm[e.upper].y) / w;
    return { u: (rx * ex + ry * ey) / w, v: (-rx * ey + ry * ex) / w, lid: lid, w: w, mx: mx, my: my };
  }

  // Landmarks are normalised image coordinates ({x, y, z} in [0, 1]) as Face Mesh gives them.
  function features(lm) {
    if (!lm || lm.length < N_REFINED) return null;
    var r = eye(lm, EYES.right), l = eye(lm, EYES.left);
    if (!r || !l) return null;
    if (r.lid < MIN_LID && l.lid < MIN_LID) return null;
    // The iris offset of the inner/outer axis points the same way on the screen for both eyes
    // only after flipping one: u runs outer -> inner, so the left eye's u is negated.
    var cx = (r.mx + l.mx) / 2, cy = (r.my + l.my) / 2;
    var iod = Math.hypot(l.mx - r.mx, l.my - r.my); // inter-ocular distance
    if (!(iod > 1e-6)) return null;
    var nose = lm[NOSE_TIP], top = lm[FOREHEAD], chin = lm[CHIN];
    var faceH = Math.hypot(chin.x - top.x, chin.y - top.y) || iod;
    return [
      r.u, r.v, -l.u, l.v, r.lid, l.lid,
      cx, cy,
      (nose.x - cx) / iod, // yaw proxy: nose tip left/right of the eyes' midpoint
      (nose.y - cy) / faceH, // pitch proxy: nose tip below the eyes, relative to face height
      Math.atan2(l.my - r.my, l.mx - r.mx), // roll
      iod, // distance proxy (the face's size in the image)
    ];
  }

  // --- linear algebra (d is small: 12) -------------------------------------------------------
  function solve(A, b) { // Gaussian elimination with partial pivoting; A d x d, b d x k
    var d = A.length, k = b[0].length, M = A.map(function (row, i) { return row.concat(b[i]); });
    for (var c = 0; c < d; c++) {
      var p = c;
      for (var r = c + 1; r < d; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
      var t = M[c]; M[c] = M[p]; M[p] = t;
      var piv = M[c][c];
      if (Math.abs(piv) < 1e-12) throw new Error("singular system");
      for (var r2 = 0; r2 < d; r2++) {
        if (r2 === c) continue;
        var f = M[r2][c] / piv;
        if (f === 0) continue;
        for (var j = c; j < d + k; j++) M[r2][j] -= f * M[c][j];
      }
    }
    return M.map(function (row, i) { return row.slice(d).map(function (v) { return v / M[i][i]; }); });
  }

  function fitRidge(X, Y, lambda) {
    var n = X.length, d = X[0].length, k = Y[0].length;
    var mu = new Array(d).fill(0), sd = new Array(d).fill(0), ym = new Array(k).fill(0);
    X.forEach(function (x) { for (var j = 0; j < d; j++) mu[j] += x[j] / n; });
    Y.forEach(function (y) { for (var j = 0; j < k; j++) ym[j] += y[j] / n; });
    X.forEach(function (x) { for (var j = 0; j < d; j++) sd[j] += (x[j] - mu[j]) * (x[j] - mu[j]) / n; });
    sd = sd.map(function (v) { return Math.sqrt(v) > 1e-9 ? Math.sqrt(v) : 1; });
    var Z = X.map(function (x) { return x.map(function (v, j) { return (v - mu[j]) / sd[j]; }); });
    var A = [], B = [];
    for (var a = 0; a < d; a++) {
      A.push(new Array(d).fill(0)); B.push(new Array(k).fill(0));
    }
    for (var i = 0; i < n; i++) {
      var z = Z[i], y = Y[i];
      for (var p = 0; p < d; p++) {
        for (var q = p; q < d; q++) A[p][q] += z[p] * z[q];
        for (var c = 0; c < k; c++) B[p][c] += z[p] * (y[c] - ym[c]);
      }
    }
    for (var p2 = 0; p2 < d; p2++) {
      for (var q2 = 0; q2 < p2; q2++) A[p2][q2] = A[q2][p2];
      A[p2][p2] += lambda * n; // lambda per sample: comparable across calibration sizes
    }
    return restore({ lambda: lambda, mean: mu, scale: sd, intercept: ym, weights: solve(A, B) });
  }

  // A model from its numbers (what toJSON keeps): the page keeps a calibration for the next
  // sequence in the tab's sessionStorage (numbers only, never images).
  function restore(p) {
    var d = p.mean.length, k = p.intercept.length;
    return {
      lambda: p.lambda, mean: p.mean, scale: p.scale, intercept: p.intercept, weights: p.weights,
      predict: function (x) {
        var out = p.intercept.slice();
        for (var j = 0; j < d; j++) {
          var z = (x[j] - p.mean[j]) / p.scale[j];
          for (var c = 0; c < k; c++) out[c] += z * p.weights[j][c];
        }
        return out;
      },
      toJSON: function () {
        return { lambda: p.lambda, mean: p.mean, scale: p.scale, intercept: p.intercept, weights: p.weights };
      },
    };
  }

  var LAMBDAS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3, 10];

  function fitCV(X, Y, groups, lambdas) {
    lambdas = lambdas || LAMBDAS;
    var ids = Array.from(new Set(groups));
    if (ids.length < 3) throw new Error("leave-one-target-out needs at least 3 targets");
    var errors = lambdas.map(function (lambda) {
      var total = 0, count = 0;
      ids.forEach(function (g) {
        var tx = [], ty = [], hx = [], hy = [];
        groups.forEach(function (gi, i) {
          if (gi === g) { hx.push(X[i]); hy.push(Y[i]); } else { tx.push(X[i]); ty.push(Y[i]); }
        });
        var m;
        try { m = fitRidge(tx, ty, lambda); } catch (e) { total = Infinity; return; }
        // The error of the held-out target: its mean prediction against it (what validation
        // measures), so one target's many samples count once.
        var px = 0, py = 0;
        hx.forEach(function (x) { var p = m.predict(x); px += p[0] / hx.length; py += p[1] / hx.length; });
        total += Math.hypot(px - hy[0][0], py - hy[0][1]); count += 1;
      });
      return count ? total / count : Infinity;
    });
    var best = 0;
    errors.forEach(function (e, i) { if (e < errors[best]) best = i; });
    return { model: fitRidge(X, Y, lambdas[best]), lambda: lambdas[best], cvError: errors[best],
             errors: errors, lambdas: lambdas };
  }

  // --- one-euro filter -----------------------------------------------------------------------
  function alpha(cutoff, dt) { var tau = 1 / (2 * Math.PI * cutoff); return 1 / (1 + tau / dt); }

  function OneEuro(opts) {
    opts = opts || {};
    this.minCutoff = opts.minCutoff === undefined ? 1.0 : opts.minCutoff; // Hz
    this.beta = opts.beta === undefined ? 0.01 : opts.beta;
    this.dCutoff = opts.dCutoff === undefined ? 1.0 : opts.dCutoff;
    this.reset();
  }
  OneEuro.prototype.reset = function () { this.x = null; this.dx = 0; this.t = null; };
  OneEuro.prototype.filter = function (value, tSeconds) {
    if (this.x === null || !(tSeconds > this.t)) {
      if (this.x === null) { this.x = value; this.t = tSeconds; }
      return this.x;
    }
    var dt = tSeconds - this.t;
    this.t = tSeconds;
    var dx = (value - this.x) / dt;
    this.dx = this.dx + alpha(this.dCutoff, dt) * (dx - this.dx);
    var cutoff = this.minCutoff + this.beta * Math.abs(this.dx);
    this.x = this.x + alpha(cutoff, dt) * (value - this.x);
    return this.x;
  };

  function Smoother2D(opts) { this.fx = new OneEuro(opts); this.fy = new OneEuro(opts); }
  Smoother2D.prototype.filter = function (p, tSeconds) {
    return [this.fx.filter(p[0], tSeconds), this.fy.filter(p[1], tSeconds)];
  };
  Smoother2D.prototype.reset = function () { this.fx.reset(); this.fy.reset(); };

  return {
    EYES: EYES, NAMES: NAMES, LAMBDAS: LAMBDAS, N_REFINED: N_REFINED,
    features: features, fitRidge: fitRidge, fitCV: fitCV, solve: solve, restore: restore,
    OneEuro: OneEuro, Smoother2D: Smoother2D,
  };
});
