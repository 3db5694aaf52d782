"""Start-up checks shared by ``mimic-train``, ``mimic-view`` and ``mimic-eval``.

Everything that can be checked before an environment, a sampler worker or a physics world is
built is checked here, first, so that a bad input fails in about a second with one line::

    mimic-train: error: <what>: <why>          (exit code 2; likewise mimic-view, mimic-eval)

and nothing is written: no output folder, no log, no video.  The checks:

* numbers: ``--seed`` in [0, 2**32 - 1]; ``--max_samples`` / ``--max_iters`` / ``--record_samples``
  at least 1; view's ``--seconds`` / ``--fps`` / ``--speed`` positive and finite, ``--episodes``
  at least 1, ``--start`` >= 0, ``--width`` / ``--height`` in [8, 8192];
* files to write: the output folder, ``--record_dataset``, ``--video``, ``--json``,
  ``--screenshot`` must be creatable (no file in the way, a writable folder above, tried with an
  invisible probe file) -- and the output folder must not hold a previous run unless
  ``--resume`` / ``--on_existing`` says what to do with it (mimic.learning.run_folder);
* files to read: the clip (``--motion``, through its character: every validation of
  mimic.kinematics.clip, magnitudes and durations included), ``--dataset`` (every array, shape
  and value, mimic.learning.dataset), ``--model`` / ``--record_policy`` and, with ``--resume``,
  ``<output_dir>/model.pt``: a readable mimic checkpoint of the same environment, motion,
  character and network layout as the command line, the difference named otherwise.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

SEED_MAX = 2**32 - 1  # numpy's seeding range (env resets, action noise)
CHECKPOINT_KEYS = ("config", "actor", "critic", "observation_space", "action_space", "counters")
# agent keys that shape the networks / optimiser state: a resumed run cannot change them
STRUCTURAL_KEYS = ("actor_net_layers", "critic_net_layers", "activation", "optimizer")


class PreflightError(Exception):
    """A bad input found at start-up; the message reads ``<what>: <why>``."""


# ==================================================================================== numbers
def check_seed(seed: Any, what: str = "--seed", episodes: int = 1) -> None:
    if not isinstance(seed, int) or not 0 <= seed <= SEED_MAX - max(0, episodes - 1):
        raise PreflightError(
            f"{what} {seed}: seeds must be integers in [0, {SEED_MAX}]"
            + (" (seed + episodes - 1 included)" if episodes > 1 else "")
        )


def check_number(
    value: Any, what: str, minimum: float, inclusive: bool = True, maximum: Optional[float] = None
) -> None:
    """None passes (the default applies); else finite and >= (or >) minimum, <= maximum."""
    if value is None:
        return
    ok = (
        isinstance(value, (int, float))
        and math.isfinite(value)
        and (value >= minimum if inclusive else value > minimum)
        and (maximum is None or value <= maximum)
    )
    if not ok:
        bound = f"{'at least' if inclusive else 'greater than'} {minimum:g}"
        if maximum is not None:
            bound += f" and at most {maximum:g}"
        raise PreflightError(f"{what} {value}: must be {bound}")


# ==================================================================================== files to write
def _existing_ancestor(path: str) -> str:
    p = os.path.abspath(path)
    while not os.path.lexists(p):
        p = os.path.dirname(p)
    return p


def _probe(folder: str, what: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder):  # unnamed where supported: nothing is left
            pass
    except OSError as e:
        raise PreflightError(f"{what}: cannot write in '{folder}' ({e.strerror or e})") from None


def check_writable_dir(path: str, what: str) -> None:
    """A folder that exists and is writable, or can be created."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise PreflightError(f"{what} '{path}': is a file, not a folder")
    anc = _existing_ancestor(path)
    if not os.path.isdir(anc):
        raise PreflightError(f"{what} '{path}': is under '{anc}', which is a file, not a folder")
    _probe(anc, f"{what} '{path}'")


def check_writable_file(path: str, what: str, suffixes: Optional[tuple] = None) -> None:
    """A file that can be created or replaced (its folder may be created)."""
    if suffixes is not None and Path(path).suffix.lower() not in suffixes:
        raise PreflightError(f"{what} '{path}': unknown type '{Path(path).suffix}' (use one of {', '.join(suffixes)})")
    if os.path.isdir(path):
        raise PreflightError(f"{what} '{path}': is a folder, not a file")
    check_writable_dir(os.path.dirname(os.path.abspath(path)), f"{what} '{path}': folder")


# ==================================================================================== files to read
def check_clip(motion: str, what: str = "--motion", character: Optional[str] = None):
    """Resolve and fully validate a clip for its character; returns the MotionClip."""
    from mimic.envs.imitation import character_for_motion
    from mimic.kinematics.character import load_character
    from mimic.kinematics.clip import ClipError, load_clip
    from mimic.paths import resolve_motion

    try:
        path = resolve_motion(motion)
    except FileNotFoundError as e:
        raise PreflightError(f"{what}: {e}") from None
    name = character or character_for_motion(path)
    try:
        ch = load_character(name)
    except (OSError, ValueError, KeyError) as e:
        raise PreflightError(f"character '{name}': {e}") from None
    try:
        return load_clip(path, ch)
    except ClipError as e:
        raise PreflightError(f"{what}: {e}") from None


def check_dataset(path: str):
    from mimic.learning.dataset import Dataset, DatasetError

    try:
        return Dataset.load(path)
    except DatasetError as e:
        raise PreflightError(f"--dataset: {e}") from None


def check_checkpoint(path: str, what: str) -> dict:
    """A mimic-train checkpoint as a dict, or a PreflightError naming the file and the problem."""
    if not os.path.lexists(path):
        raise PreflightError(f"{what} '{path}': no such file")
    if not os.path.isfile(path):
        raise PreflightError(f"{what} '{path}': not a file")
    from mimic.learning.checkpoint import read_checkpoint

    try:
        s = read_checkpoint(path)
    except Exception as e:  # torch / zip / pickle errors all mean "not a checkpoint"
        first = (str(e).strip().splitlines() or [""])[0][:150]
        raise PreflightError(
            f"{what} '{path}': not a readable mimic checkpoint ({type(e).__name__}{': ' + first if first else ''})"
        ) from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(s, dict) or k not in s]
    if missing:
        raise PreflightError(f"{what} '{path}': not a mimic-train checkpoint (no {', '.join(missing)})")
    return s


# ==================================================================================== mimic-train
def check_train(settings) -> None:
    """Every start-up check of a ``mimic-train`` run (see the module doc)."""
    r = settings.run  # (choices and ranges of single keys: mimic.config's validate)
    check_seed(r.seed)
    for key in ("max_samples", "max_iters"):
        check_number(getattr(r, key), f"--{key}", 1)
    if r.record_dataset:
        check_number(r.record_samples, "--record_samples", 1)
    env_kwargs = settings.env_kwargs
    if settings.env_id and settings.env_id.startswith("mimic/") and env_kwargs.get("motion"):
        check_clip(str(env_kwargs["motion"]), "--motion", env_kwargs.get("character"))
    dataset = check_dataset(r.dataset) if r.dataset else None
    if r.record_dataset:
        if r.record_policy != "random":
            check_checkpoint(r.record_policy, "--record_policy")
        path = r.record_dataset if r.record_dataset.endswith(".npz") else r.record_dataset + ".npz"
        check_writable_file(path, "--record_dataset")
        if os.path.exists(path):
            raise PreflightError(
                f"--record_dataset '{path}': already exists (a dataset is never "
                f"overwritten; remove it or choose another name)"
            )
        return
    check_output_dir(settings)
    if r.resuming:
        latest = os.path.join(r.output_dir, "model.pt")
        if os.path.lexists(latest):
            check_resume(check_checkpoint(latest, "--resume"), settings, latest, dataset)


def check_output_dir(settings) -> None:
    from mimic.learning.run_folder import periodic_checkpoints, run_contents

    r = settings.run
    out = r.output_dir
    check_writable_dir(out, "--output_dir")
    held = run_contents(out)
    resume = r.resuming
    latest = os.path.join(out, "model.pt")
    if resume and os.path.lexists(latest) and not os.path.isfile(latest):
        raise PreflightError(f"--resume: '{latest}' is not a file")
    if not held or (resume and not os.path.lexists(latest) and not periodic_checkpoints(out)):
        return  # (log rows without a checkpoint: killed in iteration 0, nothing to resume)
    if resume and not os.path.lexists(latest):
        raise PreflightError(
            f"--output_dir '{out}': holds {', '.join(held)} but no model.pt to resume "
            f"from (copy a periodic checkpoint to model.pt, or --on_existing move_aside)"
        )
    if not resume and r.on_existing == "refuse":
        raise PreflightError(
            f"--output_dir '{out}': holds a previous run ({', '.join(held)}); continue it "
            f"with --resume, keep it as {os.path.basename(os.path.normpath(out))}.oldN with "
            f"--on_existing move_aside, or choose another --output_dir"
        )


def _motion_name(kwargs: dict) -> Optional[str]:
    m = (kwargs or {}).get("motion")
    return Path(str(m)).stem if m else None


def check_resume(saved: dict, settings, path: str, dataset=None) -> None:
    """A checkpoint a run with ``settings`` can continue; the first difference is named."""
    from mimic.learning.awr import CHECKPOINT_FORMAT

    if saved.get("format") != CHECKPOINT_FORMAT:
        raise PreflightError(f"--resume '{path}': format {saved.get('format')!r}, not {CHECKPOINT_FORMAT!r}")
    env_id = settings.env_id or (dataset.meta.get("env_id") if dataset is not None else None)
    diffs = []
    if env_id and saved.get("env_id") and saved["env_id"] != env_id:
        diffs.append(f"env {saved['env_id']!r} vs {env_id!r}")
    old_kw, new_kw = saved.get("env_kwargs") or {}, settings.env_kwargs or {}
    if settings.env_id and _motion_name(old_kw) != _motion_name(new_kw):
        diffs.append(f"motion {_motion_name(old_kw)!r} vs {_motion_name(new_kw)!r}")
    if settings.env_id and old_kw.get("character") != new_kw.get("character"):
        diffs.append(f"character {old_kw.get('character')!r} vs {new_kw.get('character')!r}")
    old_cfg, new_cfg = saved["config"], settings.agent.to_dict()
    for key in STRUCTURAL_KEYS:
        if key in old_cfg and old_cfg[key] != new_cfg[key]:
            diffs.append(f"{key} {old_cfg[key]!r} vs {new_cfg[key]!r}")
    if dataset is not None:
        for name in ("observation_space", "action_space"):
            if saved[name] != getattr(dataset, name):
                diffs.append(f"{name} {saved[name]} vs the dataset's {getattr(dataset, name)}")
    if diffs:
        raise PreflightError(
            f"--resume '{path}': the checkpoint was trained with another setup "
            f"(checkpoint vs now: {'; '.join(diffs)}); use another --output_dir"
        )


# ==================================================================================== mimic-view / eval
def refused(prog: str, check, *args) -> Optional[int]:
    """``check(*args)``; on a PreflightError print ``<prog>: error: ...`` and return 2, else None."""
    try:
        check(*args)
    except PreflightError as e:
        import sys

        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return None


def check_view(args) -> None:
    """Start-up checks of ``mimic-view`` and ``mimic-eval`` (options absent from one are skipped)."""
    from mimic.viewer import VIDEO_EXTS, default_video_path, has_display

    g = lambda name: getattr(args, name, None)  # noqa: E731
    episodes = g("episodes")
    check_number(episodes, "--episodes", 1)
    check_seed(g("seed") if g("seed") is not None else 0, "--seed", episodes or 1)
    check_number(g("seconds"), "--seconds", 0, inclusive=False)
    check_number(g("fps"), "--fps", 0, inclusive=False, maximum=1000)
    check_number(g("speed"), "--speed", 0, inclusive=False)
    check_number(g("start"), "--start", 0)
    for key in ("width", "height"):
        check_number(g(key), f"--{key}", 8, maximum=8192)
    if g("video"):
        check_writable_file(g("video"), "--video", VIDEO_EXTS)

    if g("json"):
        check_writable_file(g("json"), "--json")
    if g("screenshot"):
        check_writable_file(g("screenshot"), "--screenshot", (".png",))
    if g("model") is not None:
        if not os.path.isfile(g("model")):
            raise PreflightError(
                f"--model '{g('model')}': {'not a file' if os.path.lexists(g('model')) else 'no such file'}"
            )
    if g("motion") is not None:
        check_clip(g("motion"), "--motion")
    if not g("video") and hasattr(args, "gui") and not (args.no_render or args.gui or has_display()):
        check_writable_file(str(default_video_path(args.model, args.motion)), "video (no display)")


def prepare_train(settings) -> list[str]:
    """:func:`check_train`, then -- only once every check passed -- the output-folder policy
    (``--on_existing resume`` sets ``--resume``; ``move_aside`` renames the old run; stale tmp
    files go).  Returns what was done, one line each."""
    from mimic.learning.run_folder import prepare

    check_train(settings)
    r = settings.run
    if r.record_dataset:
        return []
    r.resume = r.resuming
    return prepare(r.output_dir, r.on_existing)
