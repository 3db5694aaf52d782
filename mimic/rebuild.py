"""Rebuild an agent and its environment from a checkpoint (or a clip for kinematic playback).

The one place the viewer (mimic.viewer), evaluation (mimic.evaluation) and the BVH export turn a
``mimic-train`` checkpoint back into something to run:

* :func:`load_agent`: the policy to act with, and what the checkpoint says about its
  environment (``env_id``, ``env_kwargs``, ``eval_env_kwargs``: mimic-train stores them);
* :func:`make_env`: that environment in test mode (``motion`` may override the clip), checked
  against the model (:func:`check_fits`); without a model, a clip played kinematically on its
  character.

Every problem is a :class:`RebuildError` whose one-line message names the file and the mismatch.
Training itself resumes with ``AWR.from_checkpoint`` (mimic.learning.awr), which this uses too;
``mimic.learning.checkpoint.read_checkpoint`` reads the raw file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HUMANOID_ENV, DOG_ENV = "mimic/Humanoid-v0", "mimic/Dog-v0"


class RebuildError(Exception):
    """A checkpoint or clip that cannot be rebuilt into an agent and its env: one line."""


def load_agent(path) -> tuple:
    """(agent to act with, what the checkpoint says about its environment) from a mimic-train
    checkpoint: ``info`` holds env_id, env_kwargs, eval_env_kwargs, settings and config.

    Raises RebuildError for a missing, unreadable or incomplete file.
    """
    from mimic.preflight import PreflightError, check_checkpoint

    path = str(path)
    try:
        saved = check_checkpoint(path, "model")
    except PreflightError as e:
        raise RebuildError(str(e)) from None
    try:
        from mimic.learning import AWR

        agent = AWR.from_checkpoint(saved, env=None, verbose=0)
    except Exception as e:  # missing or mistyped entries: not a checkpoint mimic-train wrote
        raise RebuildError(
            f"model '{path}': not a usable mimic checkpoint ({type(e).__name__}: "
            f"{(str(e).strip().splitlines() or [''])[0][:150]})"
        ) from None
    info = {k: saved.get(k) for k in ("env_id", "env_kwargs", "eval_env_kwargs", "settings", "config")}
    if not info.get("env_id"):
        raise RebuildError(
            f"model '{path}': the checkpoint does not say which environment it was "
            f"trained on (no env_id; was it written by mimic-train?)"
        )
    return agent, info


def env_id_for_motion(motion) -> str:
    """The imitation env of a clip's character (DeepMimic names clips <character>_...)."""
    from mimic.envs.imitation import character_for_motion
    from mimic.paths import resolve_motion

    return DOG_ENV if character_for_motion(resolve_motion(motion)) == "dog" else HUMANOID_ENV


def _resolve(motion, what):
    from mimic.paths import resolve_motion

    try:
        return resolve_motion(motion)
    except FileNotFoundError as e:
        raise RebuildError(f"{what}: {e}") from None


def _stored_motion(motion):
    """A motion named in a checkpoint: as stored, else the file's name among the shipped clips
    (training may have run from another directory)."""
    from mimic.paths import resolve_motion

    try:
        return str(resolve_motion(motion))
    except FileNotFoundError:
        pass
    try:
        return str(resolve_motion(Path(str(motion)).stem))
    except FileNotFoundError:
        return str(motion)


def _env_character(env_id, kwargs):
    import gymnasium as gym

    try:
        spec = gym.spec(env_id)
    except Exception:
        return None
    return kwargs.get("character") or (spec.kwargs or {}).get("character")


def make_env(model_path=None, info=None, agent=None, motion=None, env_kwargs=None, mode="test"):
    """The environment to watch or evaluate.

    With a model (``info`` from :func:`load_agent`): the checkpoint's env_id and (test) env_kwargs,
    ``mode="test"``, ``motion`` overriding the clip; checks the character and the observation /
    action sizes against the model. Without a model: ``motion`` played kinematically on its
    character. Returns the env (not yet reset).
    """
    import gymnasium as gym

    import mimic  # noqa: F401  (registers the envs)
    from mimic.envs.imitation import character_for_motion

    name = f"model '{model_path}'" if model_path else "viewer"
    if info is not None:
        env_id = info["env_id"]
        kwargs = dict(info.get("eval_env_kwargs") or info.get("env_kwargs") or {})
        if not env_id.startswith("mimic/"):
            raise RebuildError(
                f"{name}: trained on '{env_id}', not a mimic imitation env "
                f"({HUMANOID_ENV} / {DOG_ENV}): nothing to view here"
            )
        if motion is not None:
            kwargs["motion"] = str(_resolve(motion, f"motion {motion!r}"))
        elif "motion" in kwargs:
            kwargs["motion"] = _stored_motion(kwargs["motion"])
        kwargs["kinematic"] = False
        trained_char = _env_character(env_id, kwargs)
        if "motion" in kwargs and trained_char:
            clip_path = _resolve(kwargs["motion"], f"{name}: motion {kwargs['motion']!r}")
            clip_char = character_for_motion(clip_path)
            if clip_char != trained_char:
                raise RebuildError(
                    f"{name} was trained for the {trained_char} ({env_id}), but "
                    f"motion '{clip_path.name}' is a {clip_char} clip"
                )
    else:
        if motion is None:
            raise RebuildError("nothing to show: give --model FILE and/or --motion CLIP")
        env_id = env_id_for_motion(motion)
        kwargs = {"motion": str(_resolve(motion, f"motion {motion!r}")), "kinematic": True}
    kwargs.pop("render_mode", None)
    kwargs["mode"] = mode
    kwargs.update(env_kwargs or {})
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        kw = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise RebuildError(f"{name}: cannot create {env_id} ({kw}): {msg}") from None
    if agent is not None:
        check_fits(agent, env, name, env_id)
    return env


def check_fits(agent, env, name, env_id):
    obs_n = int(np.prod(env.observation_space.shape))
    act_n = int(np.prod(env.action_space.shape)) if env.action_space.shape else 1
    if (agent.obs_dim, agent.act_dim) != (obs_n, act_n):
        clip = getattr(env.unwrapped, "clip", None)
        what = f"{env_id}{' (' + clip.name + ')' if clip is not None else ''}"
        env.close()
        raise RebuildError(
            f"{name} expects observations of size {agent.obs_dim} and actions of "
            f"size {agent.act_dim}, but {what} has {obs_n} and {act_n} "
            f"(a model of another character?)"
        )
