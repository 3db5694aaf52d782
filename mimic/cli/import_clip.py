"""Import a BVH capture as a clip:  python mimic/import_clip.py input.bvh --character humanoid
--out motions/my_clip.txt

Reads the BVH (any channel order, end sites; unit detected from the skeleton's height unless
--scale is given), maps its joints onto the character with a YAML joint map (detected among
characters/joint_maps/ or --joint_map FILE), transfers the rotations across rest-pose and
proportion differences, scales the root path by the leg-length ratio, puts the feet on the
ground, resamples to --fps and closes the loop (--loop wrap). It then plants the feet: in each
stance (a foot low and slow, --stance_* thresholds) the foot is held still and the
legs are re-solved by IK (--no_plant: off). Then it checks the clip (mimic/check_clip.py) and
prints the report. Nothing is written when the input cannot be read.
Exit status: 0 written and passing, 1 written but the check found the clip broken, 2 not written.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_parser():
    from mimic.cli import doc_parser

    p = doc_parser("import_clip", __doc__)
    p.add_argument("bvh", help="the BVH file")
    p.add_argument("--character", default="humanoid", help="character (default humanoid)")
    p.add_argument("--out", required=True, help="clip file to write (DeepMimic format)")
    p.add_argument("--start", type=float, default=None, help="first second to import")
    p.add_argument("--end", type=float, default=None, help="last second to import")
    p.add_argument("--fps", type=float, default=30.0, help="clip frame rate (default 30)")
    p.add_argument(
        "--loop",
        choices=("wrap", "none"),
        default="wrap",
        help="wrap: close the loop (cyclic motions); none: play once",
    )
    p.add_argument(
        "--scale", type=float, default=None, help="metres per BVH unit (default: detected, m / cm / inch / mm)"
    )
    p.add_argument("--up", choices=("y", "z"), default="y", help="the file's up axis")
    p.add_argument(
        "--joint_map",
        default=None,
        metavar="FILE",
        help="YAML joint map (default: detected among characters/joint_maps/)",
    )
    add_plant_arguments(p)
    p.add_argument("--no_check", action="store_true", help="skip the clip check")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def add_plant_arguments(p):
    from mimic.kinematics.retarget import StanceParams

    d = StanceParams()
    g = p.add_argument_group("foot planting")
    g.add_argument(
        "--no_plant", action="store_true", help="keep the feet as retargeted (no stance detection, no planting)"
    )
    for flag, field, unit, text in (
        ("--stance_height", "height", "m", "a stance starts where the foot's lowest point is at most this high"),
        ("--stance_speed", "speed", "m/s", "... and its centre moves slower than this"),
        ("--release_height", "release_height", "m", "the stance lasts while the foot stays this low"),
        ("--release_speed", "release_speed", "m/s", "... and this slow"),
        ("--min_stance", "min_stance", "s", "shorter stances are not planted"),
        ("--plant_blend", "blend", "s", "swing time over which a foot eases off / onto its plant"),
        ("--catch_up_speed", "catch_up_speed", "m/s", "longer where the plant is far from the capture"),
    ):
        g.add_argument(
            flag,
            type=float,
            default=getattr(d, field),
            dest=f"plant_{field}",
            metavar=unit.upper().replace("/", "_"),
            help=f"{text} ({unit}, default {getattr(d, field):g})",
        )


def plant_params(args):
    """StanceParams from the parsed options (None with --no_plant); ValueError if invalid."""
    from mimic.kinematics.retarget import StanceParams

    if args.no_plant:
        return None
    fields = ("height", "speed", "release_height", "release_speed", "min_stance", "blend", "catch_up_speed")
    return StanceParams(**{f: getattr(args, f"plant_{f}") for f in fields})


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    from mimic.kinematics.bvh_import import import_bvh
    from mimic.kinematics.character import load_character
    from mimic.kinematics.clip import write_clip

    out = Path(args.out)
    bar = tqdm(desc=f"reading {Path(args.bvh).name}", unit=" frames", disable=args.quiet, leave=False)
    try:
        plant = plant_params(args)
        character = load_character(args.character)
        result = import_bvh(
            args.bvh,
            character,
            start=args.start,
            end=args.end,
            fps=args.fps,
            loop=args.loop,
            scale=args.scale,
            up=args.up,
            joint_map=args.joint_map,
            progress=bar.update,
            plant=plant,
        )
    except (ValueError, FileNotFoundError, KeyError) as e:  # BVHError, JointMapError too
        bar.close()
        print(f"import_clip: {e}", file=sys.stderr)
        return 2
    bar.close()
    if not out.parent.is_dir():
        print(f"import_clip: {out.parent}: no such folder", file=sys.stderr)
        return 2
    write_clip(out, result.frames, result.loop)
    i = result.info
    print(
        f"{out}: {i['frames']} frames at {i['fps']:.1f} Hz from {i['source_frames']} source "
        f"frames at {i['source_fps']:.1f} Hz; joint map {i['joint_map']}, unit {i['unit']} "
        f"({i['metres_per_unit']:g} m), source height {i['source_height_m']:.2f} m, "
        f"leg-length ratio {i['leg_ratio']:.3f}, hinges clamped by up to "
        f"{i['hinge_clamped_rad']:.3f} rad"
    )
    if plant is not None:
        print(
            f"  planted {i['planted_stances']} stance(s); held sole corners within "
            f"{100 * i['plant_error']:.1f} cm of their plant (IK)"
        )
    if args.no_check:
        return 0
    from mimic.envs.clip_check import check_clip
    from mimic.kinematics.clip import load_clip

    report = check_clip(load_clip(out, character))
    print(report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
