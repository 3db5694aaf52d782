"""Train AWR:  python mimic/train.py --arg_file FILE [--key value ...]   (or ``mimic-train``).

Modes
    online (default)          collect with the env, --max_samples / --max_iters
    --record_dataset OUT.npz  record --record_samples steps with --record_policy (random or a
                              checkpoint) and exit
    --dataset FILE.npz        fully off-policy: train from the static dataset for --max_iters
                              iterations, the env is only used for test episodes
Outputs in --output_dir: log.csv, model.pt (every iteration, atomic), model_XXXXXX.pt
(periodic), settings.yaml, learning_curve.png.  --resume continues from model.pt.
See ``mimic-train --help`` for all keys.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence

import yaml


def _make_env(env_id: str, kwargs: dict[str, Any], what: str):
    import gymnasium as gym
    try:
        return gym.make(env_id, **kwargs)
    except Exception as e:   # report which env / kwargs (e.g. a motion file the env cannot load)
        from mimic.argfile import ArgError
        kw = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no kwargs"
        raise ArgError(f"could not create {what} env '{env_id}' ({kw}): {type(e).__name__}: {e}") from e


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from mimic.argfile import parse_args, usage
    from mimic.learning.config import ConfigError
    if not argv or "-h" in argv or "--help" in argv:
        print(usage())
        return 0 if argv else 2
    from mimic.learning.stopping import Interrupted, StopRun, signal_handlers
    from mimic.sampling import SamplerError
    from mimic.preflight import PreflightError, prepare_train
    try:
        settings = parse_args(argv)
        for note in prepare_train(settings):      # every start-up check, then the output-folder policy
            print(f"[mimic] {note}")
        with signal_handlers():                   # SIGINT / SIGTERM: Interrupted, after a checkpoint write
            return run(settings)
    except (ConfigError, PreflightError) as e:          # ArgError is a ConfigError
        print(f"mimic-train: error: {e}", file=sys.stderr)
        return 2
    except (StopRun, SamplerError) as e:          # interrupted, non-finite, disk full, workers failing
        print(f"mimic-train: {'' if isinstance(e, Interrupted) else 'error: '}{e}", file=sys.stderr)
        return e.exit_code


def _record(r, env_id: str, env_kwargs: dict) -> int:
    """--record_dataset: record --record_samples steps with --record_policy, save, exit."""
    from mimic.learning import AWR, random_act_fn, record_dataset
    env = _make_env(env_id, env_kwargs, "train")
    if r["record_policy"] == "random":
        act = random_act_fn(env.action_space, seed=r["seed"])
    else:
        agent = AWR.load(r["record_policy"], env=None, verbose=0)
        act = lambda o: agent.act(o, deterministic=r["record_deterministic"])  # noqa: E731
    ds = record_dataset(env, act, r["record_samples"], seed=r["seed"],
                        meta={"env_id": env_id, "env_kwargs": env_kwargs, "policy": r["record_policy"],
                              "deterministic": r["record_deterministic"]})
    path = ds.save(r["record_dataset"])
    rets = [e.ret for e in ds.episodes]
    print(f"recorded {ds.num_samples} samples, {len(rets)} episodes, mean return "
          f"{sum(rets) / len(rets):.2f} -> {path}")
    env.close()
    return 0


def run(settings) -> int:
    import mimic  # noqa: F401  (importing the package registers the mimic/* envs)
    from mimic.learning import AWR, Dataset
    from mimic.learning.checkpoint import LATEST, load as load_checkpoint

    r, cfg = settings.run, settings.agent

    dataset = Dataset.load(r["dataset"]) if r["dataset"] else None
    env_id = settings.env_id or (dataset.meta.get("env_id") if dataset else None)
    env_kwargs = settings.env_kwargs if settings.env_id else (dataset.meta.get("env_kwargs", {}) if dataset else {})
    test_kwargs = settings.test_env_kwargs if settings.env_id else env_kwargs

    if r["record_dataset"]:                  # record a dataset and exit
        return _record(r, env_id, env_kwargs)

    # ---- environments -------------------------------------------------------------------------
    env = None if dataset is not None else _make_env(env_id, env_kwargs, "train")
    eval_env = None
    if r["test_episodes"] > 0 and env_id is not None:
        eval_env = _make_env(env_id, test_kwargs, "test")

    # ---- sampler: worker processes (default one per core), or in-process with --num_workers 1 ------
    sampler = None
    num_workers = r["num_workers"] or os.cpu_count() or 1
    if env is not None and (num_workers > 1 or r["backend"] == "ray"):
        from mimic.sampling import ParallelSampler
        sampler = ParallelSampler(env_id, env_kwargs, num_workers=num_workers, envs_per_worker=r["envs_per_worker"],
                                  seed=r["seed"], backend=r["backend"], ray_address=r["ray_address"],
                                  worker_timeout=r["worker_timeout"],     # daemon processes: end with us
                                  deterministic=r["deterministic_sampling"])

    out = r["output_dir"]
    os.makedirs(out, exist_ok=True)
    ckpt_path = os.path.join(out, LATEST)
    extra = {"env_id": env_id, "env_kwargs": env_kwargs, "eval_env_kwargs": test_kwargs,
             "settings": settings.to_dict()}

    if r["resume"] and os.path.isfile(ckpt_path):
        saved = load_checkpoint(ckpt_path)
        changed = {k: (v, saved["config"].get(k)) for k, v in cfg.to_dict().items() if saved["config"].get(k) != v}
        if changed:
            print(f"[mimic] resume: agent settings differ from the checkpoint, using the new ones: {changed}")
        if saved.get("seed") != r["seed"]:
            print(f"[mimic] resume: keeping the checkpoint's seed {saved.get('seed')} (not {r['seed']})")
        if saved.get("buffer") is None and dataset is None:
            print("[mimic] resume: model.pt has no replay buffer (--save_buffer off): it refills from new samples")
        agent = AWR.load(ckpt_path, env, eval_env=eval_env, config_overrides=cfg.to_dict(), dataset=dataset,
                         verbose=r["verbose"], sampler=sampler)
        print(f"[mimic] resumed {ckpt_path}: iteration {agent.iteration}, {agent.total_samples} samples")
    else:
        if r["resume"]:
            print(f"[mimic] resume: no {ckpt_path} yet, starting a new run")
        agent = AWR(env, cfg, eval_env=eval_env, seed=r["seed"], dataset=dataset, verbose=r["verbose"],
                    sampler=sampler)

    with open(os.path.join(out, "settings.yaml"), "w") as f:
        yaml.safe_dump(settings.to_dict(), f, sort_keys=False)

    png = os.path.join(out, "learning_curve.png")

    def refresh_plot():
        try:
            from mimic.plot import plot_runs
            plot_runs([out], png)
        except Exception as e:  # plotting must never kill training
            print(f"[mimic] plot failed: {type(e).__name__}: {e}", file=sys.stderr)

    def callback(a, row):
        if r["plot_every"] > 0 and (row["Iteration"] + 1) % r["plot_every"] == 0:
            refresh_plot()

    try:
        agent.learn(r["max_samples"], max_iters=r["max_iters"], test_every=r["test_every"],
                    test_episodes=r["test_episodes"], output_dir=out, iters_per_checkpoint=r["iters_per_checkpoint"],
                    save_buffer=r["save_buffer"], tensorboard=r["tensorboard"], checkpoint_extra=extra,
                    callback=callback)
    finally:           # also when the run stops early: workers and worlds end before the interpreter
        agent.wait_for_collect()
        for e in (env, eval_env, sampler):
            if e is not None:
                e.close()
    if r["plot_every"] > 0:
        refresh_plot()
    return 0


if __name__ == "__main__":
    sys.exit(main())
