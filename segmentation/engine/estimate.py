"""Per-observer object probability of every superpixel from one recording's gaze points.

Two estimates are offered:

``paper`` -- exactly as published (Lejeune et al. 2017): a Gaussian colour model per gazed
superpixel (CIE Lab mean and covariance); ``p_n = max_g N(c_n; mu_g, Sigma_g)`` normalised to
[0, 1] by its largest value; gazed superpixels fixed at 1; then label propagation
``P_{m+1} = alpha Omega P_m + (1 - alpha) P_0`` with ``Omega = D^-1/2 W D^-1/2``,
``w_ij = exp(-|theta_i - theta_j|^2 / 2 sigma_a^2) exp(-|C_i - C_j|^2 / 2 sigma_d^2)`` for
centroids closer than ``tau`` pixels in the same frame, 10 iterations, rescaled to [0, 1].

``default`` -- the published estimate made robust to real gaze (measurements in
``docs/method.md``); it changes two things and keeps the rest:

1. *Which gaze points to trust*: a gazed superpixel whose colour is implausible under the
   colour models of the other gazed superpixels of the same recording (a glance away, a
   calibration offset that lands beside the object) is dropped. Support of g = mean over the
   other gazed g' of ``exp(-d^2(c_g; g') / 2)``; g is kept when its support is at least
   ``trust_ratio`` (0.25) times the median support. Dropped points are not fixed at 1 either.
2. *How to combine the colour models*: the average of the Gaussian densities over the trusted
   gazed superpixels instead of their maximum, so that one stray model cannot lift every
   superpixel of its colour to 1; normalised to [0, 1] by its largest value as in the paper.

Propagation stays as published (symmetric normalisation, alpha = 0.95, 10 iterations,
gradient orientation): on the development sequences it helps once the colour model is robust
(the rescaling by the maximum after ``D^-1/2 W D^-1/2`` is what rescues flat MRI background,
see ``docs/method.md``). The random-walk normalisation ``D^-1 (W + I)`` and the optical-flow
orientation are available (``normalisation``, ``theta``) and measured there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .accuracy import prior_sigma_deg

ESTIMATES = ("default", "paper")


@dataclass
class EstimateResult:
    """One recording's object probability per superpixel.

    Attributes
    ----------
    scores : (N,) float ndarray in [0, 1]
    gazed : (N,) bool ndarray
        Superpixels under a (trusted) gaze point; their score is 1.
    gaze_points : (T, 2) float ndarray
        (x, y) = (column, row) per frame, NaN where the frame has no gaze point.
    observer : str
    gazed_all : (N,) bool ndarray
        Every superpixel under a gaze point, trusted or not.
    compliance : dict
        :meth:`segmentation.engine.compliance.Compliance.to_dict` of the recording: own-data
        statistics and the reasons it is non-compliant (empty list when it is not).
    timings : dict
    accuracy_deg : float or None
        The recording's measured accuracy (degrees of visual angle; None = not measured).
    offset_px : (2,) tuple of float or None
        (dx, dy) pixels removed from the gaze by the crowd's alignment
        (:func:`segmentation.engine.accuracy.align_estimates`); None = not moved.
    """

    scores: np.ndarray
    gazed: np.ndarray
    gaze_points: np.ndarray
    observer: str = ""
    gazed_all: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    compliance: dict = field(default_factory=dict)
    accuracy_deg: float | None = None
    offset_px: tuple[float, float] | None = None


# ---------------------------------------------------------------------------------------------
# Colour models


def _inverse_covariances(cov: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Regularised inverse covariances (G, C, C) and log-determinants (G,).

    ``floor`` (a variance, in squared Lab units) is added to the diagonal: a superpixel of
    constant colour has a zero covariance, whose Gaussian is a Dirac.
    """
    c = cov.shape[-1]
    reg = cov.astype(np.float64) + floor * np.eye(c)[None]
    inv = np.linalg.inv(reg)
    _, logdet = np.linalg.slogdet(reg)
    return inv, logdet


def _mahalanobis_sq(x: np.ndarray, mu: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distances of points x (N, C) to each model (G) -> (N, G).

    With ``inv = A A^T`` (Cholesky), ``d^2 = |x A - mu A|^2``: one BLAS product for all
    models instead of an (N, G, C, C) contraction.
    """
    g, c = mu.shape
    a = np.linalg.cholesky(inv)  # (G, C, C), lower: inv_g = a_g a_g^T
    a_cat = a.transpose(1, 0, 2).reshape(c, g * c)  # a_cat[:, g*C + d] = a[g, :, d]
    xa = x @ a_cat  # (N, G*C)
    xa -= np.einsum("gc,gcd->gd", mu, a).reshape(-1)[None, :]
    xa *= xa
    xa = xa.reshape(x.shape[0], g, c)
    # Explicit adds over the short C axis: much faster than numpy's reduction along it.
    out = xa[:, :, 0].copy()
    for k in range(1, c):
        out += xa[:, :, k]
    return out


def colour_likelihood(colour_mean, colour_cov, gazed_idx, *, combine: str = "max",
                      density: bool = True, cov_floor: float = 1e-3,
                      chunk: int = 64) -> np.ndarray:
    """Colour-model score of every superpixel given the gazed superpixels.

    Parameters
    ----------
    colour_mean : (N, C) ndarray
    colour_cov : (N, C, C) ndarray
    gazed_idx : (G,) int ndarray
        Superpixels whose colour models are used.
    combine : {"max", "mean"}
        Max (the paper) or average over the G models.
    density : bool
        True: Gaussian densities (the paper); False: peak-normalised ``exp(-d^2 / 2)``.
    cov_floor : float
        Variance added to the covariance diagonals.

    Returns
    -------
    (N,) float ndarray
        ``combine="max"``: scaled so that the largest value is 1; ``"mean"``: as computed.
    """
    x = np.asarray(colour_mean, dtype=np.float64)
    n = x.shape[0]
    gazed_idx = np.asarray(gazed_idx, dtype=np.int64)
    if gazed_idx.size == 0:
        return np.zeros(n)
    inv, logdet = _inverse_covariances(np.asarray(colour_cov)[gazed_idx], cov_floor)
    mu = x[gazed_idx]
    c = x.shape[1]
    out = np.full(n, -np.inf if combine == "max" else 0.0)
    for a in range(0, gazed_idx.size, chunk):
        b = min(a + chunk, gazed_idx.size)
        d2 = _mahalanobis_sq(x, mu[a:b], inv[a:b])
        if density:
            logp = -0.5 * d2 - 0.5 * logdet[a:b][None] - 0.5 * c * np.log(2 * np.pi)
        else:
            logp = -0.5 * d2
        if combine == "max":
            out = np.maximum(out, logp.max(axis=1))
        elif combine == "mean":
            out += np.exp(logp).sum(axis=1)
        else:
            raise ValueError(f"combine must be 'max' or 'mean', got {combine!r}")
    if combine == "max":
        # In log space until here: densities of tight models overflow exp(). Scaled so that
        # the largest value is 1 (the paper's normalisation to [0, 1]).
        top = out.max()
        return np.exp(out - top) if np.isfinite(top) else np.zeros(n)
    return out / gazed_idx.size


def trusted_gazed(colour_mean, colour_cov, gazed_idx, *, trust_ratio: float = 0.25,
                  cov_floor: float = 4.0) -> np.ndarray:
    """Boolean mask (G,) of gazed superpixels consistent with the recording's other gazed ones.

    Support of g = mean over g' != g of ``exp(-d^2(c_g; mu_g', Sigma_g') / 2)``. A gaze point is
    trusted when its support is at least ``trust_ratio`` times the median support (fewer than 3
    gazed superpixels: all trusted).
    """
    gazed_idx = np.asarray(gazed_idx, dtype=np.int64)
    g = gazed_idx.size
    if g < 3:
        return np.ones(g, bool)
    x = np.asarray(colour_mean, dtype=np.float64)[gazed_idx]
    inv, _ = _inverse_covariances(np.asarray(colour_cov)[gazed_idx], cov_floor)
    k = np.exp(-0.5 * _mahalanobis_sq(x, x, inv))  # (G, G): row = point, column = model
    np.fill_diagonal(k, 0.0)
    support = k.sum(axis=1) / (g - 1)
    med = np.median(support)
    if med <= 0:
        return np.ones(g, bool)
    return support >= trust_ratio * med


# ---------------------------------------------------------------------------------------------
# Label propagation


def affinity_matrix(centroids, theta, groups, *, sigma_a: float = 0.5, sigma_d: float = 50.0,
                    tau: float = 50.0) -> sp.csr_matrix:
    """Sparse symmetric affinities between superpixels of the same frame closer than ``tau``.

    ``w_ij = exp(-|theta_i - theta_j|^2 / 2 sigma_a^2) exp(-|C_i - C_j|^2 / 2 sigma_d^2)``,
    zero diagonal.

    Parameters
    ----------
    centroids : (N, 2) ndarray, (row, col) pixels
    theta : (N,) ndarray, orientation in [-0.5, 0.5]
    groups : (N,) int ndarray, frame index (only pairs of the same frame are linked)

    Returns
    -------
    (N, N) scipy.sparse.csr_matrix
    """
    c = np.asarray(centroids, dtype=np.float64)
    n = c.shape[0]
    # Frames far apart on a third axis: query_pairs then never links two frames.
    pts = np.column_stack([c, np.asarray(groups, dtype=np.float64) * (4.0 * tau + 1.0)])
    pairs = cKDTree(pts).query_pairs(r=tau, output_type="ndarray")
    if pairs.size == 0:
        return sp.csr_matrix((n, n))
    i, j = pairs[:, 0], pairs[:, 1]
    th = np.asarray(theta, dtype=np.float64)
    d2 = ((c[i] - c[j]) ** 2).sum(1)
    w = np.exp(-((th[i] - th[j]) ** 2) / (2 * sigma_a**2)) * np.exp(-d2 / (2 * sigma_d**2))
    rows = np.concatenate([i, j])
    cols = np.concatenate([j, i])
    return sp.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n))


class LabelPropagation:
    """``P_{m+1} = alpha Omega P_m + (1 - alpha) P_0`` on a sparse affinity graph.

    Parameters
    ----------
    alpha : float, default 0.95
    n_iter : int, default 10
    normalisation : {"symmetric", "random_walk"}
        ``symmetric``: Omega = D^-1/2 W D^-1/2 (the paper); the result is rescaled to [0, 1] by
        its maximum. ``random_walk``: Omega = D^-1 (W + I), rows sum to 1, values stay in [0, 1].
    clamp : bool
        Hold the ``fixed`` nodes at 1 after every iteration.

    Attributes
    ----------
    scores_ : (N,) ndarray in [0, 1]
    omega_ : sparse (N, N) ndarray
    """

    def __init__(self, *, alpha: float = 0.95, n_iter: int = 10, normalisation: str = "symmetric",
                 clamp: bool = False):
        self.alpha = alpha
        self.n_iter = n_iter
        self.normalisation = normalisation
        self.clamp = clamp

    def operator(self, affinity) -> sp.csr_matrix:
        """The normalised affinity ``Omega`` of :meth:`fit` (``omega_``)."""
        w = sp.csr_matrix(affinity)
        n = w.shape[0]
        if self.normalisation == "symmetric":
            deg = np.asarray(w.sum(1)).ravel()
            dinv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-300)), 0.0)
            omega = sp.diags(dinv) @ w @ sp.diags(dinv)
        elif self.normalisation == "random_walk":
            w = w + sp.identity(n, format="csr")
            deg = np.asarray(w.sum(1)).ravel()
            omega = sp.diags(1.0 / deg) @ w
        else:
            raise ValueError(f"normalisation must be 'symmetric' or 'random_walk', "
                             f"got {self.normalisation!r}")
        return sp.csr_matrix(omega)

    def iterate(self, p0, omega, fixed=None) -> np.ndarray:
        """The ``n_iter`` iterations from ``p0`` on ``omega``, before any rescaling.

        Without ``clamp`` the result is linear in ``p0``: the chunked path
        (:mod:`segmentation.engine.chunks`) relies on it to propagate before the sequence's
        largest colour score is known.
        """
        p0 = np.asarray(p0, dtype=np.float64)
        fixed_mask = None if fixed is None else np.asarray(fixed, bool)
        p = p0.copy()
        for _ in range(self.n_iter):
            p = self.alpha * (omega @ p) + (1 - self.alpha) * p0
            if self.clamp and fixed_mask is not None:
                p[fixed_mask] = 1.0
        return p

    def fit(self, p0, affinity, fixed=None) -> LabelPropagation:
        omega = self.operator(affinity)
        fixed_mask = None if fixed is None else np.asarray(fixed, bool)
        p = self.iterate(p0, omega, fixed_mask)
        if self.normalisation == "symmetric":
            top = p.max() if p.size else 0.0
            if top > 0:
                p = p / top
        p = np.clip(p, 0.0, 1.0)
        if fixed_mask is not None:
            p[fixed_mask] = 1.0
        self.omega_ = omega
        self.scores_ = p
        return self


# ---------------------------------------------------------------------------------------------
# The two estimates

PAPER_PARAMS = dict(combine="max", density=True, cov_floor=1e-3, trust=False, propagate=True,
                    alpha=0.95, sigma_a=0.5, sigma_d=50.0, tau=50.0, n_iter=10,
                    normalisation="symmetric", clamp=False, theta="gradient")
#: ``spatial_deg``: each observer's colour model is weighed by a Gaussian of the distance to
#: their gaze (:func:`spatial_prior`) with this sigma in degrees. Chosen by leave-one-sequence-
#: out over the nine development sequences and six observer panels (pooled-estimate AUC,
#: docs/method.md "Delivered masks"): none 0.832 (worst 0.13), 3 degrees 0.939, 2: 0.943,
#: 1.5: 0.945, 1: 0.946 (worst 0.83), 0.75: 0.946, 0.5: 0.945; the held-out folds chose 1 or
#: 0.75. A sigma widened to the observer's gaze spread (tried) lost on small objects.
#: ``cov_floor="auto"``: 64 (lightness units squared, a standard deviation of 8 on 0-100) for
#: grey sequences, 1e-3 for colour ones. A grey MRI slice has large near-constant regions whose
#: tiny variance gives one gazed model a density that swamps the mean of densities and inverts
#: an observer's estimate. Once grey superpixels followed edges (superpixels.py) they became
#: more uniform and the floor of 4 chosen before no longer sufficed: per-observer estimate AUC
#: of observers 1-6 on the BRATS development volumes, means over pat0001 / 0002 / 0003, rose
#: with the floor (1e-3: 0.70 / 0.98 / 0.84; 4: 0.80 / 0.98 / 0.97; 16: 0.90 / 0.98 / 0.97;
#: 64: 0.94 / 0.98 / 0.98), the same order on each volume (so leave-one-volume-out picks 64
#: too). On the colour DAVIS sequences a floor cost 0.01 pooled AUC, so colour keeps 1e-3.
GREY_COV_FLOOR, COLOUR_COV_FLOOR = 64.0, 1e-3
#: ``spatial_accuracy``: with a measured accuracy ``a`` (degrees), the spatial prior's sigma is
#: ``hypot(spatial_deg, spatial_accuracy * a)`` (:func:`accuracy.prior_sigma_deg`); 0 keeps
#: ``spatial_deg``. 0 by leave-one-sequence-out (docs/method.md, "Webcam-grade observers with
#: measured accuracy"): on the webcam panel, without alignment, 0.5 and 1 lowered BRATS
#: delivered Dice (0.230 -> 0.218 / 0.193) and left DAVIS about as it was (0.491 -> 0.496 /
#: 0.498); after the alignment 0 / 0.5 / 1 gave 0.704 / 0.703 / 0.702 (all nine). A wider
#: prior spreads an off-target observer's colour model over more background; the known
#: accuracy is better spent moving the gaze (``segment(..., align=True)``).
SPATIAL_ACCURACY = 0.0
DEFAULT_PARAMS = dict(combine="mean", density=True, cov_floor="auto", trust=True, trust_ratio=0.25,
                      propagate=True, alpha=0.95, sigma_a=0.5, sigma_d=50.0, tau=50.0, n_iter=10,
                      normalisation="symmetric", clamp=False, theta="gradient",
                      spatial_deg=1.0, spatial_frames=2, spatial_accuracy=SPATIAL_ACCURACY)


def estimate_params(estimate: str = "default", **overrides) -> dict:
    """The parameters of a named estimate, with ``overrides`` applied (unknown keys refused)."""
    if estimate not in ESTIMATES:
        raise ValueError(f"estimate must be one of {', '.join(ESTIMATES)}, got {estimate!r}")
    params = dict(PAPER_PARAMS if estimate == "paper" else DEFAULT_PARAMS)
    params.setdefault("trust_ratio", 0.25)
    params.setdefault("spatial_deg", None)
    params.setdefault("spatial_frames", 2)
    params.setdefault("spatial_accuracy", 0.0)
    unknown = set(overrides) - set(params)
    if unknown:
        raise ValueError(f"unknown estimate option(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(params))}")
    params.update(overrides)
    return params


def spatial_prior(centroids, frame_of, points, *, sigma_px: float,
                  window: int = 2) -> np.ndarray:
    """How near each superpixel lies to where the observer looked: (N,) in [0, 1].

    ``exp(-d^2 / 2 sigma^2)`` with ``d`` the distance from the superpixel's centroid to the
    nearest gaze point of the frames within ``window`` of its own; 1 where none of those
    frames has a gaze point (no information).

    Parameters
    ----------
    centroids : (N, 2) ndarray, (row, col)
    frame_of : (N,) int ndarray
    points : (T, 2) ndarray, (x, y) = (col, row) per frame, NaN = none
    sigma_px : float
    window : int
    """
    centroids = np.asarray(centroids, dtype=np.float64)
    frame_of = np.asarray(frame_of)
    pts = np.asarray(points, dtype=np.float64)
    t_count = pts.shape[0]
    have = np.isfinite(pts).all(axis=1)
    out = np.ones(centroids.shape[0])
    order = np.argsort(frame_of, kind="stable")
    bounds = np.searchsorted(frame_of[order], np.arange(t_count + 1))
    for k in range(t_count):
        idx = order[bounds[k]:bounds[k + 1]]
        lo, hi = max(0, k - window), min(t_count, k + window + 1)
        near = pts[lo:hi][have[lo:hi]]
        if idx.size == 0 or near.size == 0:
            continue
        c = centroids[idx]
        d2 = ((c[:, None, 1] - near[None, :, 0]) ** 2 + (c[:, None, 0] - near[None, :, 1]) ** 2)
        out[idx] = np.exp(-d2.min(axis=1) / (2.0 * sigma_px ** 2))
    return out


def probability_estimate(prepared, gazed_sp: np.ndarray, params: dict,
                         points: np.ndarray | None = None,
                         accuracy_deg: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) in [0, 1] and the trusted gazed mask (N,) from gazed superpixel indices.

    Parameters
    ----------
    prepared : PreparedFrames
    gazed_sp : (T,) int ndarray
        Superpixel under each frame's gaze point, -1 = none (repeats allowed).
    params : dict
        From :func:`estimate_params`. ``spatial_deg`` (default None): weigh the colour model
        by :func:`spatial_prior` with sigma of this many degrees (needs ``points``).
    points : (T, 2) ndarray, optional
        The recording's gaze point per frame, for the spatial prior.
    accuracy_deg : float, optional
        The gaze's known error (degrees): widens the spatial prior to
        ``hypot(spatial_deg, spatial_accuracy * accuracy_deg)``.
    """
    n = prepared.n_superpixels
    if params["cov_floor"] == "auto":
        grey = np.asarray(prepared.colour_mean).shape[1] == 1
        params = {**params, "cov_floor": GREY_COV_FLOOR if grey else COLOUR_COV_FLOOR}
    idx = np.unique(gazed_sp[gazed_sp >= 0])
    gazed = np.zeros(n, bool)
    if idx.size == 0:
        return np.zeros(n), gazed
    if params["trust"]:
        keep = trusted_gazed(prepared.colour_mean, prepared.colour_cov, idx,
                             trust_ratio=params["trust_ratio"], cov_floor=params["cov_floor"])
        idx = idx[keep]
    gazed[idx] = True
    p = colour_likelihood(prepared.colour_mean, prepared.colour_cov, idx,
                          combine=params["combine"], density=params["density"],
                          cov_floor=params["cov_floor"])
    if params.get("spatial_deg") and points is not None:
        # The object lies near where the observer looked: colours far from the gaze count
        # less, so that a gazed part which looks like the background (a necrotic core) does
        # not lift the whole background above the rest of the object.
        # A gaze known to be off by ``accuracy_deg`` places the object only that precisely.
        sigma = prior_sigma_deg(float(params["spatial_deg"]), accuracy_deg,
                                float(params.get("spatial_accuracy") or 0.0))
        p = p * spatial_prior(prepared.centroids, prepared.frame_of, points,
                              sigma_px=sigma * prepared.px_per_degree,
                              window=int(params.get("spatial_frames", 2)))
    if params["density"]:
        top = p.max()
        p = p / top if top > 0 else p
    else:
        ref = np.median(p[idx])
        p = p / ref if ref > 0 else p
    p = np.clip(p, 0.0, 1.0)
    p[gazed] = 1.0
    if params["propagate"]:
        theta = prepared.theta_gradient
        if params["theta"] == "flow":
            if prepared.theta_flow is None:
                raise ValueError("theta='flow' needs a sequence prepared with flow=True")
            theta = prepared.theta_flow
        # The graph depends on the sequence only: build it once for all observers.
        key = ("affinity", params["theta"], params["sigma_a"], params["sigma_d"], params["tau"])
        cache = getattr(prepared, "cache", None)
        w = cache.get(key) if cache is not None else None
        if w is None:
            w = affinity_matrix(prepared.centroids, theta, prepared.frame_of,
                                sigma_a=params["sigma_a"], sigma_d=params["sigma_d"],
                                tau=params["tau"])
            if cache is not None:
                cache[key] = w
        prop = LabelPropagation(alpha=params["alpha"], n_iter=params["n_iter"],
                                normalisation=params["normalisation"], clamp=params["clamp"])
        p = prop.fit(p, w, fixed=gazed).scores_
    return p, gazed
