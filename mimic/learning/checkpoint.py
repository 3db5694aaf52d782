"""Atomic checkpoint files.

``model.pt`` is rewritten (tmp file, fsync, os.replace, fsync of the folder, so neither a kill
nor a power cut leaves a torn or empty file) and ``model_{iter:06d}.pt`` copies are kept
periodically.  A write that fails (full disk) removes its tmp file and raises
:class:`CheckpointWriteError`; the previous file stays.  A SIGINT / SIGTERM during a write is held
until the write is complete (:mod:`mimic.learning.stopping`).  Tmp files left by killed runs are
removed by :func:`remove_stale_tmp`.  Checkpoints hold only tensors and plain Python containers,
so they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from typing import Any, Optional

import numpy as np
import torch

from mimic.learning.stopping import StopRun, checkpoint_write
from mimic.sampling.episode import Episode

LATEST = "model.pt"


class CheckpointWriteError(StopRun):
    """A checkpoint could not be written (full disk, read-only folder); the previous one stays."""


def _tmp_name(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp{os.getpid()}")


def _durable_replace(write, path: str, iteration: Optional[int] = None) -> None:
    """``write(file)`` into a tmp file, fsync, rename onto ``path``, fsync the folder; signals
    held meanwhile.  (Writing through a Python file object makes a full disk an OSError with
    its errno, where torch's own file writer only says "iostream error".)"""
    d = os.path.dirname(os.path.abspath(path))
    tmp = _tmp_name(path)
    with checkpoint_write(path, iteration):
        try:
            os.makedirs(d, exist_ok=True)
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            fd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise CheckpointWriteError(
                f"checkpoint '{path}': cannot be written ({e.strerror or e}); the previous one is kept"
            ) from None


def atomic_save(obj: Any, path: str) -> None:
    it = obj.get("counters", {}).get("iteration") if isinstance(obj, dict) else None
    _durable_replace(lambda f: torch.save(obj, f), path, it)


def atomic_copy(src: str, dst: str) -> None:
    def copy(f) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)

    _durable_replace(copy, dst)


STALE_TMP = re.compile(r"^\.(.+)\.tmp(\d+)$")


def remove_stale_tmp(folder: str) -> list[str]:
    """Delete ``.<name>.tmp<pid>`` files of processes that no longer run; returns their names."""
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in os.listdir(folder):
        m = STALE_TMP.match(name)
        if m is None or _alive(int(m.group(2))):
            continue
        try:
            os.remove(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours, from a write that was interrupted: stale too
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# what a policy needs to act, be viewed and evaluated, and to seed a new run (no optimiser
# state, RNG streams, sampler state or replay buffer)
POLICY_KEYS = (
    "format",
    "algo",
    "config",
    "seed",
    "observation_space",
    "action_space",
    "action_mean",
    "action_std",
    "actor",
    "critic",
    "obs_normalizer",
    "counters",
    "env_id",
    "env_kwargs",
    "eval_env_kwargs",
    "settings",
)


def policy_only(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's policy part, for shipping: a few MB instead of the full training state.
    ``--resume`` from it continues with fresh optimiser momentum and RNG streams."""
    return {k: state[k] for k in POLICY_KEYS if k in state} | {"policy_only": True}


def periodic_name(iteration: int) -> str:
    return f"model_{iteration:06d}.pt"


def read_checkpoint(path: str) -> dict[str, Any]:
    """The raw contents of a checkpoint file (CPU tensors and plain containers)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


# ---- episodes (replay buffers saved with --save_buffer) ------------------------------------
def episode_state(ep: Episode) -> dict[str, Any]:
    """An episode as tensors and plain values (so that torch.load(weights_only=True) works)."""
    explored = {} if ep.explored is None else {"explored": torch.from_numpy(np.ascontiguousarray(ep.explored))}
    return {
        **explored,
        "obs": torch.from_numpy(np.ascontiguousarray(ep.obs)),
        "actions": torch.from_numpy(np.ascontiguousarray(ep.actions)),
        "rewards": torch.from_numpy(np.ascontiguousarray(ep.rewards)),
        "final_obs": torch.from_numpy(np.ascontiguousarray(ep.final_obs)),
        "terminated": bool(ep.terminated),
        "truncated": bool(ep.truncated),
        "info": {k: float(v) for k, v in ep.info.items()},
    }


def episode_from_state(s: dict[str, Any]) -> Episode:
    return Episode(
        obs=s["obs"].numpy(),
        actions=s["actions"].numpy(),
        rewards=s["rewards"].numpy(),
        final_obs=s["final_obs"].numpy(),
        terminated=bool(s["terminated"]),
        truncated=bool(s["truncated"]),
        info=dict(s.get("info", {})),
        explored=s["explored"].numpy() if "explored" in s else None,
    )


# ---- RNG state helpers (plain containers only) ------------------------------------------
def get_global_rng_state() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": random.getstate(),
    }


def set_global_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    n = s["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
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
