"""Batch augmentation on the CPU: random rotation, zoom, shift, flips and colour jitter.

Done on whole batches with one affine warp per image (``grid_sample``), which is far cheaper on two
CPU cores than per-image PIL transforms. Randomness comes only from the passed generator, so a run
is reproducible for a seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dermbridge.triage.preprocessing import PIXEL_MEAN, PIXEL_STD


def to_tensor(batch_hwc_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 NxHxWx3 -> float32 Nx3xHxW in the network's (x - 127) / 128 scale."""
    x = batch_hwc_uint8.permute(0, 3, 1, 2).float()
    return (x - PIXEL_MEAN) / PIXEL_STD


def augment(batch_hwc_uint8: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Randomly transform a uint8 batch and return the normalised float tensor."""
    x = batch_hwc_uint8.permute(0, 3, 1, 2).float()
    n, _, h, w = x.shape

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=gen)

    # Geometry: lesions have no canonical orientation, so rotate freely within +-45 degrees and
    # flip both ways (the two flips together also give 180 degrees); mild zoom and shift.
    angle = u(-math.pi / 4, math.pi / 4, n)
    scale = u(0.8, 1.1, n)  # < 1 zooms in
    flip_x = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    flip_y = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-0.08, 0.08, n), u(-0.08, 0.08, n)
    aspect = w / h
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.zeros(n, 2, 3)
    # Rotation in pixel space expressed in normalised coordinates of a non-square frame.
    theta[:, 0, 0] = cos * flip_x
    theta[:, 0, 1] = -sin / aspect * flip_y
    theta[:, 1, 0] = sin * aspect * flip_x
    theta[:, 1, 1] = cos * flip_y
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, [n, 3, h, w], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    # Colour: dermatoscopes and cameras differ in exposure, contrast and white balance.
    brightness = u(0.85, 1.15, n, 1, 1, 1)
    gains = u(0.93, 1.07, n, 3, 1, 1)
    contrast = u(0.8, 1.2, n, 1, 1, 1)
    saturation = u(0.8, 1.2, n, 1, 1, 1)
    x = x * brightness * gains
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * saturation + grey
    x = x.clamp(0.0, 255.0)
    return (x - PIXEL_MEAN) / PIXEL_STD
