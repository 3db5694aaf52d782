"""Generate a dog gait clip:  python mimic/make_gait.py --gait canter --speed 3.0 --out F.txt

    python mimic/make_gait.py --gait canter --speed 3.0 --out motions/my_canter.txt
    python mimic/make_gait.py --gait trot --speed 2.5 --duty 0.4 --out my_trot.txt
    python mimic/make_gait.py --gait canter --phases 0.3 0.55 0 0.3 --pitch 0.12 --out c.txt

Gaits: canter (three-beat, right lead), trot, pace, walk; every other option overrides one
named parameter of that gait (see mimic/kinematics/gait.py for what each means and its range).
The clip is one looping cycle for mimic/Dog-v0, solved onto the dog with the same IK as the
retargeted captures; the IK's largest paw error is printed. A parameter out of range is refused
before any work, with the parameter named.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from mimic.kinematics.gait import GAITS, RANGES

    p = argparse.ArgumentParser(
        prog="make_gait",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gait", choices=sorted(GAITS), default="canter")
    p.add_argument("--out", required=True, metavar="FILE.txt", help="clip file to write")
    for name, (lo, hi) in RANGES.items():
        p.add_argument(f"--{name}", type=float, default=None, help=f"in [{lo}, {hi}] (default: the gait's own)")
    p.add_argument(
        "--phases",
        type=float,
        nargs=4,
        default=None,
        metavar=("LF", "RF", "LH", "RH"),
        help="stance start phases in [0, 1)",
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from mimic.kinematics.character import load_character
    from mimic.kinematics.clip import pose_frames, write_clip
    from mimic.kinematics.gait import RANGES, GaitError, GaitParams, generate
    from mimic.kinematics.quadruped import solve_dog

    overrides = {k: getattr(args, k) for k in RANGES}
    overrides["phases"] = tuple(args.phases) if args.phases else None
    try:
        params = GaitParams.for_gait(args.gait, **overrides)
    except GaitError as e:
        print(f"make_gait: error: {e}", file=sys.stderr)
        return 2
    ch = load_character("dog")
    try:
        motion = generate(ch, params)
    except GaitError as e:
        print(f"make_gait: error: {e}", file=sys.stderr)
        return 2
    root, rot, res = solve_dog(ch, motion)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_clip(out, pose_frames(ch, motion.dt, root, rot), loop=True)
    print(
        f"wrote {out}: {params.gait} at {params.speed:g} m/s, {len(root)} frames, "
        f"{params.cycle_time:g} s cycle; largest paw IK error "
        f"{1000 * res.point_error.max():.1f} mm"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
