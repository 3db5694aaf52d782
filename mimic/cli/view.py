"""Watch a skill:  python mimic/view.py --model output/spinkick/model.pt   (or ``mimic-view``).

    python mimic/view.py --model M.pt                      pybullet window (headless: a video)
    python mimic/view.py --model M.pt --video out.mp4      headless video (TinyRenderer)
    python mimic/view.py --motion humanoid3d_cartwheel     a clip played kinematically
    python mimic/view.py --motion dog_canter --contact_sheet dog_canter.png   8 frames, 1 cycle
    python mimic/view.py --model M.pt --episodes 32 --no_render [--json F]   evaluation

The checkpoint alone rebuilds its environment (env_id / env_kwargs stored by mimic-train);
--motion overrides the clip. The reference motion is drawn as an orange ghost, over the character
or beside it (--ghost). In the window: SPACE pause, N / RIGHT single step, R reset, G ghost
overlay / beside / off, S slow motion, C camera follow, Q / ESC quit.
Without a display (no $DISPLAY) a video is written instead (default output/videos/<name>.mp4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from mimic.cli.eval import add_eval_args, add_source_args
    from mimic.viewer import GHOST_MODES

    p = argparse.ArgumentParser(
        prog="mimic-view",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_args(
        p,
        motion_help="clip name in motions/ or a path; overrides the model's clip, or "
        "without --model plays the clip kinematically (dog3d_* clips: the dog)",
    )
    v = p.add_argument_group("viewing")
    v.add_argument(
        "--video",
        metavar="OUT",
        default=None,
        help="write a headless video (.mp4, .gif, .webm, .mov, .mkv, .avi) and exit",
    )
    v.add_argument(
        "--contact_sheet",
        metavar="PNG",
        default=None,
        help="write a PNG of --frames poses of the --motion clip over one cycle (kinematic playback) and exit",
    )
    v.add_argument("--frames", type=int, default=8, help="contact sheet images (default 8)")
    v.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="video length / GUI run time in simulated seconds (video default 10)",
    )
    v.add_argument(
        "--fps",
        type=float,
        default=None,
        help="video frame rate (default 30 = the control rate; 25 for .gif, whose "
        "frame times are whole 10 ms); frames are resampled by simulated time",
    )
    v.add_argument("--width", type=int, default=640, help="video width (default 640)")
    v.add_argument("--height", type=int, default=480, help="video height (default 480)")
    v.add_argument(
        "--ghost",
        choices=GHOST_MODES,
        default=None,
        help="reference ghost over the character (default with --model), beside it, "
        "or none (default for kinematic playback, where it would coincide)",
    )
    v.add_argument("--start", type=float, default=0.0, metavar="T", help="clip time (s) episodes start at (default 0)")
    v.add_argument("--no_text", action="store_true", help="no time / phase / reward text")
    v.add_argument("--shadows", action="store_true", help="shadows in videos (about 2x slower rendering)")
    v.add_argument("--gui", action="store_true", help="open the pybullet window even if no $DISPLAY is detected")
    v.add_argument(
        "--gui_options", default="", help="pybullet GUI connect options, e.g. --gui_options='--width=1280 --height=720'"
    )
    v.add_argument("--speed", type=float, default=1.0, help="GUI playback speed (1, 0.5, 0.25, 0.125)")
    v.add_argument("--screenshot", metavar="PNG", default=None, help="GUI: save the window image when the session ends")
    v.add_argument("--quiet", action="store_true", help="no progress bar / key help")
    e = p.add_argument_group("evaluation (with --no_render)")
    e.add_argument(
        "--no_render", action="store_true", help="evaluate deterministic test episodes and print the figures"
    )
    add_eval_args(e)
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.model is None and args.motion is None:
        p.error("give --model FILE (a trained policy) and/or --motion CLIP (kinematic playback)")
    from mimic.preflight import check_view, refused

    code = refused("mimic-view", check_view, args)  # every start-up check, before anything is built
    if code:
        return code
    if args.no_render:
        from mimic.cli.eval import run_eval

        return run_eval(args, "mimic-view")

    from mimic.rebuild import RebuildError, load_agent, make_env
    from mimic.viewer import Player, ViewerError, has_display

    env = None
    try:
        if args.width < 8 or args.height < 8:
            raise ViewerError(f"--width/--height too small: {args.width}x{args.height}")
        if args.contact_sheet:
            return _contact_sheet(args)
        agent, info = load_agent(args.model) if args.model else (None, None)
        headless = args.video is not None or (not args.gui and not has_display())
        env = make_env(args.model, info, agent, motion=args.motion)
        player = Player(env, agent, start_time=args.start, seed=args.seed)
        ghost = args.ghost or ("overlay" if agent is not None else "off")
        if headless:
            _video(player, args, ghost)
        else:
            _window(player, args, ghost)
        return 0
    except (ViewerError, RebuildError) as e:
        print(f"mimic-view: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if env is not None:
            env.close()


def _contact_sheet(args) -> int:
    from mimic.viewer import ViewerError, contact_sheet

    if args.motion is None:
        raise ViewerError("--contact_sheet shows a clip: give --motion CLIP")
    res = contact_sheet(args.motion, args.contact_sheet, frames=args.frames, width=args.width, height=args.height)
    print(f"wrote {res['path']}: {res['frames']} frames of one cycle")
    return 0


def _video(player, args, ghost: str) -> None:
    from mimic.viewer import default_video_path, record_video

    path = args.video
    if path is None:
        path = str(default_video_path(args.model, args.motion))
        print(f"mimic-view: no display, writing a video to {path} (--video to choose)", file=sys.stderr)
    fps = args.fps or (25.0 if Path(path).suffix.lower() == ".gif" else 30.0)
    res = record_video(
        player,
        path,
        seconds=args.seconds or 10.0,
        fps=fps,
        width=args.width,
        height=args.height,
        ghost_mode=ghost,
        text=not args.no_text,
        shadows=args.shadows,
        progress=not args.quiet,
    )
    print(
        f"wrote {res['path']}: {res['frames']} frames {res['width']}x{res['height']} "
        f"at {res['fps']:g} fps ({res['seconds']:.2f} s), rendered in "
        f"{res['render_seconds']:.1f} s"
    )


def _window(player, args, ghost: str) -> None:
    from mimic.viewer import run_gui

    res = run_gui(
        player,
        seconds=args.seconds,
        episodes=args.episodes,
        ghost_mode=ghost,
        screenshot=args.screenshot,
        speed=args.speed,
        gui_options=args.gui_options,
        help_stream=None if args.quiet else sys.stderr,
    )
    if res["screenshot"]:
        print(
            f"screenshot saved to {res['screenshot']} (character "
            f"{res['character_pixels']} px, ghost {res['ghost_pixels']} px)"
        )


if __name__ == "__main__":
    sys.exit(main())
