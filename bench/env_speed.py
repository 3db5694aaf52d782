#!/usr/bin/env python3
"""Control steps per second of mimic/Humanoid-v0 against pybullet's DeepMimic port and the raw floor.

All three run in this one invocation, interleaved round by round so that machine noise hits them
alike, each as its own process (one pybullet world per process, as in training):

* ours  : gymnasium.make("mimic/Humanoid-v0", motion="humanoid3d_spinkick"), random actions
          (normalised N(0, 0.05), DeepMimic's exploration noise, the peer benches' default),
          reset on every episode end; training mode with full-length episodes (RSI, falls);
* ours_vec : the same task as gymnasium.make_vec(..., num_envs=--num_envs,
          vectorization_mode="vector_entry_point"): --num_envs characters, one pybullet world
          each, stepped in this one process (how a sampler worker runs it); same-step autoreset;
* peer  : ../shared/bench/peer_deepmimic_pybullet.py (the port's own RL-world loop);
* floor : ../shared/bench/raw_pybullet_floor.py (the same physics and stable-PD calls, nothing else).

Each round times --steps control steps per contender after a warm-up; the figures are medians
over --rounds rounds. Prints the ratios ours/peer (target >= 4) and ours/floor (target >= 0.8).

    python bench/env_speed.py [--rounds 5] [--steps 3000] [--profile]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_BENCH = os.path.normpath(os.path.join(HERE, '..', '..', 'shared', 'bench'))


def ours(steps, warmup, seed, profile=False, num_envs=0):
    """Time our env in this process; returns (control steps/s, episodes). num_envs > 0 times the
    vector env with that many characters (steps counts character steps)."""
    import gymnasium as gym
    import numpy as np
    import mimic  # noqa: F401  (registers the env)
    kw = dict(motion='humanoid3d_spinkick', mode='train', anneal_samples=0)
    rng = np.random.default_rng(seed)
    if num_envs:
        env = gym.make_vec('mimic/Humanoid-v0', num_envs=num_envs,
                           vectorization_mode='vector_entry_point', **kw)
        mean, std = env.action_norm
        acts = (mean + std * 0.05 * rng.standard_normal((512, num_envs, len(mean))))
        acts = acts.astype(np.float32)
        env.reset(seed=seed)

        def run(n):
            episodes = 0
            for k in range(max(1, n // num_envs)):
                _, _, term, trunc, _ = env.step(acts[k % 512])
                episodes += int((term | trunc).sum())
            return episodes
    else:
        env = gym.make('mimic/Humanoid-v0', **kw)
        mean, std = env.unwrapped.action_norm
        acts = (mean + std * 0.05 * rng.standard_normal((4096, len(mean)))).astype(np.float32)
        env.reset(seed=seed)

        def run(n):
            episodes = 0
            for k in range(n):
                _, _, term, trunc, _ = env.step(acts[k % 4096])
                if term or trunc:
                    env.reset()
                    episodes += 1
            return episodes

    run(warmup)
    if profile:
        import cProfile
        import pstats
        cProfile.runctx('run(steps)', globals(), locals(), '/tmp/env_speed.prof')
        pstats.Stats('/tmp/env_speed.prof').sort_stats('tottime').print_stats(20)
    t0 = time.perf_counter()
    episodes = run(steps)
    el = time.perf_counter() - t0
    env.close()
    done = (steps // num_envs) * num_envs if num_envs else steps
    return done / el, episodes


def run_child(kind, steps, warmup, seed, num_envs):
    if kind in ('ours', 'ours_vec'):
        cmd = [sys.executable, __file__, '--child', '--steps', str(steps), '--warmup',
               str(warmup), '--seed', str(seed),
               '--num_envs', str(num_envs if kind == 'ours_vec' else 0)]
        pat = r'ours_steps_per_s=([\d.]+)'
    elif kind == 'peer':
        cmd = [sys.executable, os.path.join(SHARED_BENCH, 'peer_deepmimic_pybullet.py'),
               '--steps', str(max(steps // 4, 300)), '--warmup', str(warmup // 2), '--reps', '1',
               '--seed', str(seed)]
        pat = r'peer_steps_per_s=([\d.]+)'
    else:
        cmd = [sys.executable, os.path.join(SHARED_BENCH, 'raw_pybullet_floor.py'),
               '--steps', str(steps), '--warmup', str(warmup), '--reps', '1', '--seed',
               str(seed)]
        pat = r'floor_steps_per_s=([\d.]+)'
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(re.findall(pat, out)[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--steps', type=int, default=3000, help='control steps per timing')
    ap.add_argument('--warmup', type=int, default=300)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--num_envs', type=int, default=8,
                    help='characters in the vector-env contender (0: skip it)')
    ap.add_argument('--profile', action='store_true', help='cProfile our env once and exit')
    ap.add_argument('--json', help='also write the figures to this file')
    ap.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    o = ap.parse_args()

    if o.child or o.profile:
        rate, episodes = ours(o.steps, o.warmup, o.seed, profile=o.profile,
                              num_envs=o.num_envs if o.child else 0)
        print('ours_steps_per_s=%.1f episodes=%d' % (rate, episodes))
        return
    if not os.path.isdir(SHARED_BENCH):
        sys.exit(f'{SHARED_BENCH} not found: the peer and floor harnesses live in ../shared/bench')

    kinds = ('floor', 'ours', 'ours_vec', 'peer') if o.num_envs else ('floor', 'ours', 'peer')
    rates = {k: [] for k in kinds}
    for r in range(o.rounds):
        for kind in kinds:
            rates[kind].append(run_child(kind, o.steps, o.warmup, o.seed + r, o.num_envs))
        print('round %d: ' % r + '  '.join('%s %.0f' % (k, v[-1]) for k, v in rates.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print('\nmedian control steps/s over %d rounds (%d steps each): ' % (o.rounds, o.steps)
          + ', '.join('%s %.0f' % (k, v) for k, v in med.items()))
    ratios = {}
    for k in kinds:
        if k.startswith('ours'):
            label = k if k == 'ours' else 'ours_vec (%d characters, one process)' % o.num_envs
            ratios[k] = {'over_peer': med[k] / med['peer'], 'over_floor': med[k] / med['floor']}
            print('%-40s / peer = %.2f (target >= 4)   / floor = %.2f (target >= 0.80)'
                  % (label, ratios[k]['over_peer'], ratios[k]['over_floor']))
    print('peer / floor = %.2f' % (med['peer'] / med['floor']))
    if o.json:
        with open(o.json, 'w') as f:
            json.dump({'rates': rates, 'median': med, 'ratios': ratios,
                       'num_envs': o.num_envs, 'steps': o.steps, 'rounds': o.rounds}, f, indent=1)


if __name__ == '__main__':
    main()
