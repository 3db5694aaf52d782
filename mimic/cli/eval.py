"""Judge a skill:  python mimic/eval.py --model output/spinkick/model.pt   (or ``mimic-eval``).

    python mimic/eval.py --model output/spinkick/model.pt --episodes 32 [--seed 0] [--json F]
    python mimic/view.py --model output/spinkick/model.pt --episodes 32 --no_render   (the same)

Deterministic test episodes of the policy in the environment the checkpoint was trained on,
episode i reset with seed + i; the figures (return, normalised return, episode length, fall and
sim-unstable rates, pose error) are described in mimic.evaluation. Without --model the clip is
played kinematically.
"""

from __future__ import annotations

import argparse
import sys


def add_source_args(p: argparse.ArgumentParser, motion_help: str):
    """--model and --motion: what to rebuild (mimic.rebuild)."""
    p.add_argument(
        "--model", metavar="FILE.pt", default=None, help="checkpoint written by mimic-train (rebuilds its environment)"
    )
    p.add_argument("--motion", metavar="CLIP", default=None, help=motion_help)


def add_eval_args(p: argparse.ArgumentParser):
    p.add_argument(
        "--episodes", type=int, default=None, help="test episodes to evaluate (default 32); in the window: quit after N"
    )
    p.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")


def run_eval(args, prog: str) -> int:
    from mimic.evaluation import evaluate, format_report, write_json
    from mimic.rebuild import RebuildError

    try:
        res = evaluate(
            args.model, args.motion, args.episodes or 32, args.seed, progress=not getattr(args, "quiet", False)
        )
    except RebuildError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print(format_report(res))
    if args.json:
        write_json(res, args.json)
        print(f"figures written to {args.json}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="mimic-eval", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_source_args(
        p,
        motion_help="clip name in motions/ or path (overrides the checkpoint's clip; "
        "without --model: evaluate kinematic playback of the clip)",
    )
    add_eval_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.model is None and args.motion is None:
        p.error("give --model FILE (and/or --motion CLIP)")
    from mimic.preflight import check_view, refused

    # every start-up check, before anything is built or written
    return refused("mimic-eval", check_view, args) or run_eval(args, "mimic-eval")


if __name__ == "__main__":
    sys.exit(main())
