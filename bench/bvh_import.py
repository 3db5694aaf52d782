#!/usr/bin/env python3
"""BVH import speed on a long synthetic capture: frames per second of the reader and of the
retargeter, against the C number parser alone (the floor) and an independent pure-Python parser.

Two 10-minute 120 Hz captures (72,000 frames each) are written to a temporary folder:

* ``cmu``: bench/synthetic_bvh.py's CMU-style T-pose skeleton (21 joints, 66 channels) playing
  the humanoid walk over and over;
* ``mixamo``: tests/data/test_freebvh.bvh (Mixamo, 55 joints, 168 channels) with its 69 frames
  repeated (the seams jump; that costs nothing here).

Per capture and repeat (medians over --repeats) it times:

* reader: ``mimic.kinematics.bvh.read_bvh`` (hierarchy + all motion values);
* floor: ``np.fromstring`` over the motion text alone, the C parser that the reader uses (the
  reader / floor ratio is the cost of everything else: chunking, checks);
* peer: the PyPI ``bvh`` package (``Bvh(text)`` then every frame's values as floats) on the
  first --peer_frames frames, as frames/s;
* retarget: ``retarget_bvh`` (source forward kinematics, rest alignment, rotation transfer, root
  path, grounding) on all frames at 120 Hz;
* plant: ``retarget.plant_feet`` (stance detection, planting, leg IK) on the retargeted
  capture resampled to 30 Hz (18,001 frames for 10 minutes), as frames/s of that clip;
* import: the whole ``import_bvh`` (read + retarget + resample to 30 Hz + loop closing + foot
  planting, the default), the seconds a user waits; and ``import_no_plant`` the same with
  ``plant=None`` (``--no_plant``).

Reader, retarget, plant and import are also timed in CPU seconds of this process, which a loaded
machine inflates less than wall time.

    python bench/bvh_import.py [--minutes 10] [--rate 120] [--repeats 3]

Writes bench/results/bvh_import_2core.json and .txt.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from synthetic_bvh import synthetic_capture  # noqa: E402

from mimic.kinematics.bvh import read_bvh, write_bvh  # noqa: E402
from mimic.kinematics.bvh_import import import_bvh, resample, retarget_bvh, select_frames  # noqa: E402
from mimic.kinematics.character import load_character  # noqa: E402
from mimic.kinematics.joint_map import choose_joint_map  # noqa: E402
from mimic.kinematics.retarget import plant_feet  # noqa: E402


def make_captures(folder: Path, minutes: float, rate: float) -> dict:
    ch = load_character("humanoid")
    from mimic.kinematics.clip import load_clip
    from mimic.paths import resolve_motion

    walk = load_clip(resolve_motion("humanoid3d_walk"), ch).duration
    cmu = synthetic_capture("humanoid3d_walk", repeats=minutes * 60 / walk, rate=rate)
    mix = read_bvh(HERE.parent / "tests" / "data" / "test_freebvh.bvh")
    n = int(round(minutes * 60 * rate)) + 1
    mix.motion = np.tile(mix.motion, (n // mix.num_frames + 1, 1))[:n]
    mix.frame_time = 1.0 / rate
    paths = {}
    for name, b in (("cmu", cmu), ("mixamo", mix)):
        paths[name] = folder / f"{name}.bvh"
        write_bvh(paths[name], b)
    return paths


def floor_parse(path: Path) -> float:
    text = path.read_text()
    k = text.index("Frame Time")
    body = text[text.index("\n", k) + 1 :]
    t0 = time.perf_counter()
    np.fromstring(body, sep=" ")
    return time.perf_counter() - t0


def peer_parse(path: Path, frames: int) -> float:
    import bvh as bvh_pkg

    lines = path.read_text().splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if line.startswith("Frame Time"))
    text = "".join(lines[: k + 1 + frames]).replace(f"Frames: {len(lines) - k - 1}", f"Frames: {frames}")
    t0 = time.perf_counter()
    m = bvh_pkg.Bvh(text)
    [[float(v) for v in fr] for fr in m.frames]
    return time.perf_counter() - t0


def timed(fn):
    """(wall seconds, CPU seconds of this process, fn's result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def measure(path: Path, repeats: int, peer_frames: int) -> dict:
    ch = load_character("humanoid")
    rows = {k: [] for k in ("reader", "floor", "peer", "retarget", "plant", "import", "import_no_plant")}
    cpu = {k: [] for k in ("reader", "retarget", "plant", "import", "import_no_plant")}
    frames = clip_frames = None
    for _ in range(repeats):
        t, c, b = timed(lambda: read_bvh(path))
        frames = b.num_frames
        rows["reader"].append(t)
        cpu["reader"].append(c)
        rows["floor"].append(floor_parse(path))
        rows["peer"].append(peer_parse(path, peer_frames))
        m = choose_joint_map(b, ch)
        sl = select_frames(b)
        t, c, (root, local, _) = timed(lambda b=b, m=m, sl=sl: retarget_bvh(b, ch, m, sl))
        rows["retarget"].append(t)
        cpu["retarget"].append(c)
        root, local, dt = resample(root, local, b.frame_time, 30.0)
        clip_frames = len(root)
        for key, fn in (
            ("plant", lambda root=root, local=local, dt=dt: plant_feet(ch, root, local, dt)),
            ("import", lambda path=path: import_bvh(path, ch, fps=30.0)),
            ("import_no_plant", lambda path=path: import_bvh(path, ch, fps=30.0, plant=None)),
        ):
            t, c, _ = timed(fn)
            rows[key].append(t)
            cpu[key].append(c)
    med = {k: statistics.median(v) for k, v in rows.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    return dict(
        frames=frames,
        joints=b.num_joints,
        channels=int(b.motion.shape[1]),
        megabytes=path.stat().st_size / 1e6,
        seconds=med,
        runs=rows,
        cpu_seconds=med_cpu,
        reader_fps_cpu=frames / med_cpu["reader"],
        retarget_fps_cpu=frames / med_cpu["retarget"],
        clip_frames=clip_frames,
        plant_fps=clip_frames / med["plant"],
        plant_fps_cpu=clip_frames / med_cpu["plant"],
        import_no_plant_seconds=med["import_no_plant"],
        reader_fps=frames / med["reader"],
        floor_fps=frames / med["floor"],
        peer_fps=peer_frames / med["peer"],
        retarget_fps=frames / med["retarget"],
        import_seconds=med["import"],
        reader_vs_floor=med["floor"] / med["reader"],
        reader_vs_peer=(frames / med["reader"]) / (peer_frames / med["peer"]),
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=120.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peer_frames", type=int, default=3000)
    p.add_argument("--out", default=str(HERE / "results" / "bvh_import_2core"))
    a = p.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as d:
        paths = make_captures(Path(d), a.minutes, a.rate)
        for name, path in paths.items():
            results[name] = measure(path, a.repeats, a.peer_frames)
    meta = dict(
        minutes=a.minutes,
        rate=a.rate,
        repeats=a.repeats,
        peer_frames=a.peer_frames,
        python=platform.python_version(),
        numpy=np.__version__,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    Path(a.out + ".json").write_text(json.dumps(dict(meta=meta, results=results), indent=1))
    lines = [f"BVH import speed, {a.minutes:g}-minute {a.rate:g} Hz captures, medians of {a.repeats} ({meta['date']})"]
    for name, r in results.items():
        lines += [
            f"{name}: {r['frames']} frames, {r['joints']} joints, {r['channels']} channels, {r['megabytes']:.0f} MB",
            f"  reader    {r['reader_fps']:>10,.0f} frames/s  ({r['seconds']['reader']:.2f} s)"
            f"  = {r['reader_vs_floor']:.2f} of the C-parser floor "
            f"({r['floor_fps']:,.0f} frames/s), {r['reader_vs_peer']:.0f}x the bvh package "
            f"({r['peer_fps']:,.0f} frames/s)",
            f"  retarget  {r['retarget_fps']:>10,.0f} frames/s  ({r['seconds']['retarget']:.2f} s)",
            f"  plant     {r['plant_fps']:>10,.0f} frames/s of the 30 Hz clip "
            f"({r['clip_frames']} frames, {r['seconds']['plant']:.2f} s)",
            f"  whole import to a 30 Hz clip: {r['import_seconds']:.2f} s with foot "
            f"planting, {r['import_no_plant_seconds']:.2f} s without (--no_plant)",
            f"  per CPU second of this process: reader {r['reader_fps_cpu']:,.0f} frames/s, "
            f"retarget {r['retarget_fps_cpu']:,.0f} frames/s, plant "
            f"{r['plant_fps_cpu']:,.0f} frames/s; whole import "
            f"{r['cpu_seconds']['import']:.2f} CPU s with planting, "
            f"{r['cpu_seconds']['import_no_plant']:.2f} without",
        ]
    Path(a.out + ".txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
