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
from typing import TYPE_CHECKING, Any, Optional, Sequence

import yaml

if TYPE_CHECKING:
    from mimic.config import RunConfig, SamplerConfig, Settings


def _make_env(env_id: str, kwargs: dict[str, Any], what: str):
    import gymnasium as gym

    try:
        return gym.make(env_id, **kwargs)
    except Exception as e:  # report which env / kwargs (e.g. a motion file the env cannot load)
        from mimic.cli.argfile import ArgError

        kw = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no kwargs"
        raise ArgError(f"could not create {what} env '{env_id}' ({kw}): {type(e).__name__}: {e}") from e


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from mimic.cli.argfile import parse_args, usage
    from mimic.learning.config import ConfigError

    if not argv or "-h" in argv or "--help" in argv:
        print(usage())
        return 0 if argv else 2
    from mimic.learning.stopping import Interrupted, StopRun, signal_handlers
    from mimic.preflight import PreflightError, prepare_train
    from mimic.sampling import SamplerError

    try:
        settings = parse_args(argv)
        for note in prepare_train(settings):  # every start-up check, then the output-folder policy
            print(f"[mimic] {note}")
        with signal_handlers():  # SIGINT / SIGTERM: Interrupted, after a checkpoint write
            return run(settings)
    except (ConfigError, PreflightError) as e:  # ArgError is a ConfigError
        print(f"mimic-train: error: {e}", file=sys.stderr)
        return 2
    except (StopRun, SamplerError) as e:  # interrupted, non-finite, disk full, workers failing
        print(f"mimic-train: {'' if isinstance(e, Interrupted) else 'error: '}{e}", file=sys.stderr)
        if isinstance(e, Interrupted):
            # a signal ends the process: the checkpoint is written and the sampler, worlds and
            # collect thread are closed (run's finally), so skip the interpreter's teardown, in
            # which native thread pools could still abort the process (exit -6 instead of 130)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(e.exit_code)
        return e.exit_code


def _record(r: RunConfig, env_id: str, env_kwargs: dict) -> int:
    """--record_dataset: record --record_samples steps with --record_policy, save, exit."""
    from mimic.learning import AWR, random_act_fn, record_dataset

    env = _make_env(env_id, env_kwargs, "train")
    if r.record_policy == "random":
        act = random_act_fn(env.action_space, seed=r.seed)
    else:
        agent = AWR.from_checkpoint(r.record_policy, env=None, verbose=0)
        act = lambda o: agent.act(o, deterministic=r.record_deterministic)  # noqa: E731
    ds = record_dataset(
        env,
        act,
        r.record_samples,
        seed=r.seed,
        meta={
            "env_id": env_id,
            "env_kwargs": env_kwargs,
            "policy": r.record_policy,
            "deterministic": r.record_deterministic,
        },
    )
    path = ds.save(r.record_dataset)
    rets = [e.ret for e in ds.episodes]
    print(f"recorded {ds.num_samples} samples, {len(rets)} episodes, mean return {sum(rets) / len(rets):.2f} -> {path}")
    env.close()
    return 0


def make_sampler(cfg: SamplerConfig, env_id: str, env_kwargs: dict, seed: int):
    """The parallel sampler of ``cfg`` (worker processes, default one per core, or Ray actors), or
    None to sample in-process (``--num_workers 1``).  The one place a run builds a sampler."""
    if cfg.in_process(os.cpu_count()):
        return None
    from mimic.sampling import ParallelSampler

    return ParallelSampler(
        env_id,
        env_kwargs,
        num_workers=cfg.workers(os.cpu_count()),
        envs_per_worker=cfg.envs_per_worker,
        seed=seed,
        backend=cfg.backend,
        ray_address=cfg.ray_address,
        worker_timeout=cfg.worker_timeout,
        deterministic=cfg.deterministic_sampling,
    )


def _start_agent(settings: Settings, ckpt_path: str, env, eval_env, dataset, sampler):
    """A new agent, or with --resume the one ``ckpt_path`` holds (agent keys given now apply)."""
    from mimic.learning import AWR
    from mimic.learning.checkpoint import read_checkpoint

    r, cfg = settings.run, settings.agent
    if not (r.resume and os.path.isfile(ckpt_path)):
        if r.resume:
            print(f"[mimic] resume: no {ckpt_path} yet, starting a new run")
        return AWR(env, cfg, eval_env=eval_env, seed=r.seed, dataset=dataset, verbose=r.verbose, sampler=sampler)
    saved = read_checkpoint(ckpt_path)
    changed = {k: (v, saved["config"].get(k)) for k, v in cfg.to_dict().items() if saved["config"].get(k) != v}
    if changed:
        print(f"[mimic] resume: agent settings differ from the checkpoint, using the new ones: {changed}")
    if saved.get("seed") != r.seed:
        print(f"[mimic] resume: keeping the checkpoint's seed {saved.get('seed')} (not {r.seed})")
    if saved.get("buffer") is None and dataset is None:
        how = (
            f"{cfg.buffer_size:,} new samples before the next update (refill_before_update)"
            if cfg.refill_before_update
            else "new samples, updating from the first iteration"
        )
        why = "policy-only, or --save_buffer off"
        print(f"[mimic] resume: {ckpt_path} has no replay buffer ({why}): it refills from {how}")
    agent = AWR.from_checkpoint(
        ckpt_path,
        env,
        eval_env=eval_env,
        config_overrides=cfg.to_dict(),
        dataset=dataset,
        verbose=r.verbose,
        sampler=sampler,
    )
    print(f"[mimic] resumed {ckpt_path}: iteration {agent.iteration}, {agent.total_samples} samples")
    return agent


def _refresh_plot(out: str) -> None:
    try:
        from mimic.cli.plot import plot_runs

        plot_runs([out], os.path.join(out, "learning_curve.png"))
    except Exception as e:  # plotting must never kill training
        print(f"[mimic] plot failed: {type(e).__name__}: {e}", file=sys.stderr)


def run(settings: Settings) -> int:
    import mimic  # noqa: F401  (importing the package registers the mimic/* envs)
    from mimic.learning import Dataset
    from mimic.learning.checkpoint import LATEST

    r = settings.run
    dataset = Dataset.load(r.dataset) if r.dataset else None
    if settings.env_id or dataset is None:
        env_id, env_kwargs, test_kwargs = settings.env_id, settings.env_kwargs, settings.test_env_kwargs
    else:  # --dataset alone: the env it was recorded in
        env_id, env_kwargs = dataset.meta.get("env_id"), dataset.meta.get("env_kwargs", {})
        test_kwargs = env_kwargs
    if r.record_dataset:  # record a dataset and exit
        return _record(r, env_id, env_kwargs)

    env = None if dataset is not None else _make_env(env_id, env_kwargs, "train")
    eval_env = _make_env(env_id, test_kwargs, "test") if r.test_episodes > 0 and env_id is not None else None
    sampler = make_sampler(settings.sampler, env_id, env_kwargs, r.seed) if env is not None else None
    out = r.output_dir
    os.makedirs(out, exist_ok=True)
    agent = _start_agent(settings, os.path.join(out, LATEST), env, eval_env, dataset, sampler)
    with open(os.path.join(out, "settings.yaml"), "w") as f:
        yaml.safe_dump(settings.to_dict(), f, sort_keys=False)

    def callback(a, row):
        if r.plot_every > 0 and (row["Iteration"] + 1) % r.plot_every == 0:
            _refresh_plot(out)

    extra = {"env_id": env_id, "env_kwargs": env_kwargs, "eval_env_kwargs": test_kwargs, "settings": settings.to_dict()}
    try:
        agent.learn(
            r.max_samples,
            max_iters=r.max_iters,
            test_every=r.test_every,
            test_episodes=r.test_episodes,
            output_dir=out,
            iters_per_checkpoint=r.iters_per_checkpoint,
            save_buffer=r.save_buffer,
            tensorboard=r.tensorboard,
            checkpoint_extra=extra,
            callback=callback,
        )
    finally:  # also when the run stops early: workers and worlds end before the interpreter
        agent.wait_for_collect()
        for e in (env, eval_env, sampler):
            if e is not None:
                e.close()
    if r.plot_every > 0:
        _refresh_plot(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
