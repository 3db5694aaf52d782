"""A pybullet physics world with DeepMimic's settings: y-up, ground plane, 240 Hz, 10 iterations.

Every pybullet call of the project lives in mimic.sim. Each World owns its own physics client, so
several worlds (one per sampler worker, or a GUI and a DIRECT one) coexist in a process; calls pass
``physicsClientId`` explicitly instead of going through pybullet_utils' BulletClient, whose
per-call wrapper costs a few microseconds on the hot path.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager

import pybullet as pb
import pybullet_data

GRAVITY = -9.8
GROUND_FRICTION = 0.9  # DeepMimic cGround


@contextmanager
def quiet_stdout():
    """Silence C-level stdout while pybullet loads files (its URDF importer is chatty)."""
    sys.stdout.flush()
    try:
        fd = os.dup(1)
    except OSError:  # no real stdout (e.g. some notebook front ends)
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(fd, 1)
        os.close(fd)
        os.close(null)


class World:
    """One physics client: DIRECT (headless, default) or GUI."""

    def __init__(
        self, timestep: float = 1.0 / 240.0, solver_iterations: int = 10, gui: bool = False, gui_options: str = ""
    ):
        self.timestep = timestep
        self.gui = gui
        if gui:
            self.client = pb.connect(pb.GUI, options=gui_options)
        else:
            with quiet_stdout():  # pybullet prints "argv[0]=" on connect
                self.client = pb.connect(pb.DIRECT)
        if self.client < 0:
            raise RuntimeError("pybullet could not connect" + (" a GUI (is there a display?)" if gui else ""))
        cid = self.client
        if gui:
            pb.configureDebugVisualizer(pb.COV_ENABLE_Y_AXIS_UP, 1, physicsClientId=cid)
            pb.configureDebugVisualizer(pb.COV_ENABLE_GUI, 0, physicsClientId=cid)
        pb.setGravity(0, GRAVITY, 0, physicsClientId=cid)
        pb.setTimeStep(timestep, physicsClientId=cid)
        # deterministicOverlappingPairs: contact pairs reach the solver sorted, not in the order
        # the broadphase met them, so a step depends only on the state, never on what the world
        # simulated before (without it an episode replayed in a fresh world could diverge within
        # a few steps, and a resumed run was not bit-identical: bench/kill_resume.py)
        pb.setPhysicsEngineParameter(
            numSolverIterations=solver_iterations, numSubSteps=1, deterministicOverlappingPairs=1, physicsClientId=cid
        )
        z_to_y = pb.getQuaternionFromEuler([-math.pi / 2, 0, 0])
        with quiet_stdout():
            self.ground = pb.loadURDF(
                os.path.join(pybullet_data.getDataPath(), "plane_implicit.urdf"),
                [0, 0, 0],
                z_to_y,
                useMaximalCoordinates=True,
                physicsClientId=cid,
            )
        pb.changeDynamics(self.ground, -1, lateralFriction=GROUND_FRICTION, physicsClientId=cid)
        self._step = pb.stepSimulation

    def step(self):
        self._step(physicsClientId=self.client)

    def close(self):
        if self.client is not None and self.client >= 0:
            try:
                pb.disconnect(physicsClientId=self.client)
            except pb.error:
                pass
            self.client = None

    def __del__(self):
        self.close()
