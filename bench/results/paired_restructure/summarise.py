"""Medians over the paired runs in this folder: env_speed_{pre,post}[_b,_c].json and
sampler_scaling_{pre,post}[_b,_c].json (pre = c52de38, before the sampling restructure; post = after).

    python bench/results/paired_restructure/summarise.py > bench/results/paired_restructure/summary.txt
    python bench/results/paired_restructure/summarise.py quiet > bench/results/paired_restructure/quiet/summary.txt

The optional argument is a subfolder holding another set of runs (quiet/: the rerun on a quiet host).
"""

import glob
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if len(sys.argv) > 1:
    HERE = os.path.join(HERE, sys.argv[1])


def runs(prefix, tree):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(HERE, f"{prefix}_{tree}*.json")))]


def main():
    print("env_speed (median over runs of each run's median; 3 rounds x 2000 steps per run)")
    for key in ("ours", "ours_vec"):
        for tree in ("pre", "post"):
            rs = runs("env_speed", tree)
            rate = statistics.median(r["median"][key] for r in rs)
            floor = statistics.median(r["ratios"][key]["over_floor"] for r in rs)
            peer = statistics.median(r["ratios"][key]["over_peer"] for r in rs)
            print(f"  {key:9s} {tree:4s} {len(rs)} runs: {rate:7.0f} steps/s, /floor {floor:.2f}, /peer {peer:.2f}")
            print("      per run:", " ".join(f"{r['median'][key]:.0f}" for r in rs))
    print("sampler_scaling (median over runs; 3 repeats per run)")
    for key in ("2/async/random", "2/det/random", "2/async/awr", "2/det/awr"):
        for tree in ("pre", "post"):
            rs = runs("sampler_scaling", tree)
            rate = statistics.median(r["medians"][key]["rate"] for r in rs)
            eff = statistics.median(r["paired_efficiency"][key] for r in rs)
            floor = statistics.median(r["paired_efficiency"]["floor/2/"] for r in rs)
            print(
                f"  {key:15s} {tree:4s} {len(rs)} runs: {rate:7.0f} samples/s, paired efficiency {eff:.3f}"
                f" (2 raw floors side by side: {floor:.3f})"
            )
            print("      per run:", " ".join(f"{r['medians'][key]['rate']:.0f}" for r in rs))


if __name__ == "__main__":
    main()
