#!/usr/bin/env python3
"""How a policy fares from starts where the reset lifts the reference pose out of the ground.

    python bench/reset_lift_probe.py --model pretrained/humanoid_walk.pt [--json FILE]

The walk's reference sinks 3-5 mm into the ground at its heel strikes (0.00-0.065 s and
0.62-0.69 s into the clip), so a reset there lifts the character clear (+1 mm), as DeepMimic's
does. The policy runs deterministically from a grid of start times (every 5 ms) in each heel-strike
window and, as a control, in mid-stance (0.30-0.42 s), for up to 5 s, under three resets:

* ``lift, velocity kept``: the reset as it is (``SimCharacter.shift_root`` gives the root its
  velocity back after moving it);
* ``lift, root stopped``: the reset before that fix: pybullet's ``resetBasePositionAndOrientation``
  alone, which zeroes the root's velocity while the joints keep theirs;
* ``no lift``: the reference pose left 3-5 mm in the ground.

Prints the falls per window and reset. Deterministic counts, not timings.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_GRID = 0.005  # s between start times
WINDOWS = {
    "left heel strike 0.600-0.715 s": np.arange(0.600, 0.7175, _GRID),
    "right heel strike 0.000-0.065 s, 1.230-1.260 s": np.r_[0.0:0.0675:_GRID, 1.23:1.2625:_GRID],
    "mid-stance 0.300-0.415 s": np.arange(0.300, 0.4175, _GRID),
}
RESETS = ("lift, velocity kept", "lift, root stopped", "no lift")
CAP = 150  # control steps: 5 s


def stopped_shift_root(self, dy):
    """The reset's lift before the fix: the base moved, its velocity zeroed by pybullet."""
    import pybullet as pb

    pos, orn = pb.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
    pb.resetBasePositionAndOrientation(self.body, [pos[0], pos[1] + dy, pos[2]], orn, physicsClientId=self.client)
    self.state[:, 1] += dy
    self.state[:, 15] += dy


def run(model, agent, info, times, reset):
    """Steps survived (CAP: did not fall within 5 s) from each start time, under ``reset``."""
    import mimic.envs.imitation as imitation
    from mimic.rebuild import make_env
    from mimic.sim.character import SimCharacter

    kept_shift, kept_lowest = SimCharacter.shift_root, imitation.lowest_point
    if reset == "lift, root stopped":
        SimCharacter.shift_root = stopped_shift_root
    elif reset == "no lift":
        imitation.lowest_point = lambda *a, **k: 0.0
    env = make_env(model, info, agent)
    try:
        out = []
        for t in times:
            obs, _ = env.reset(seed=0, options={"time": float(t)})
            steps = CAP
            for step in range(1, CAP + 1):
                obs, _, terminated, truncated, _ = env.step(agent.predict(obs, deterministic=True)[0])
                if terminated or truncated:
                    steps = step if terminated else CAP
                    break
            out.append(steps)
        return out
    finally:
        env.close()
        SimCharacter.shift_root, imitation.lowest_point = kept_shift, kept_lowest


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    import torch

    from mimic.rebuild import load_agent

    torch.set_num_threads(1)
    agent, info = load_agent(a.model)
    rows = []
    for window, times in WINDOWS.items():
        for reset in RESETS:
            steps = run(a.model, agent, info, times, reset)
            falls = [s for s in steps if s < CAP]
            rows.append(dict(window=window, reset=reset, starts=len(times), falls=len(falls), fall_steps=sorted(falls)))
            print(f"{window:48s} {reset:20s} {len(falls):2d} of {len(times)} starts fall within 5 s", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(dict(model=a.model, rows=rows), indent=1) + "\n")


if __name__ == "__main__":
    main()
