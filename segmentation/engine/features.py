"""Per-superpixel features.

* ``hand`` (default, fast): colour (CIE Lab, or lightness for grey) mean, spread and histograms,
  a magnitude-weighted gradient-orientation histogram, mean gradient magnitude (texture),
  position in the frame, and neighbourhood context (mean colour of the adjacent superpixels and
  the contrast to it).
* ``autoencoder`` (optional, torch): a small convolutional autoencoder trained self-supervised
  on the sequence's own frames; its encoder maps are averaged per superpixel (plus colour mean
  and position). Needs no downloaded weights.
* ``backbone:PATH`` (optional, torchvision): a ResNet-18 with weights read from the local file
  ``PATH``; layer-2 maps averaged per superpixel. Nothing is ever downloaded.

The colour statistics needed by the estimate (mean, covariance, gradient orientation) are
computed in the same pass (:func:`superpixel_statistics`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from skimage.color import rgb2lab

N_HIST_BINS = 8
N_ORIENT_BINS = 8
#: Lab a/b channels are histogrammed over this range (values outside fall in the end bins).
AB_RANGE = 80.0


def to_lab(frame01: np.ndarray) -> np.ndarray:
    """(H, W) grey -> (H, W, 1) lightness 0-100; (H, W, 3) RGB in [0, 1] -> (H, W, 3) CIE Lab."""
    if frame01.ndim == 2:
        return (frame01 * 100.0)[:, :, None].astype(np.float32)
    return rgb2lab(frame01).astype(np.float32)


def _bincount_cols(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per-label sums of each column of ``values`` (P, K) -> (n, K)."""
    out = np.empty((n, values.shape[1]), dtype=np.float64)
    for k in range(values.shape[1]):
        out[:, k] = np.bincount(idx, weights=values[:, k], minlength=n)
    return out


def _colour_histograms(x: np.ndarray, idx: np.ndarray, m: int) -> np.ndarray:
    """(m, C * N_HIST_BINS) counts of each superpixel's Lab values (lightness over 0-100, a
    and b over +-AB_RANGE); ``x`` is (P, C), ``idx`` the superpixel of each of the P pixels."""
    c = x.shape[1]
    out = np.zeros((m, c * N_HIST_BINS))
    for ch in range(c):
        v = x[:, ch]
        v01 = v / 100.0 if ch == 0 else (v + AB_RANGE) / (2 * AB_RANGE)
        b = np.clip((v01 * N_HIST_BINS).astype(np.int64), 0, N_HIST_BINS - 1)
        out[:, ch * N_HIST_BINS:(ch + 1) * N_HIST_BINS] = np.bincount(
            idx * N_HIST_BINS + b, minlength=m * N_HIST_BINS).reshape(m, N_HIST_BINS)
    return out


def _frame_flow(grey_seq: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """(2, H, W) optical flow (row, column) from frame ``k`` to the next (the last frame: the
    reversed flow from the one before; a single frame: zeros)."""
    from skimage.registration import optical_flow_ilk

    h, w = shape
    t_count = grey_seq.shape[0]
    nxt = k + 1 if k + 1 < t_count else k - 1
    if nxt < 0:
        return np.zeros((2, h, w), np.float32)
    # Flow on a half-size frame is enough for a mean direction per superpixel.
    a = grey_seq[k][::2, ::2]
    b = grey_seq[nxt][::2, ::2]
    fr_small = optical_flow_ilk(a, b, radius=7)
    if nxt < k:
        fr_small = -fr_small
    # (Displacements are in units of 2 * stride pixels: only their direction is used.)
    return np.repeat(np.repeat(fr_small, 2, axis=1), 2, axis=2)[:, :h, :w]


def _adjacency(edges: list[np.ndarray], n: int) -> sp.csr_matrix:
    """(n, n) symmetric 0/1 matrix of the label pairs in ``edges`` (each an (E, 2) array)."""
    if not edges:
        return sp.csr_matrix((n, n))
    e = np.concatenate(edges)
    e = np.unique(np.sort(e, axis=1), axis=0)
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    return ((adj + adj.T) > 0).astype(np.float64)


def superpixel_statistics(frames01: np.ndarray, labels: np.ndarray, *, flow: bool = False,
                          stride: int = 1, progress=None) -> dict:
    """Colour, gradient, geometry and adjacency of every superpixel, one frame at a time.

    Parameters
    ----------
    frames01 : (T, H, W) or (T, H, W, 3) float ndarray in [0, 1]
    labels : (T, H, W) int ndarray, values 0..N-1
    flow : bool
        Also compute the mean optical-flow orientation (``theta_flow``).
    stride : int, default 1
        Use every ``stride``-th pixel along rows and columns. Labels made by
        :func:`~segmentation.engine.superpixels.slic_frame` with a shrink factor of ``stride``
        are constant on stride x stride blocks, so every superpixel keeps its pixels' sample and
        the statistics cost ``stride**2`` times less. Sizes count full-resolution pixels.
    progress : callable(fraction), optional

    Returns
    -------
    dict
        ``sizes`` (N,), ``frame_of`` (N,), ``centroids`` (N, 2) (row, col), ``colour_mean``
        (N, C), ``colour_cov`` (N, C, C), ``theta_gradient`` (N,), ``theta_flow`` (N,) or None,
        ``grad_mag`` (N,), ``orient_hist`` (N, 8), ``colour_hist`` (N, 8 C), ``adjacency``
        (N, N) sparse symmetric 0/1 (superpixels sharing an edge in a frame).
    """
    t_count, h, w = labels.shape
    n = int(labels.max()) + 1
    c = 1 if frames01.ndim == 3 else 3
    stride = max(1, int(stride))
    full_shape = (h, w)
    if stride > 1:
        labels = labels[:, ::stride, ::stride]
        frames01 = frames01[:, ::stride, ::stride]
        h, w = labels.shape[1:]
    sizes = np.zeros(n)
    tsum = np.zeros(n)
    rsum = np.zeros(n)
    csum = np.zeros(n)
    s1 = np.zeros((n, c))
    s2 = np.zeros((n, c, c))
    g = np.zeros((n, 3))  # sum g_row, sum g_col, sum |g|
    ohist = np.zeros((n, N_ORIENT_BINS))
    chist = np.zeros((n, c * N_HIST_BINS))
    fsum = np.zeros((n, 2)) if flow else None
    rows, cols = np.mgrid[0:h, 0:w]
    # Centre of the stride x stride block each sample stands for, in full-resolution pixels.
    off = (stride - 1) / 2.0
    rows = (rows.ravel() * stride + off).astype(np.float64)
    cols = (cols.ravel() * stride + off).astype(np.float64)
    edges = []
    grey_prev = None
    grey_seq = None
    if flow:
        from skimage.color import rgb2gray

        grey_seq = frames01 if frames01.ndim == 3 else None
        if grey_seq is None:
            grey_seq = np.stack([rgb2gray(f) for f in frames01]).astype(np.float32)
    for k in range(t_count):
        lab_k = labels[k]
        lo, hi = int(lab_k.min()), int(lab_k.max())
        m = hi - lo + 1
        idx = (lab_k - lo).ravel()
        lab = to_lab(frames01[k])
        x = lab.reshape(-1, c).astype(np.float64)
        sizes[lo:hi + 1] += np.bincount(idx, minlength=m)
        tsum[lo:hi + 1] += k * np.bincount(idx, minlength=m)
        rsum[lo:hi + 1] += np.bincount(idx, weights=rows, minlength=m)
        csum[lo:hi + 1] += np.bincount(idx, weights=cols, minlength=m)
        s1[lo:hi + 1] += _bincount_cols(idx, x, m)
        iu, ju = np.triu_indices(c)
        prods = x[:, iu] * x[:, ju]
        upper = _bincount_cols(idx, prods, m)
        s2[lo:hi + 1, iu, ju] += upper
        s2[lo:hi + 1, ju, iu] = s2[lo:hi + 1, iu, ju]
        # Gradient of lightness (rows, cols).
        gr, gc = np.gradient(lab[:, :, 0])
        mag = np.hypot(gr, gc).ravel()
        g[lo:hi + 1] += _bincount_cols(idx, np.stack([gr.ravel(), gc.ravel(), mag], 1), m)
        # Unsigned orientation histogram weighted by magnitude.
        ang = np.mod(np.arctan2(gr, gc).ravel(), np.pi)
        ob = np.minimum((ang / np.pi * N_ORIENT_BINS).astype(np.int64), N_ORIENT_BINS - 1)
        ohist[lo:hi + 1] += np.bincount(idx * N_ORIENT_BINS + ob, weights=mag,
                                        minlength=m * N_ORIENT_BINS).reshape(m, N_ORIENT_BINS)
        chist[lo:hi + 1] += _colour_histograms(x, idx, m)
        # Adjacency: label changes between horizontal and vertical neighbours.
        for a, b in ((lab_k[:, :-1], lab_k[:, 1:]), (lab_k[:-1, :], lab_k[1:, :])):
            diff = a != b
            if diff.any():
                edges.append(np.stack([a[diff], b[diff]], 1))
        if flow:
            fr = _frame_flow(grey_seq, k, (h, w))
            fsum[lo:hi + 1] += _bincount_cols(idx, np.stack([fr[0].ravel(), fr[1].ravel()], 1), m)
        grey_prev = lab
        if progress is not None:
            progress((k + 1) / t_count)
    del grey_prev
    sizes_safe = np.maximum(sizes, 1)
    h, w = full_shape
    mean = s1 / sizes_safe[:, None]
    cov = s2 / sizes_safe[:, None, None] - mean[:, :, None] * mean[:, None, :]
    gm = g / sizes_safe[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        theta_g = np.arctan(gm[:, 0] / gm[:, 1]) / np.pi
        theta_g = np.where(np.isfinite(theta_g), theta_g, 0.0)
        theta_f = None
        if flow:
            fm = fsum / sizes_safe[:, None]
            # flow[0] is the row (y) component, flow[1] the column (x) component.
            theta_f = np.arctan(fm[:, 0] / fm[:, 1]) / np.pi
            theta_f = np.where(np.isfinite(theta_f), theta_f, 0.0).astype(np.float32)
    adj = _adjacency(edges, n)
    ohist = ohist / np.maximum(ohist.sum(1, keepdims=True), 1e-9)
    chist = chist / sizes_safe[:, None]
    return {
        "sizes": (sizes * stride**2).astype(np.int64),
        "frame_of": np.rint(tsum / sizes_safe).astype(np.int32),
        "centroids": np.stack([rsum / sizes_safe, csum / sizes_safe], 1).astype(np.float32),
        "colour_mean": mean.astype(np.float32),
        "colour_cov": cov.astype(np.float32),
        "theta_gradient": theta_g.astype(np.float32),
        "theta_flow": theta_f,
        "grad_mag": gm[:, 2].astype(np.float32),
        "orient_hist": ohist.astype(np.float32),
        "colour_hist": chist.astype(np.float32),
        "adjacency": adj,
        "shape": (h, w),
    }


def hand_features(stats: dict) -> tuple[np.ndarray, list[str]]:
    """The default hand-made features from :func:`superpixel_statistics`.

    Returns
    -------
    features : (N, F) float32 ndarray
    names : list of str, length F
    """
    h, w = stats["shape"]
    mean = stats["colour_mean"].astype(np.float64)
    c = mean.shape[1]
    std = np.sqrt(np.maximum(np.einsum("nii->ni", stats["colour_cov"]), 0))
    adj = stats["adjacency"]
    deg = np.asarray(adj.sum(1)).ravel()
    deg_safe = np.maximum(deg, 1)
    ctx_in = np.column_stack([mean, stats["grad_mag"]])
    ctx = (adj @ ctx_in) / deg_safe[:, None]
    ctx[deg == 0] = ctx_in[deg == 0]
    pos = stats["centroids"] / np.array([h, w], dtype=np.float32)
    chans = ["L", "a", "b"][:c]
    cols = [mean, std, stats["colour_hist"], stats["orient_hist"], stats["grad_mag"][:, None],
            pos, ctx, ctx_in - ctx]
    names = ([f"mean_{x}" for x in chans] + [f"std_{x}" for x in chans]
             + [f"hist_{x}{i}" for x in chans for i in range(N_HIST_BINS)]
             + [f"orient{i}" for i in range(N_ORIENT_BINS)] + ["grad_mag", "row", "col"]
             + [f"ctx_mean_{x}" for x in chans] + ["ctx_grad_mag"]
             + [f"contrast_{x}" for x in chans] + ["contrast_grad_mag"])
    feats = np.column_stack(cols).astype(np.float32)
    return feats, names


def _pool_maps(maps: np.ndarray, labels_k: np.ndarray, lo: int, m: int) -> np.ndarray:
    """Mean of (K, h, w) maps (resized to the label frame by nearest) per superpixel."""
    k_ch, mh, mw = maps.shape
    h, w = labels_k.shape
    ri = np.minimum((np.arange(h) * mh / h).astype(int), mh - 1)
    ci = np.minimum((np.arange(w) * mw / w).astype(int), mw - 1)
    up = maps[:, ri][:, :, ci].reshape(k_ch, -1).T
    idx = (labels_k - lo).ravel()
    cnt = np.maximum(np.bincount(idx, minlength=m), 1)
    return _bincount_cols(idx, up.astype(np.float64), m) / cnt[:, None]


def autoencoder_features(frames01: np.ndarray, labels: np.ndarray, *, rng=0, n_channels: int = 16,
                         steps: int = 200, max_side: int = 256, progress=None) -> np.ndarray:
    """Encoder maps of a small convolutional autoencoder trained on the sequence itself.

    The network (3 strided conv layers down to 1/4 resolution, mirrored decoder) learns to
    reconstruct random crops of the sequence's frames (shrunk so the longer side is at most
    ``max_side``) for ``steps`` Adam steps; no external data or weights. Deterministic for a
    given ``rng`` on CPU.

    Parameters
    ----------
    frames01 : (T, H, W) or (T, H, W, 3) float ndarray in [0, 1]
    labels : (T, H, W) int ndarray

    Returns
    -------
    (N, n_channels) float32 ndarray
    """
    import torch

    # The seed also drives a local torch.Generator for the weights (never torch.manual_seed:
    # the process's global RNG is not the engine's to set).
    seed = rng if isinstance(rng, int | np.integer) else int(np.random.default_rng(rng).integers(2**31))
    # Small convolutions: extra intra-op threads only fight over shared cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_and_pool(frames01, labels, seed, n_channels, steps, max_side, progress)
    finally:
        torch.set_num_threads(threads)


def _autoencoder(cin: int, n_channels: int):
    """Encoder (two stride-2 convolutions) and decoder of the feature autoencoder."""
    from torch import nn

    enc = nn.Sequential(
        nn.Conv2d(cin, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, n_channels, 3, padding=1),
    )
    dec = nn.Sequential(
        nn.ReLU(), nn.ConvTranspose2d(n_channels, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, cin, 3, padding=1),
    )
    return enc, dec


def _init_conv_weights(model, generator) -> None:
    """Draw every convolution's weights and biases from ``generator``, as PyTorch's default
    initialisation does from the global RNG (Kaiming-uniform with a = sqrt(5), bias uniform
    in +-1/sqrt(fan_in)), module by module in order: the same numbers as seeding globally."""
    import torch
    from torch import nn

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                fan_in = m.weight.shape[1] * math.prod(m.weight.shape[2:])
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)


def _train_and_pool(frames01, labels, seed, n_channels, steps, max_side, progress):
    import torch
    from torch import nn

    gen = np.random.default_rng(seed)
    t_count, h, w = labels.shape
    x = frames01 if frames01.ndim == 4 else frames01[..., None]
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    small = np.ascontiguousarray(x[:, ::step, ::step].transpose(0, 3, 1, 2), dtype=np.float32)
    cin = small.shape[1]
    # Built under fork_rng: the default initialisation draws from the global RNG, which is
    # left as it was; the weights are then drawn again from the local generator.
    with torch.random.fork_rng(devices=[]):
        enc, dec = _autoencoder(cin, n_channels)
    model = nn.Sequential(enc, dec)
    _init_conv_weights(model, torch.Generator().manual_seed(int(seed)))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = torch.from_numpy(small)
    sh, sw = small.shape[2], small.shape[3]
    crop = min(48, sh, sw) // 4 * 4
    batch_size = 8
    for i in range(steps):
        fi = gen.integers(0, t_count, size=batch_size)
        r0 = gen.integers(0, sh - crop + 1, size=batch_size)
        c0 = gen.integers(0, sw - crop + 1, size=batch_size)
        batch = torch.stack([data[f, :, r:r + crop, c:c + crop] for f, r, c in zip(fi, r0, c0)])
        loss = ((model(batch) - batch) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress is not None and i % 20 == 0:
            progress(0.7 * (i + 1) / steps)
    n = int(labels.max()) + 1
    out = np.zeros((n, n_channels))
    cnt = np.zeros(n)
    with torch.no_grad():
        for k in range(t_count):
            maps = enc(data[k:k + 1])[0].numpy()
            lab_k = labels[k]
            lo, hi = int(lab_k.min()), int(lab_k.max())
            m = hi - lo + 1
            c_k = np.bincount((lab_k - lo).ravel(), minlength=m)
            out[lo:hi + 1] += _pool_maps(maps, lab_k, lo, m) * c_k[:, None]
            cnt[lo:hi + 1] += c_k
            if progress is not None:
                progress(0.7 + 0.3 * (k + 1) / t_count)
    return (out / np.maximum(cnt, 1)[:, None]).astype(np.float32)


def backbone_features(frames01: np.ndarray, labels: np.ndarray, weights_path: str,
                      progress=None) -> np.ndarray:
    """ResNet-18 layer-2 maps (128 channels) averaged per superpixel; weights from a local file.

    Parameters
    ----------
    weights_path : str
        A ``state_dict`` saved with ``torch.save`` for ``torchvision.models.resnet18``.

    Returns
    -------
    (N, 128) float32 ndarray
    """
    import torch
    import torchvision

    from .errors import InputError
    from .io import load_torch_state

    state = load_torch_state(weights_path, what="ResNet-18 weights")
    model = torchvision.models.resnet18(weights=None)
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise InputError(f"{weights_path}: not ResNet-18 weights ({exc})") from exc
    model.eval()
    body = torch.nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1,
                               model.layer2)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    t_count = labels.shape[0]
    n = int(labels.max()) + 1
    out = np.zeros((n, 128))
    cnt = np.zeros(n)
    with torch.no_grad():
        for k in range(t_count):
            f = frames01[k]
            if f.ndim == 2:
                f = np.repeat(f[:, :, None], 3, axis=2)
            x = (torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None].float() - mean) / std
            maps = body(x)[0].numpy()
            lab_k = labels[k]
            lo, hi = int(lab_k.min()), int(lab_k.max())
            m = hi - lo + 1
            c_k = np.bincount((lab_k - lo).ravel(), minlength=m)
            out[lo:hi + 1] += _pool_maps(maps, lab_k, lo, m) * c_k[:, None]
            cnt[lo:hi + 1] += c_k
            if progress is not None:
                progress((k + 1) / t_count)
    return (out / np.maximum(cnt, 1)[:, None]).astype(np.float32)
