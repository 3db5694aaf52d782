"""The learner's finite-value guard: nothing non-finite is trained on or saved.

Documented behaviour (checked every iteration, before the log row and the checkpoint):

* **New batches.**  An episode with a non-finite observation, action or reward is dropped from
  the batch, with a line on stderr saying how many and why (:func:`screen_episodes`); its steps
  do not count as samples.  A batch with no finite episode left stops the run.
* **Losses, weights, normaliser.**  A non-finite value or policy loss, advantage / weight
  statistic, network parameter or observation-normaliser entry after an update stops the run
  with :class:`NonFiniteError` (exit code 1), naming the quantity and the iteration.  The check
  runs before ``model.pt`` is rewritten, so it still holds the last good iteration
  (:func:`check_update`).  A diverging learning rate shows up here.

The environment guards its own side (mimic.envs.imitation: non-finite physics states end the
episode as ``sim_unstable``; a reset or a reference table that is not finite raises), and static
datasets are checked when loaded (mimic.learning.dataset).
"""

from __future__ import annotations

import math
import sys
from typing import Any, Iterable

import numpy as np
import torch

from mimic.learning.stopping import StopRun

STATS = ("Value_Loss", "Policy_Loss", "Adv_Mean", "Adv_Std", "Weight_Mean", "Weight_Max")


class NonFiniteError(StopRun):
    """A non-finite loss, weight or batch; model.pt keeps the last finite iteration."""


def episode_is_finite(ep) -> bool:
    return bool(
        np.isfinite(ep.obs).all()
        and np.isfinite(ep.final_obs).all()
        and np.isfinite(ep.rewards).all()
        and (ep.actions.dtype.kind in "iub" or np.isfinite(ep.actions).all())
    )


def screen_episodes(episodes: list, iteration: int, stream=sys.stderr) -> list:
    """The finite episodes of a new batch; says on ``stream`` how many were dropped."""
    kept = [e for e in episodes if episode_is_finite(e)]
    dropped = len(episodes) - len(kept)
    if dropped:
        steps = sum(len(e) for e in episodes) - sum(len(e) for e in kept)
        if not kept:
            raise NonFiniteError(
                f"iteration {iteration}: every episode of the new batch "
                f"({dropped}) holds non-finite observations, actions or rewards; "
                f"the environment diverges"
            )
        print(
            f"[mimic] iteration {iteration}: dropped {dropped} of {len(episodes)} new episodes "
            f"({steps} steps) with non-finite observations, actions or rewards",
            file=stream,
        )
    return kept


def _nonfinite_param(named: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    for name, p in named:
        if not bool(torch.isfinite(p).all()):
            return name
    return None


def check_update(agent: Any, row: dict) -> None:
    """Raise :class:`NonFiniteError` if the update of ``row`` left anything non-finite."""
    it = row.get("Iteration", agent.iteration - 1)
    for key in STATS:
        v = row.get(key)
        if key == "Value_Loss" and agent.config.weighting == "bc":
            continue  # bc fits no value function (NaN by design)
        if isinstance(v, float) and not math.isfinite(v):
            _stop(it, f"{key} is {v}", agent)
    for net in ("actor", "critic"):
        bad = _nonfinite_param(getattr(agent, net).named_parameters())
        if bad is not None:
            _stop(it, f"{net} parameter '{bad}' is not finite", agent)
    bad = _nonfinite_param((k, getattr(agent.obs_norm, k)) for k in ("mean", "std"))
    if bad is not None:
        _stop(it, f"observation normaliser '{bad}' is not finite", agent)


def _stop(iteration: int, what: str, agent: Any) -> None:
    cfg = agent.config
    raise NonFiniteError(
        f"iteration {iteration}: {what} (actor_lr {cfg.actor_lr:g}, critic_lr "
        f"{cfg.critic_lr:g}: a learning rate too high?); stopped before writing it, "
        f"model.pt keeps the last finite iteration"
    )
