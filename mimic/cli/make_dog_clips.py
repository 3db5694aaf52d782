"""Retarget motion-imitation's dog captures onto mimic's dog:

    pip download --no-deps --no-binary :all: motion-imitation==0.0.6 -d /tmp/mi
    python mimic/make_dog_clips.py --sdist /tmp/mi/motion_imitation-0.0.6.tar.gz --out motions

writes dog_trot, dog_pace and dog_turn (from the capture dog_spin, laid end to end four times so
the loop turns a full circle) into --out; --clips picks some (NAME=CAPTURE[:CYCLES], e.g.
dog_back_trot=dog_backwards_trot). The Laikago's URDF comes from pybullet_data. Each clip goes
through Laikago forward kinematics -> keypoints -> leg-length scaling and foot planting -> the
dog's IK (mimic/kinematics/quadruped.py). The canter is generated: mimic/make_gait.py.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

# shipped clip -> (capture in the sdist, cycles laid end to end; a capture that turns is given
# cycles so the whole clip turns one full circle)
CLIPS = {"dog_trot": ("dog_trot", 1), "dog_pace": ("dog_pace", 1), "dog_turn": ("dog_spin", 4)}


def parse_clips(specs):
    out = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        capture, _, cycles = rest.partition(":")
        if not name or not capture:
            raise ValueError(f"--clips: '{spec}' is not NAME=CAPTURE[:CYCLES]")
        try:
            out[name] = (capture, int(cycles or 1))
        except ValueError:
            raise ValueError(f"--clips: '{spec}': CYCLES must be an integer") from None
    return out


def make_clip(ch, robot, robot_leg, capture, cycles):
    """(root_pos, local_rot, IKResult, dt) of the dog for one capture."""
    import numpy as np

    from mimic.kinematics import rotations as R
    from mimic.kinematics.laikago import laikago_keypoints
    from mimic.kinematics.quadruped import from_keypoints, loop_cycles, solve_dog

    kp = laikago_keypoints(capture, robot)
    turn = 0.0
    if capture.rotation_offset:  # the capture turns: the clip turns a whole circle
        yaw = R.heading_angle(kp.body_rot)
        turn = math.copysign(2 * math.pi / cycles, np.sum(np.angle(np.exp(1j * np.diff(yaw)))))
    motion = from_keypoints(ch, loop_cycles(kp, cycles, turn), robot_leg)
    root, rot, res = solve_dog(ch, motion)
    return root, rot, res, motion.dt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="make_dog_clips",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sdist", required=True, help="motion-imitation 0.0.6 sdist (.tar.gz) or its unpacked folder")
    p.add_argument("--out", default="motions", help="folder for the clips (default motions)")
    p.add_argument("--clips", nargs="+", default=None, metavar="NAME=CAPTURE[:CYCLES]")
    args = p.parse_args(argv)
    from mimic.kinematics.character import load_character
    from mimic.kinematics.clip import pose_frames, write_clip
    from mimic.kinematics.laikago import laikago_urdf, leg_length, read_sdist_clip
    from mimic.kinematics.urdf_fk import UrdfRobot

    try:
        todo = parse_clips(args.clips) if args.clips else CLIPS
        captures = {name: (read_sdist_clip(args.sdist, cap), n) for name, (cap, n) in todo.items()}
    except (ValueError, FileNotFoundError) as e:
        print(f"make_dog_clips: error: {e}", file=sys.stderr)
        return 2
    ch = load_character("dog")
    robot = UrdfRobot(laikago_urdf())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (capture, cycles) in captures.items():
        root, rot, res, dt = make_clip(ch, robot, leg_length(robot), capture, cycles)
        path = out / f"{name}.txt"
        write_clip(path, pose_frames(ch, dt, root, rot), loop=True)
        print(
            f"wrote {path}: {len(root)} frames from {capture.name} x{cycles}; largest paw IK "
            f"error {1000 * res.point_error.max():.1f} mm"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
