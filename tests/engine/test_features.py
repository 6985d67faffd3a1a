"""Superpixel options and the optional feature extractors, on tiny inputs."""

import numpy as np
import pytest

from segmentation.engine.errors import InputError
from segmentation.engine.features import autoencoder_features, backbone_features
from segmentation.engine.pipeline import prepare_sequence


def _frames(colour=False, t=3, h=48, w=64):
    rng = np.random.default_rng(0)
    f = np.zeros((t, h, w, 3) if colour else (t, h, w), np.uint8)
    f[:, 10:30, 20:45] = 200  # a bright square on a dark background
    return np.clip(f + rng.integers(0, 20, size=f.shape), 0, 255).astype(np.uint8)


def test_temporal_supervoxels_span_frames():
    prep = prepare_sequence(_frames(), px_per_degree=8, temporal=True)
    labels = prep.labels
    assert labels.min() == 0 and labels.max() == prep.n_superpixels - 1
    # Some supervoxel appears in more than one frame.
    assert np.intersect1d(np.unique(labels[0]), np.unique(labels[1])).size > 0


def test_colour_and_grey_feature_names_match_columns():
    for colour in (False, True):
        prep = prepare_sequence(_frames(colour), px_per_degree=8)
        assert prep.features.shape == (prep.n_superpixels, len(prep.feature_names))
        assert np.isfinite(prep.features).all()
        assert prep.colour_mean.shape[1] == (3 if colour else 1)


def test_autoencoder_features_are_deterministic():
    pytest.importorskip("torch")
    frames = _frames(True).astype(np.float32) / 255
    labels = prepare_sequence(_frames(True), px_per_degree=8).labels
    a = autoencoder_features(frames, labels, rng=3, steps=3, n_channels=4)
    b = autoencoder_features(frames, labels, rng=3, steps=3, n_channels=4)
    assert a.shape == (labels.max() + 1, 4)
    np.testing.assert_array_equal(a, b)


def test_autoencoder_features_leave_the_global_torch_rng_alone():
    torch = pytest.importorskip("torch")
    frames = _frames(True).astype(np.float32) / 255
    labels = prepare_sequence(_frames(True), px_per_degree=8).labels
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    autoencoder_features(frames, labels, rng=3, steps=2, n_channels=4)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_backbone_needs_a_local_weights_file(tmp_path):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    frames = _frames(True).astype(np.float32) / 255
    labels = prepare_sequence(_frames(True), px_per_degree=8).labels
    with pytest.raises(InputError, match="cannot read ResNet-18 weights"):
        backbone_features(frames, labels, str(tmp_path / "missing.pth"))
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    out = backbone_features(frames, labels, str(path))
    assert out.shape == (labels.max() + 1, 128) and np.isfinite(out).all()
