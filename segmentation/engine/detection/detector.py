"""An object detector trained on boxes (from gaze or by hand), small enough for a CPU.

A torchvision Faster R-CNN, built without downloading anything: ``weights=None`` and
``weights_backbone=None`` unless the user passes a local weights file (a state dict saved by
:meth:`BoxDetector.save` or by torchvision for the same architecture). Three backbones:

``"tiny"`` (default)
    A 4-stage convolutional backbone (stride 16, 128 channels, batch norm), one feature map,
    anchors 24..224 px at three aspect ratios, a 256-wide box head. Trains from scratch in
    minutes on a CPU at 256x256; this is what the benchmark uses.
``"mobilenet_v3"``
    ``torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn``.
``"resnet18"``
    Faster R-CNN with a ResNet-18 FPN backbone (batch norm trainable since nothing is
    pre-trained).

The detector is class-agnostic (one "target" class). Images are resized to a square
``image_size`` for training and prediction; boxes are mapped back to each image's own pixels.
Training is deterministic for a given ``rng`` on a given device: torch's global generator is
forked and seeded inside :meth:`BoxDetector.fit` (and restored afterwards), and the data order
and flips come from a numpy generator.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .io import load_model_file, save_model_file
from .metrics import average_precision
from .params import ARCHITECTURES, DETECTOR_DEFAULTS


class TinyBackbone(nn.Module):
    """Four stride-2 stages of 3x3 conv + batch norm + ReLU; output (B, 4 width, H/16, W/16)."""

    def __init__(self, width: int = 32):
        super().__init__()
        chans = [3, width // 2, width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.out_channels = chans[-1]

    def forward(self, x: torch.Tensor) -> OrderedDict:
        return OrderedDict([("0", self.body(x))])


def build_detector(architecture: str = "tiny", *, image_size: int = 256,
                   weights: str | Path | None = None) -> nn.Module:
    """A two-class (background, target) Faster R-CNN, randomly initialised or from a file.

    Parameters
    ----------
    architecture : {"tiny", "mobilenet_v3", "resnet18"}
    image_size : int
        Side of the square images the model sees (its internal resize is then a no-op).
    weights : str or Path, optional
        A local state dict (a file written by :meth:`BoxDetector.save` or a torchvision state
        dict of the same architecture). Nothing is ever downloaded.

    Returns
    -------
    torch.nn.Module
        A ``torchvision.models.detection.FasterRCNN``.
    """
    from torchvision.models.detection import FasterRCNN, fasterrcnn_mobilenet_v3_large_fpn
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    size = dict(min_size=image_size, max_size=image_size)
    if architecture == "tiny":
        backbone = TinyBackbone()
        anchors = AnchorGenerator(sizes=((24, 48, 96, 160, 224),),
                                  aspect_ratios=((0.5, 1.0, 2.0),))
        pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
        model = FasterRCNN(
            backbone, num_classes=None, rpn_anchor_generator=anchors, box_roi_pool=pool,
            box_head=TwoMLPHead(backbone.out_channels * 49, 256),
            box_predictor=FastRCNNPredictor(256, 2),
            # Few objects per image: fewer proposals keep a CPU step cheap.
            rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300,
            rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
            box_batch_size_per_image=128, **size)
    elif architecture == "mobilenet_v3":
        model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None,
                                                  num_classes=2, **size)
    elif architecture == "resnet18":
        backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None,
                                       norm_layer=nn.BatchNorm2d, trainable_layers=5)
        model = FasterRCNN(backbone, num_classes=2, **size)
    else:
        raise InputError(f"unknown detector architecture {architecture!r} (expected one of "
                         f"{', '.join(ARCHITECTURES)})")
    if weights is not None:
        path = Path(weights)
        state = load_model_file(path, what="weights file")
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise InputError(f"{path}: weights do not fit the {architecture!r} detector "
                             f"({first})") from exc
    return model


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _to_tensor(image: np.ndarray, size: int) -> tuple[torch.Tensor, float, float]:
    """(H, W, 3) uint8 -> (3, size, size) float in [0, 1], and the column/row scale factors."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"detector images must be (H, W, 3) or (H, W), got {image.shape}")
    t = torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1).float()
    if image.dtype == np.uint8:
        t = t / 255.0
    h, w = image.shape[:2]
    if (h, w) != (size, size):
        t = torch.nn.functional.interpolate(t[None], size=(size, size), mode="bilinear",
                                            align_corners=False)[0]
    return t, size / w, size / h


def _coco_to_xyxy(boxes: np.ndarray, sx: float, sy: float) -> torch.Tensor:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xyxy = np.stack([b[:, 0] * sx, b[:, 1] * sy, (b[:, 0] + b[:, 2]) * sx,
                     (b[:, 1] + b[:, 3]) * sy], axis=1)
    return torch.as_tensor(xyxy, dtype=torch.float32).reshape(-1, 4)


class BoxDetector:
    """Faster R-CNN trained on COCO boxes; an estimator (``fit`` returns ``self``).

    Parameters
    ----------
    architecture : {"tiny", "mobilenet_v3", "resnet18"}
        See the module docstring.
    epochs : int
        Passes over the training images.
    batch_size : int
    learning_rate : float
        Peak AdamW learning rate (linear warm-up over the first 5% of steps, cosine decay).
    weight_decay : float
    image_size : int
        Images are resized to ``image_size`` x ``image_size``.
    augment : bool
        Random horizontal and vertical flips during training (the targets here have no
        preferred orientation).
    score_threshold : float
        Detections below this confidence are dropped by :meth:`predict`.
    weights : str or Path, optional
        Local weights file to start from (nothing is downloaded).
    device : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``...
    rng : int
        Seed of the initialisation, the data order and the flips.
    progress : callable, optional
        ``progress(stage, fraction)``.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained detector (on ``device_``).
    device_ : torch.device
    loss_history_ : list of float
        Mean training loss per epoch.
    fit_seconds_ : float
    """

    def __init__(self, *, architecture: str = DETECTOR_DEFAULTS["architecture"],
                 epochs: int = DETECTOR_DEFAULTS["epochs"],
                 batch_size: int = DETECTOR_DEFAULTS["batch_size"],
                 learning_rate: float = DETECTOR_DEFAULTS["learning_rate"],
                 weight_decay: float = DETECTOR_DEFAULTS["weight_decay"],
                 image_size: int = DETECTOR_DEFAULTS["image_size"],
                 augment: bool = True, score_threshold: float = 0.01,
                 weights: str | Path | None = None, device: str = "auto", rng: int = 0,
                 progress: Callable[[str, float], None] | None = None):
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.image_size = image_size
        self.augment = augment
        self.score_threshold = score_threshold
        self.weights = weights
        self.device = device
        self.rng = rng
        self.progress = progress

    def _check_fit_args(self, images, boxes) -> None:
        if len(images) != len(boxes):
            raise InputError(f"{len(images)} images but {len(boxes)} box lists")
        if len(images) == 0:
            raise InputError("no training image")
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("epochs and batch_size must be at least 1")
        if not isinstance(self.rng, int | np.integer):
            raise InputError(f"rng must be an int seed, got {type(self.rng).__name__}")

    def _batch(self, data, indices, order_rng, device):
        """Images and targets of one batch, each flipped left-right and up-down with
        probability 0.5 when ``augment`` (two draws of ``order_rng`` per image, in order)."""
        size = self.image_size
        batch_imgs, batch_tgts = [], []
        for j in indices:
            img, xyxy = data[j]
            xyxy = xyxy.clone()
            if self.augment and order_rng.random() < 0.5:
                img = img.flip(-1)
                xyxy[:, [0, 2]] = size - xyxy[:, [2, 0]]
            if self.augment and order_rng.random() < 0.5:
                img = img.flip(-2)
                xyxy[:, [1, 3]] = size - xyxy[:, [3, 1]]
            batch_imgs.append(img.to(device))
            batch_tgts.append({"boxes": xyxy.to(device),
                               "labels": torch.ones(len(xyxy), dtype=torch.int64,
                                                    device=device)})
        return batch_imgs, batch_tgts

    def fit(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> BoxDetector:
        """Train on images and their COCO boxes.

        Parameters
        ----------
        images : sequence of (H, W, 3) uint8 ndarray
        boxes : sequence of (K, 4) array_like
            COCO boxes ``(x, y, width, height)`` in each image's pixels; ``K`` may be 0.

        Returns
        -------
        self
        """
        self._check_fit_args(images, boxes)
        device = _resolve_device(self.device)
        size = self.image_size
        data = []
        for img, b in zip(images, boxes):
            t, sx, sy = _to_tensor(img, size)
            data.append((t, _coco_to_xyxy(b, sx, sy)))
        order_rng = np.random.default_rng(int(self.rng))
        n_steps = self.epochs * math.ceil(len(data) / self.batch_size)
        warm = max(1, n_steps // 20)
        start = time.perf_counter()
        fork_devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(int(self.rng))
            model = build_detector(self.architecture, image_size=size,
                                   weights=self.weights).to(device)
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=self.learning_rate,
                                    weight_decay=self.weight_decay)
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda s: min(1.0, (s + 1) / warm)
                * 0.5 * (1 + math.cos(math.pi * min(s, n_steps) / n_steps)))
            history, step = [], 0
            for epoch in range(self.epochs):
                perm = order_rng.permutation(len(data))
                losses = []
                for i in range(0, len(perm), self.batch_size):
                    batch_imgs, batch_tgts = self._batch(data, perm[i:i + self.batch_size],
                                                         order_rng, device)
                    loss_dict = model(batch_imgs, batch_tgts)
                    loss = sum(loss_dict.values())
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"training loss is {loss.item()} at epoch "
                                                 f"{epoch}; lower the learning rate")
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                    opt.step()
                    sched.step()
                    step += 1
                    losses.append(float(loss.detach()))
                    if self.progress is not None:
                        self.progress("train", step / n_steps)
                history.append(float(np.mean(losses)))
        self.model_ = model.eval()
        self.device_ = device
        self.loss_history_ = history
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this BoxDetector is not trained yet: call fit() or load() first")

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray], *, batch_size: int | None = None
                ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Detections for each image.

        Parameters
        ----------
        images : sequence of (H, W, 3) uint8 ndarray

        Returns
        -------
        list of (boxes, scores)
            ``boxes`` (K, 4) float64 COCO boxes in the image's own pixels, ``scores`` (K,),
            highest first, only those of at least ``score_threshold``.
        """
        self._check_fitted()
        self.model_.eval()
        out = []
        bs = batch_size or self.batch_size
        for i in range(0, len(images), bs):
            chunk = images[i:i + bs]
            tensors, scales = [], []
            for img in chunk:
                t, sx, sy = _to_tensor(img, self.image_size)
                tensors.append(t.to(self.device_))
                scales.append((sx, sy))
            for det, (sx, sy) in zip(self.model_(tensors), scales):
                b = det["boxes"].cpu().numpy().astype(np.float64)
                s = det["scores"].cpu().numpy().astype(np.float64)
                keep = s >= self.score_threshold
                b, s = b[keep], s[keep]
                coco = np.stack([b[:, 0] / sx, b[:, 1] / sy, (b[:, 2] - b[:, 0]) / sx,
                                 (b[:, 3] - b[:, 1]) / sy], axis=1).reshape(-1, 4)
                out.append((coco, s))
        return out

    def score(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray], *,
              iou_threshold: float = 0.5) -> float:
        """Average precision at ``iou_threshold`` (mAP@0.5 for one class) against ``boxes``."""
        preds = self.predict(images)
        keys = [str(i) for i in range(len(images))]
        return average_precision({k: p[0] for k, p in zip(keys, preds)},
                                 {k: p[1] for k, p in zip(keys, preds)},
                                 {k: np.asarray(b) for k, b in zip(keys, boxes)},
                                 iou_threshold=iou_threshold)

    def save(self, path: str | Path) -> None:
        """Write the weights and the parameters needed to rebuild the model (a torch file)."""
        self._check_fitted()
        state = {k: v.detach().cpu() for k, v in self.model_.state_dict().items()}
        save_model_file(path, {"architecture": self.architecture, "image_size": self.image_size,
                               "score_threshold": self.score_threshold, "state_dict": state})

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> BoxDetector:
        """A trained detector from a file written by :meth:`save`."""
        path = Path(path)
        meta = load_model_file(path, what="detector file")
        if not isinstance(meta, dict) or "architecture" not in meta:
            raise InputError(f"{path}: not a file written by BoxDetector.save")
        det = cls(architecture=meta["architecture"], image_size=int(meta["image_size"]),
                  score_threshold=float(meta["score_threshold"]), device=device)
        model = build_detector(det.architecture, image_size=det.image_size)
        model.load_state_dict(meta["state_dict"])
        det.device_ = _resolve_device(device)
        det.model_ = model.to(det.device_).eval()
        det.loss_history_ = []
        det.fit_seconds_ = 0.0
        return det
