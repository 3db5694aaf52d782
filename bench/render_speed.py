"""Headless rendering speed (pybullet TinyRenderer, DIRECT mode): frames per second.

    python bench/render_speed.py [--width 640 --height 480 --frames 30 --repeats 5]

Renders the walk clip (kinematic playback, the character moving every frame) and reports the
median frames/s over ``--repeats`` runs of ``--frames`` frames for:
  scene            the character on mimic's checker floor (what videos use)
  scene+ghost      plus the translucent reference ghost (a second, depth-blended pass)
  scene+shadows    with TinyRenderer shadows (--shadows)
  plane100 ground  pybullet's textured plane instead of the floor (why mimic replaces it)
  video (mp4)      end to end: env step + render with ghost + text + H.264 encoding
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import gymnasium as gym
import numpy as np

import mimic  # noqa: F401
from mimic.sim.camera import FollowCamera, GhostWorld, SceneRenderer
from mimic.viewer import Player, camera_distance, record_video


def run(width, height, frames, repeats, motion="humanoid3d_walk"):
    env = gym.make("mimic/Humanoid-v0", motion=motion, kinematic=True, mode="test")
    u = env.unwrapped
    env.reset(seed=0, options={"time": 0.0})
    zero = np.zeros(env.action_space.shape, np.float32)
    ghost = GhostWorld(u.character)
    results = {}

    def bench(name, renderer, **kw):
        rates = []
        for _ in range(repeats):
            env.reset(seed=0, options={"time": 0.0})
            cam = FollowCamera(distance=camera_distance(u))
            t_render = 0.0
            for _ in range(frames):
                env.step(zero)
                root, rot, hinge = u.reference_state()
                ghost.set_state(root, rot[0], rot, hinge)
                cam.follow(u.sim.query()[0, 14:17])
                t0 = time.perf_counter()
                renderer.render(cam, width, height, **kw)
                t_render += time.perf_counter() - t0
            rates.append(frames / t_render)
        results[name] = (statistics.median(rates), min(rates), max(rates))

    floor = SceneRenderer(u.world, floor=True, shadows=False)
    bench("scene", floor)
    bench("scene+ghost", floor, ghost=ghost)
    floor.shadows = True
    bench("scene+shadows", floor)
    floor.shadows = False
    env.close()
    ghost.close()

    env = gym.make("mimic/Humanoid-v0", motion=motion, kinematic=True, mode="test")
    u = env.unwrapped
    env.reset(seed=0, options={"time": 0.0})
    plane = SceneRenderer(u.world, floor=False, shadows=False)
    ghost = GhostWorld(u.character)
    bench("plane100 ground", plane)
    env.close()
    ghost.close()

    rates = []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(repeats):
            env = gym.make("mimic/Humanoid-v0", motion=motion, kinematic=True, mode="test")
            p = Player(env)
            res = record_video(
                p,
                os.path.join(d, "v.mp4"),
                seconds=frames / 30.0,
                fps=30,
                width=width,
                height=height,
                ghost_mode="beside",
                progress=False,
            )
            rates.append(res["frames"] / res["render_seconds"])
            env.close()
    results["video (mp4)"] = (statistics.median(rates), min(rates), max(rates))
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    res = run(a.width, a.height, a.frames, a.repeats)
    print(
        f"headless TinyRenderer at {a.width}x{a.height}, median of {a.repeats} x {a.frames} "
        f"frames (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    for name, (med, lo, hi) in res.items():
        print(f"  {name:16s} {med:6.1f} frames/s   ({1000 / med:5.1f} ms/frame; range {lo:.1f}-{hi:.1f})")


if __name__ == "__main__":
    main()
