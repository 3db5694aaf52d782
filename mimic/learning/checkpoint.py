"""Atomic checkpoint files.

``model.pt`` is rewritten (tmp file + os.replace, so a kill never leaves a torn
file) and ``model_{iter:06d}.pt`` copies are kept periodically.  Checkpoints hold
only tensors and plain Python containers, so they load with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import random
import shutil
from typing import Any

import numpy as np
import torch

LATEST = "model.pt"


def atomic_save(obj: Any, path: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_copy(src: str, dst: str) -> None:
    tmp = os.path.join(os.path.dirname(os.path.abspath(dst)), f".{os.path.basename(dst)}.tmp{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def periodic_name(iteration: int) -> str:
    return f"model_{iteration:06d}.pt"


def load(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


# ---- RNG state helpers (plain containers only) ------------------------------------------
def get_global_rng_state() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=False)
    return {"torch": torch.get_rng_state(),
            "numpy": {"bit_generator": np_state["bit_generator"],
                      "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                      "pos": int(np_state["state"]["pos"]),
                      "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
            "python": random.getstate()}


def set_global_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    n = s["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"],
                         "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    random.setstate(_to_tuple(s["python"]))


def _to_tuple(x):
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """numpy Generator state with its 128-bit ints as strings (safe for weights_only loading)."""
    return _stringify(rng.bit_generator.state)


def set_generator_state(rng: np.random.Generator, s: dict[str, Any]) -> None:
    rng.bit_generator.state = _unstringify(s)


def _stringify(x):
    if isinstance(x, dict):
        return {k: _stringify(v) for k, v in x.items()}
    if isinstance(x, int) and not isinstance(x, bool):
        return f"int:{x}"
    return x


def _unstringify(x):
    if isinstance(x, dict):
        return {k: _unstringify(v) for k, v in x.items()}
    if isinstance(x, str) and x.startswith("int:"):
        return int(x[4:])
    return x
