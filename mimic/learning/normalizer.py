"""Running mean/std observation normaliser (DeepMimic / AWR style).

* Initial mean/std: midpoint / half-range of the observation Box where both bounds
  are finite, else 0 / 1 -- or whatever the env provides via ``obs_norm``.
* ``record(x)`` accumulates statistics; ``update()`` folds them in.  The first
  ``update()`` REPLACES the initial guess (count starts at 0), later ones are a
  count-weighted running average, exactly like the official Normalizer.
* ``fixed_mask`` entries (e.g. the motion phase of the imitation env) keep their
  initial mean/std forever.
* std is floored at ``min_std`` (default 0.02, DeepMimic's ``eps``) so constant
  features do not explode; optional symmetric clip of the normalised value.
All state lives in torch buffers, so ``state_dict()`` is a complete checkpoint.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn


def box_mean_std(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint / half-range where both bounds are finite (and not float32-max), else 0 / 1."""
    low = np.asarray(low, dtype=np.float64).reshape(-1)
    high = np.asarray(high, dtype=np.float64).reshape(-1)
    big = np.finfo(np.float32).max
    finite = np.isfinite(low) & np.isfinite(high) & (np.abs(low) < big) & (np.abs(high) < big) & (high > low)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.where(finite, 0.5 * (high + low), 0.0)
        std = np.where(finite, 0.5 * (high - low), 1.0)
    return mean, std


class Normalizer(nn.Module):
    def __init__(
        self,
        size: int,
        init_mean: Optional[np.ndarray] = None,
        init_std: Optional[np.ndarray] = None,
        fixed_mask: Optional[np.ndarray] = None,
        min_std: float = 0.02,
        clip: Optional[float] = None,
    ):
        super().__init__()
        mean = np.zeros(size) if init_mean is None else np.asarray(init_mean, dtype=np.float64).reshape(size)
        std = np.ones(size) if init_std is None else np.asarray(init_std, dtype=np.float64).reshape(size)
        fixed = np.zeros(size, bool) if fixed_mask is None else np.asarray(fixed_mask, dtype=bool).reshape(size)
        self.min_std = float(min_std)
        self.clip = None if clip is None else float(clip)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(np.maximum(std, self.min_std), dtype=torch.float32))
        self.register_buffer("fixed_mask", torch.tensor(fixed))
        # float64 statistics
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("stat_mean", torch.tensor(mean, dtype=torch.float64))
        self.register_buffer("stat_mean_sq", torch.tensor(mean**2 + std**2, dtype=torch.float64))
        self.register_buffer("new_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("new_sum", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("new_sum_sq", torch.zeros(size, dtype=torch.float64))

    def record(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.mean.shape[0])
        self.new_count += x.shape[0]
        self.new_sum += torch.from_numpy(x.sum(0))
        self.new_sum_sq += torch.from_numpy(np.square(x).sum(0))

    def update(self) -> None:
        if self.new_count.item() == 0:
            return
        total = self.count + self.new_count
        w_old, w_new = self.count / total, self.new_count / total
        self.stat_mean.copy_(w_old * self.stat_mean + w_new * self.new_sum / self.new_count)
        self.stat_mean_sq.copy_(w_old * self.stat_mean_sq + w_new * self.new_sum_sq / self.new_count)
        self.count.copy_(total)
        for t in (self.new_count, self.new_sum, self.new_sum_sq):
            t.zero_()

        var = torch.clamp(self.stat_mean_sq - self.stat_mean**2, min=0.0)
        std = torch.clamp(torch.sqrt(var), min=self.min_std)
        keep = self.fixed_mask
        self.mean.copy_(torch.where(keep, self.mean, self.stat_mean.float()))
        self.std.copy_(torch.where(keep, self.std, std.float()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        if self.clip is not None:
            z = torch.clamp(z, -self.clip, self.clip)
        return z

    def normalize_np(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.forward(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()
