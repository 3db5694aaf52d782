"""Check a motion clip:  python mimic/check_clip.py motions/x.txt --character humanoid|dog

Prints frames, duration and loop mode, the largest hinge-limit violation, the lowest body point
(penetration), foot contact (a footfall timeline and the sliding per stance), the root-height
range, the largest frame-to-frame jump, the loop-wrap jump and the kinematic-playback reward
(mimic.envs.clip_check says how each is measured). Exits 1 for a broken clip (penetration over
2 cm, a hinge past its limit, playback reward under 0.99, a glitch frame), 2 for a clip that
cannot be read. ``--blend_jumps OUT`` also writes a copy of the clip with its pose jumps (seams
where a joint turns far more than in the steps beside it) blended out over 4 frames each side
(mimic.kinematics.pose_jumps).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_parser():
    from mimic.cli import doc_parser

    p = doc_parser("check_clip", __doc__)
    p.add_argument("motion", help="clip name in motions/ or a path to a DeepMimic-format file")
    p.add_argument(
        "--character",
        default=None,
        help="character name in characters/ or its YAML (default: from the clip name, dog3d_* -> dog, else humanoid)",
    )
    p.add_argument("--no_playback", action="store_true", help="skip the kinematic-playback reward (no physics engine)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    p.add_argument(
        "--blend_jumps", metavar="OUT", default=None, help="also write the clip with its pose jumps blended to OUT"
    )
    p.add_argument("--contact_sheet", metavar="PNG", default=None, help="also render 8 frames of the clip into one PNG")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from mimic.envs.clip_check import check_clip
    from mimic.envs.imitation import character_for_motion
    from mimic.kinematics.character import load_character
    from mimic.kinematics.clip import ClipError, load_clip
    from mimic.paths import resolve_motion

    try:
        path = resolve_motion(args.motion)
        character = load_character(args.character or character_for_motion(path))
        clip = load_clip(path, character)
    except (FileNotFoundError, KeyError, ClipError, ValueError) as e:
        print(f"check_clip: {e}", file=sys.stderr)
        return 2
    report = check_clip(clip, playback=not args.no_playback)
    print(report.format())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    if args.blend_jumps:
        from mimic.kinematics.pose_jumps import blend_pose_jumps

        blended, seams = blend_pose_jumps(clip)
        blended.save(args.blend_jumps)
        steps = ", ".join(f"{f}-{(f + 1) % clip.num_frames}" for f in seams) or "none"
        print(f"wrote {args.blend_jumps}: pose jumps blended in {len(seams)} step(s) (frames {steps})")
    if args.contact_sheet:
        from mimic.viewer import contact_sheet

        contact_sheet(path, args.contact_sheet, character=character.name)
        print(f"contact sheet: {args.contact_sheet}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
