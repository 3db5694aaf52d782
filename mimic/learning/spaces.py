"""Gymnasium spaces <-> plain dicts (checkpoints and datasets must not pickle objects)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def space_to_dict(space: gym.Space) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": np.asarray(space.low, dtype=np.float64).reshape(-1).tolist(),
            "high": np.asarray(space.high, dtype=np.float64).reshape(-1).tolist(),
        }
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    raise TypeError(f"unsupported space {space!r}: AWR supports Box observations and Box/Discrete actions")


def space_from_dict(d: dict[str, Any]) -> gym.Space:
    if d["type"] == "Box":
        shape, dtype = tuple(d["shape"]), np.dtype(d["dtype"])
        return gym.spaces.Box(
            low=np.asarray(d["low"], dtype=dtype).reshape(shape),
            high=np.asarray(d["high"], dtype=dtype).reshape(shape),
            shape=shape,
            dtype=dtype,
        )
    if d["type"] == "Discrete":
        return gym.spaces.Discrete(int(d["n"]), start=int(d.get("start", 0)))
    raise TypeError(f"unsupported space dict {d!r}")


def flat_dim(space: gym.Space) -> int:
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Discrete):
        return 1
    raise TypeError(f"unsupported space {space!r}")
