#!/usr/bin/env python3
"""Physics floor for the dog: the physics and stable-PD calls of mimic/Dog-v0, nothing else.

The same world as mimic's (plane_implicit.urdf turned y-up, maximal coordinates, friction 0.9,
gravity -9.8 on y, 10 solver iterations, dt 1/240, one substep) and the same dog
(characters/dog.urdf with URDF_MAINTAIN_LINK_ORDER | USE_INERTIA_FROM_FILE | USE_SELF_COLLISION
| SELF_COLLISION_EXCLUDE_ALL_PARENTS, zero damping, default motors off, dog.yaml's PD gains and
URDF torque limits). Per control step (30 Hz = 8 sim steps) it only does

    8 x [ setJointMotorControlMultiDofArray(STABLE_PD_CONTROL) + stepSimulation() ]
    + one getContactPoints(dog, plane) fall check on dog.yaml's fall-contact bodies
    + on a fall or at 20 s: reset to a random keyframe of the clip (2 reset calls).

PD targets are precomputed from normalised N(0, 0.05) actions (mimic's ActionMap, set-up only),
the same distribution as bench/env_speed.py feeds our env; keyframes come from the clip (set-up
only). Last line: floor_steps_per_s=N (median of --reps timed segments, control steps/s).

    python bench/dog_floor.py [--steps 3000] [--reps 3] [--motion dog_canter]
"""

import argparse
import math
import os
import statistics
import sys
import time

import numpy as np
import pybullet as p
import pybullet_data

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

SIM_PER_CTRL = 8


def setup(motion, seed):
    """(body, plane, joints, PD arguments, target bank, keyframes, fall-contact links)."""
    from mimic.envs.action import ActionMap
    from mimic.kinematics.character import SPHERICAL, load_character
    from mimic.kinematics.clip import load_clip
    from mimic.paths import resolve_motion

    ch = load_character("dog")
    clip = load_clip(resolve_motion(motion), ch)
    p.connect(p.DIRECT)
    p.setGravity(0, -9.8, 0)
    p.setTimeStep(1.0 / 240.0)
    p.setPhysicsEngineParameter(numSolverIterations=10, numSubSteps=1)
    plane = p.loadURDF(
        os.path.join(pybullet_data.getDataPath(), "plane_implicit.urdf"),
        [0, 0, 0],
        p.getQuaternionFromEuler([-math.pi / 2, 0, 0]),
        useMaximalCoordinates=True,
    )
    p.changeDynamics(plane, -1, lateralFriction=0.9)
    flags = (
        p.URDF_MAINTAIN_LINK_ORDER
        | p.URDF_USE_INERTIA_FROM_FILE
        | p.URDF_USE_SELF_COLLISION
        | p.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS
    )
    body = p.loadURDF(str(ch.urdf_path), [0, ch.spawn_height, 0], flags=flags)
    joints = [int(j) for j in ch.actuated]
    ball = [ch.joint_types[j] == SPHERICAL for j in joints]
    for j in [-1] + list(range(ch.num_joints)):
        p.changeDynamics(body, j, linearDamping=0, angularDamping=0)
    for j, b in zip(joints, ball):
        if b:
            p.setJointMotorControlMultiDof(
                body,
                j,
                p.POSITION_CONTROL,
                targetPosition=[0, 0, 0, 1],
                targetVelocity=[0, 0, 0],
                positionGain=0,
                velocityGain=1,
                force=[0, 0, 0],
            )
        else:
            p.setJointMotorControl2(body, j, p.VELOCITY_CONTROL, force=0)
    pd = dict(
        targetVelocities=[[0.0] * 3 if b else [0.0] for b in ball],
        forces=[[float(ch.torque_limits[j])] * (3 if b else 1) for j, b in zip(joints, ball)],
        positionGains=[float(ch.kp[j]) for j in joints],
        velocityGains=[float(ch.kd[j]) for j in joints],
    )
    amap = ActionMap(ch)
    rng = np.random.default_rng(seed)
    acts = amap.mean + amap.std * 0.05 * rng.standard_normal((4096, amap.size))
    bank = amap.to_targets(acts)
    keys = []
    for f in range(clip.num_frames - 1):
        q = clip.local_rot[f]
        states = [q[j].tolist() if b else [float(clip.hinge_angle[f, j])] for j, b in zip(joints, ball)]
        keys.append((clip.root_pos[f].tolist(), q[0].tolist(), states))
    return body, plane, joints, pd, bank, keys, set(np.flatnonzero(ch.fall_contact).tolist())


class Floor:
    def __init__(self, motion, seed):
        (self.body, self.plane, self.joints, self.pd, self.bank, self.keys, self.fall) = setup(motion, seed)
        self.rng = np.random.default_rng(seed)
        self.k = self.episodes = 0
        self.reset()

    def reset(self):
        pos, orn, states = self.keys[self.rng.integers(len(self.keys))]
        p.resetBasePositionAndOrientation(self.body, pos, orn)
        p.resetJointStatesMultiDof(self.body, self.joints, states)
        self.ep_ctrl = 0

    def run(self, n_ctrl):
        body, joints, bank, nb, pd = self.body, self.joints, self.bank, len(self.bank), self.pd
        setpd, step, contacts, spd = (
            p.setJointMotorControlMultiDofArray,
            p.stepSimulation,
            p.getContactPoints,
            p.STABLE_PD_CONTROL,
        )
        for _ in range(n_ctrl):
            tp = bank[self.k % nb]
            self.k += 1
            for _ in range(SIM_PER_CTRL):
                setpd(body, joints, spd, targetPositions=tp, **pd)
                step()
            self.ep_ctrl += 1
            fell = any(c[3] in self.fall for c in contacts(bodyA=body, bodyB=self.plane))
            if fell or self.ep_ctrl >= 600:
                self.episodes += 1
                self.reset()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000, help="control steps per timed segment")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--motion", default="dog_canter")
    ap.add_argument("--seed", type=int, default=0)
    o = ap.parse_args()
    w = Floor(o.motion, o.seed)
    w.run(o.warmup)
    rates = []
    for r in range(o.reps):
        e0 = w.episodes
        t0 = time.perf_counter()
        w.run(o.steps)
        el = time.perf_counter() - t0
        rates.append(o.steps / el)
        print("rep %d: %.1f ctrl steps/s, %d episode ends" % (r, rates[-1], w.episodes - e0))
    print("floor_steps_per_s=%.0f" % statistics.median(rates))


if __name__ == "__main__":
    main()
