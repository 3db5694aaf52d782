"""Export motion as BVH (Blender, MotionBuilder, other DCC tools):

    python mimic/export_bvh.py --motion humanoid3d_walk --out walk.bvh           a clip
    python mimic/export_bvh.py --model output/x/model.pt --seconds 10 --out x.bvh a policy

With --model, the checkpoint's environment is rebuilt (test mode, the clip from --start) and
the policy mean drives the simulated character for --seconds; the BVH records the simulated
character, not the reference, one frame per control step (30 Hz); an episode that ends early
(a fall) ends the file there. With --motion, the clip is sampled at --fps (default: its own rate).
The skeleton comes from the character (metres, y-up, facing +x): one joint per ball or hinge
joint with Zrotation Xrotation Yrotation channels, the root with positions too
(mimic.kinematics.bvh_export). import_clip.py reads the file back onto the character.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_parser():
    from mimic.cli import doc_parser

    p = doc_parser("export_bvh", __doc__)
    p.add_argument("--out", required=True, help="BVH file to write")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--motion", help="clip name in motions/ or a path")
    src.add_argument("--model", metavar="FILE.pt", help="checkpoint written by mimic-train")
    p.add_argument("--character", default=None, help="character of --motion (default: from the clip name)")
    p.add_argument("--fps", type=float, default=None, help="--motion: frame rate")
    p.add_argument("--seconds", type=float, default=10.0, help="--model: length (default 10)")
    p.add_argument("--start", type=float, default=0.0, help="--model: clip time to start at")
    p.add_argument("--seed", type=int, default=0, help="--model: episode seed")
    return p


def clip_motion(motion, character=None, fps=None):
    """(character, root_pos [F, 3], local_rot [F, J, 4], frame time) sampled from a clip."""
    from mimic.envs.imitation import character_for_motion
    from mimic.kinematics.character import load_character
    from mimic.kinematics.clip import load_clip
    from mimic.paths import resolve_motion

    path = resolve_motion(motion)
    ch = load_character(character or character_for_motion(path))
    clip = load_clip(path, ch)
    dt = 1.0 / fps if fps else float(np.mean(clip.dts[:-1]))
    n = int(round(clip.duration / dt))
    if abs(n * dt - clip.duration) < 1e-6 and np.allclose(clip.dts[:-1], dt):
        return ch, clip.root_pos, clip.local_rot, dt  # the clip's own frames, exactly
    root, rot = clip.pose_at(np.arange(n + 1) * dt)
    return ch, root, rot, dt


def rollout_motion(model, seconds, start=0.0, seed=0):
    """(character, root_pos, local_rot, frame time, note) of the simulated character driven by
    the policy mean from clip time ``start``."""
    from mimic.evaluation import PoseError
    from mimic.rebuild import load_agent, make_env
    from mimic.sim.link_state import JOINT_POS

    agent, info = load_agent(model)
    env = make_env(model_path=model, info=info, agent=agent)
    try:
        u = env.unwrapped
        local = PoseError(u.character).local_rotations
        obs, _ = env.reset(seed=seed, options={"time": float(start)})
        roots, rots, note = [], [], ""
        steps = int(round(seconds / u.control_dt))
        for k in range(steps + 1):
            S = u.sim.query()
            roots.append(S[0, JOINT_POS].copy())
            rots.append(local(S))
            if k == steps:
                break
            obs, _, terminated, truncated, step_info = env.step(agent.predict(obs)[0])
            if terminated or truncated:
                why = "fell" if step_info.get("fallen") else "episode ended"
                note = f"{why} after {(k + 1) * u.control_dt:.2f} s; the file ends there"
                S = u.sim.query()
                roots.append(S[0, JOINT_POS].copy())
                rots.append(local(S))
                break
        return u.character, np.array(roots), np.array(rots), u.control_dt, note
    finally:
        env.close()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from mimic.kinematics.bvh import write_bvh
    from mimic.kinematics.bvh_export import motion_to_bvh
    from mimic.kinematics.clip import ClipError
    from mimic.rebuild import RebuildError

    note = ""
    try:
        if args.motion:
            ch, root, rot, dt = clip_motion(args.motion, args.character, args.fps)
        else:
            ch, root, rot, dt, note = rollout_motion(args.model, args.seconds, args.start, args.seed)
    except (FileNotFoundError, KeyError, ClipError, RebuildError, ValueError) as e:
        print(f"export_bvh: {e}", file=sys.stderr)
        return 2
    bvh = motion_to_bvh(ch, root, rot, dt)
    write_bvh(args.out, bvh)
    print(
        f"{args.out}: {bvh.num_joints} joints, {bvh.num_frames} frames at "
        f"{1 / dt:.1f} Hz ({ch.name}){'; ' + note if note else ''}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
