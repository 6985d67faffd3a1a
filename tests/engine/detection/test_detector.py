"""The detector trains a step or two on tiny images, deterministically, and round-trips."""

import numpy as np
import pytest

from segmentation.engine.detection.detector import BoxDetector, build_detector
from segmentation.engine.errors import InputError


def tiny_data():
    images, boxes = [], []
    for k in range(2):
        im = np.full((48, 48, 3), 30, np.uint8)
        im[8 + k : 28 + k, 10:34] = (200, 90, 80)
        images.append(im)
        boxes.append(np.array([[10.0, 8 + k, 24, 20]]))
    return images, boxes


def test_trains_two_steps_predicts_and_reloads(tmp_path):
    images, boxes = tiny_data()
    boxes[1] = np.zeros((0, 4))  # an image without a target is a negative example
    params = dict(epochs=2, batch_size=2, image_size=48, device="cpu", rng=3)
    det = BoxDetector(**params).fit(images, boxes)
    assert len(det.loss_history_) == 2 and all(np.isfinite(det.loss_history_))
    preds = det.predict(images)
    assert len(preds) == 2
    for b, s in preds:
        assert b.shape[1] == 4 and b.shape[0] == s.shape[0]
        assert np.all(np.diff(s) <= 0)  # highest first
    assert 0.0 <= det.score(images, boxes) <= 1.0
    # Same seed, same first epoch: training is deterministic.
    again = BoxDetector(**{**params, "epochs": 1}).fit(images, boxes)
    assert again.loss_history_[0] == det.loss_history_[0]
    det.save(tmp_path / "d.pt")
    loaded = BoxDetector.load(tmp_path / "d.pt", device="cpu")
    b0, s0 = loaded.predict(images[:1])[0]
    np.testing.assert_allclose(s0, preds[0][1], rtol=1e-5)
    # A saved file also serves as the local starting weights of a new model.
    model = build_detector("tiny", image_size=48, weights=tmp_path / "d.pt")
    assert all(np.array_equal(v.numpy(), det.model_.state_dict()[k].cpu().numpy())
               for k, v in model.state_dict().items())


def test_errors():
    images, boxes = tiny_data()
    with pytest.raises(InputError, match="2 images but 1 box lists"):
        BoxDetector().fit(images, boxes[:1])
    with pytest.raises(InputError, match="unknown detector architecture"):
        build_detector("vgg")
    with pytest.raises(InputError, match="weights file not found"):
        build_detector("tiny", weights="/nonexistent/w.pt")
    with pytest.raises(RuntimeError, match="not trained"):
        BoxDetector().predict(images)
