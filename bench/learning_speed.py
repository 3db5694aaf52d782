#!/usr/bin/env python3
"""Samples to a skill: training configurations side by side at equal samples, seeds and clip.

Each configuration is DeepMimic's faithful setup (``args/humanoid_spinkick.txt`` with
``args/agents/awr_imitation.yaml``) plus a few env kwargs or agent keys (CONFIGS below). ``run``
trains every (configuration, seed) pair at once, as separate processes of equal priority with
one learner thread each, so they share the machine evenly; each resumes its own output folder
(``--on_existing resume --save_buffer``), so a run stopped by a session's end continues bit for bit
with the same command. ``report`` reads the logs and writes, under --out:

* ``curves.png``: normalised test return (test return / 600: 20 s at 30 Hz, per-step reward <= 1)
  and test episode length in seconds, against samples on a log axis, with MimicKit's published
  AWR spinkick log (test return / 300 for its 10 s test episodes) on the return panel;
* ``table.md`` and ``summary.json``: both figures per run at 0.25M, 0.5M, 1M, 2M and 3M samples
  (the last test at or before each mark, and the mean of the last SMOOTH tests up to it), and the
  ratio of each run's normalised return to the DeepMimic default's at equal seed and samples;
  then the target table: where the mean of SMOOTH tests of test episode length first reaches
  5 s, whether that was before 3M samples with 3x the default's return there, and whether the
  run was still at 5 s at 3M;
* ``<config>_s<seed>_log.csv``: each run's log.

    python bench/learning_speed.py run --configs deepmimic relative --seeds 0 --max_samples 1000000
    python bench/learning_speed.py report [--runs output/learning_speed] [--out bench/results/learning_speed]
    python bench/learning_speed.py fork --source relative_s1 --iteration 230 --config relative_beta0.25
    python bench/learning_speed.py list
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from typing import Optional

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from mimic.cli.plot import read_log  # noqa: E402

ARG_FILE = "args/humanoid_spinkick.txt"
CONTROL_RATE = 30.0
MARKS = (250_000, 500_000, 1_000_000, 2_000_000, 3_000_000)
BASELINE = "deepmimic"
SMOOTH = 5  # tests per mean in the second table and the linear panels (5 tests = 40 episodes)
TARGET_S, TARGET_RATIO, TARGET_BY = 5.0, 3.0, 3_000_000  # the target: 5 s, 3x the default, before 3M
FIRST_KEY = f"first_{TARGET_S:g}s_mean{SMOOTH}_samples"  # summary.json: samples where the target length is first met
# MimicKit's published AWR spinkick log (test return / 300, 10 s test episodes at 30 Hz)
MIMICKIT = {
    13.2e6: 0.03,
    26.3e6: 0.06,
    39.5e6: 0.19,
    52.6e6: 0.58,
    65.7e6: 0.65,
    78.8e6: 0.71,
    92e6: 0.75,
    105e6: 0.78,
    118e6: 0.80,
}

# the env kwargs of relative_exp_map_beta0.25_step0.5M, which the configurations after it vary
STEP_0_5M_ENV = {
    "pd_targets": "relative",
    "action_rotation": "exp_map",
    "anneal_samples": 500_000,
    "anneal_schedule": "step",
}

# name -> (env kwargs, agent or run keys, where the idea comes from)
CONFIGS = {
    "deepmimic": ({}, {}, "DeepMimic / the AWR paper's settings: the baseline"),
    "relative": (
        {"pd_targets": "relative"},
        {},
        "PD targets = reference pose at the next step composed with the action "
        "(residual tracking on the kinematic reference, as in DReCon, Bergamin et al. 2019)",
    ),
    "exp_map": (
        {"action_rotation": "exp_map"},
        {},
        "DeepMimic 2021 / MimicKit's exp-map ball-joint actions (spec 5.2)",
    ),
    "dm2021": (
        {"action_rotation": "exp_map", "obs_rotation": "6d"},
        {},
        "DeepMimic 2021's exp-map actions and 6-D rotations in the observation (spec 4.2)",
    ),
    "no_anneal": (
        {"anneal_samples": 0},
        {},
        "20 s training episodes from the start instead of DeepMimic's 0.5 s -> 20 s "
        "curriculum over 32M samples (MimicKit trains without one)",
    ),
    "relative_no_anneal": ({"pd_targets": "relative", "anneal_samples": 0}, {}, "relative targets + no curriculum"),
    "relative_exp_map": (
        {"pd_targets": "relative", "action_rotation": "exp_map"},
        {},
        "relative targets + exp-map actions",
    ),
    "sync": (
        {},
        {"schedule": "sync", "reuse_values": "false"},
        "the AWR paper's synchronous schedule with one learner thread, as mimic trained before the overlap "
        "schedule (the throughput issue's per-sample check; schedule and reuse_values are run keys)",
    ),
    "relative_lr4": (
        {"pd_targets": "relative"},
        {"actor_lr": 6e-6},
        "relative targets + 4x the actor step (MimicKit's AWR takes SGD steps of 1e-4 on 16k-sample "
        "batches, spec 8.2; ours are 1.5e-6 on 256)",
    ),
    "relative_utd2": (
        {"pd_targets": "relative"},
        {"actor_steps": 400, "critic_steps": 200},
        "relative targets + twice the gradient steps per sample (the update-to-data ratio: "
        "Chen et al. 2021, REDQ; D'Oro et al. 2023, replay-ratio scaling)",
    ),
    "relative_r0.25": (
        {"pd_targets": "relative", "residual_scale": 0.25},
        {},
        "relative targets in a quarter of the range, so exploration noise and the initial output perturb "
        "the clip a quarter as much (small corrections on a reference, as in residual RL: Johannink et "
        "al. 2019; DReCon, Bergamin et al. 2019)",
    ),
    "relative_exp_map_tar": (
        {"pd_targets": "relative", "action_rotation": "exp_map", "target_obs_steps": [1, 2, 3]},
        {},
        "relative targets + exp-map actions + the reference 1, 2 and 3 control steps ahead in the "
        "observation (MimicKit's DeepMimic env, tar_obs_steps [1, 2, 3], spec 4.3)",
    ),
    "relative_exp_map_adaptive": (
        {"pd_targets": "relative", "action_rotation": "exp_map", "start_sampling": "adaptive"},
        {},
        "relative targets + exp-map actions + training starts drawn by recent failure (BeyondMimic's "
        "adaptive sampling, Liao et al. 2025; mimic/envs/starts.py)",
    ),
    "relative_exp_map_g99": (
        {"pd_targets": "relative", "action_rotation": "exp_map"},
        {"discount": 0.99},
        "relative targets + exp-map actions + discount 0.99 (a 3.3 s horizon instead of 0.67 s: "
        "MimicKit's AWR and PPO agents, spec 8.2; the take-off decides the landing half a second on)",
    ),
    "relative_exp_map_std0.1": (
        {"pd_targets": "relative", "action_rotation": "exp_map"},
        {"action_std": 0.1},
        "relative targets + exp-map actions + twice the exploration noise (std_0.1 on top of them)",
    ),
    "relative_exp_map_std0.1_track0.5": (
        {"pd_targets": "relative", "action_rotation": "exp_map", "tracking_termination": 0.5},
        {"action_std": 0.1},
        "relative_exp_map_std0.1 + training episodes end once the root or an end effector is 0.5 m off "
        "the reference (MimicKit's pose termination, 1 m on every body; PHC 0.25 m; mimic/envs/tracking.py)",
    ),
    "relative_assist10": (
        {"pd_targets": "relative", "assist": 10.0, "assist_anneal_samples": 500000},
        {},
        "relative targets + a root spring-damper towards the reference (10/s, critically damped) in "
        "training episodes, annealed to nothing over the first 0.5M samples (the virtual assistant of "
        "Yu, Turk & Liu 2018; mimic/envs/assist.py); tests are never assisted",
    ),
    "relative_beta0.5": (
        {"pd_targets": "relative"},
        {"temperature": 0.5},
        "relative targets + half AWR's temperature on the standardised advantages, exp(A/0.5): "
        "the regression target leans harder on the better actions (Peng et al. 2019, eq. 10; "
        "4x the actor step did not help, so the step is not what limits the update)",
    ),
    "relative_beta0.25": (
        {"pd_targets": "relative"},
        {"temperature": 0.25},
        "relative targets + a quarter of AWR's temperature (the dose after relative_beta0.5; "
        "standardised advantages above 1 are then near the weight clip of 50)",
    ),
    "relative_beta0.1": (
        {"pd_targets": "relative"},
        {"temperature": 0.1},
        "relative targets + a tenth of AWR's temperature (the dose after relative_beta0.25: advantages "
        "above 0.4 standard deviations hit the weight clip, close to filtered behaviour cloning of the "
        "better actions, as in Wang et al. 2020, CRR's binary filter)",
    ),
    "relative_exp_map_beta0.25": (
        {"pd_targets": "relative", "action_rotation": "exp_map"},
        {"temperature": 0.25},
        "relative targets + exp-map actions + a quarter of AWR's temperature (the two best single options)",
    ),
    "relative_exp_map_beta0.25_no_anneal": (
        {"pd_targets": "relative", "action_rotation": "exp_map", "anneal_samples": 0},
        {"temperature": 0.25},
        "relative_exp_map_beta0.25 with 20 s training episodes instead of DeepMimic's curriculum, "
        "(samples / 32M)^4 of the way from 0.5 s to 20 s, which keeps them at 0.5 s for all of the "
        "first 3M samples while test episodes outgrow it by 1M; forked from relative_exp_map_beta0.25 "
        "at 1M (the fork command) so that only the episode length differs from there on",
    ),
    "relative_exp_map_beta0.25_anneal1.5M": (
        {"pd_targets": "relative", "action_rotation": "exp_map", "anneal_samples": 1_500_000},
        {"temperature": 0.25},
        "relative_exp_map_beta0.25 with DeepMimic's curriculum over 1.5M samples instead of 32M: "
        "training episodes 0.74 s at 0.5M, 4.4 s at 1M and 20 s from 1.5M (from 0, the curriculum "
        "the no_anneal fork suggests)",
    ),
    "relative_exp_map_beta0.25_step1M": (
        {
            "pd_targets": "relative",
            "action_rotation": "exp_map",
            "anneal_samples": 1_000_000,
            "anneal_schedule": "step",
        },
        {"temperature": 0.25},
        "relative_exp_map_beta0.25 with 0.5 s training episodes until 1M samples and 20 s from then on: "
        "the no_anneal fork's schedule, run from 0",
    ),
    "relative_exp_map_beta0.25_step0.5M": (
        STEP_0_5M_ENV,
        {"temperature": 0.25},
        "relative_exp_map_beta0.25_step1M with the switch to 20 s episodes at 0.5M: test episodes "
        "grew only from 0.96 s to 1.06 s over 0.5M-1M on 0.5 s training episodes, so that half "
        "million is spent on a plateau",
    ),
    "relative_exp_map_beta0.25_step0.5M_g99": (
        STEP_0_5M_ENV,
        {"temperature": 0.25, "discount": 0.99},
        "relative_exp_map_beta0.25_step0.5M + MimicKit's discount 0.99 (spec 8.2): once training "
        "episodes last 20 s, falls at the landing are what is left to learn, and with 0.95 (a 0.67 s "
        "horizon) the landing's fall reaches the take-off half a second before it at 0.95^30 = 0.2 of its "
        "weight; relative_exp_map_g99 was worse on 0.5 s episodes, where nearly every target bootstraps",
    ),
    "relative_exp_map_beta0.25_step0.5M_std0.025": (
        STEP_0_5M_ENV,
        {"temperature": 0.25, "late_action_std": 0.025, "late_action_std_samples": 500_000},
        "relative_exp_map_beta0.25_step0.5M with half the exploration noise from the switch to 20 s "
        "training episodes on (actor step scaled by 1/4 with it, so the mean's regression keeps its "
        "rate): with std 0.05 training episodes were about 4x shorter than test episodes after the "
        "switch (41 against 150 steps at 2.4M), so the drift of several clip cycles that ends test "
        "episodes was seldom in the data. DeepMimic lowers its noise too, by acting with the mean "
        "on a growing share of steps (P(stochastic) 1 to 0.2 over 64M samples, spec 8.3)",
    ),
    "relative_exp_map_beta0.25_step0.5M_std0.05": (
        STEP_0_5M_ENV,
        {"temperature": 0.25, "late_action_std": 0.05, "late_action_std_samples": 500_000},
        "relative_exp_map_beta0.25_step0.5M under the std0.025 name scheme, the std unchanged at the "
        "switch: the control for forks of a std0.025 run made before the switch",
    ),
    "relative_exp_map_beta0.25_step0.5M_std0.1": (
        STEP_0_5M_ENV,
        {"temperature": 0.25, "late_action_std": 0.1, "late_action_std_samples": 500_000},
        "relative_exp_map_beta0.25_step0.5M with twice the exploration noise from the switch on (actor "
        "step x4 with it): the dose on the other side of std0.025, which learned more slowly",
    ),
    "relative_exp_map_beta0.25_step0.5M_control": (
        STEP_0_5M_ENV,
        {"temperature": 0.25},
        "relative_exp_map_beta0.25_step0.5M under another name: a further draw of it from 0, the control "
        "for forks made late in the run (a change from about 1.8M samples on, when training episodes "
        "fall well short of test episodes)",
    ),
    "relative_exp_map_beta0.25_step0.5M_explore0.5": (
        STEP_0_5M_ENV,
        {
            "temperature": 0.25,
            "explore_prob": 0.5,
            "explore_prob_start_samples": 1_800_000,
            "explore_prob_end_samples": 1_800_000,
        },
        "relative_exp_map_beta0.25_step0.5M with half the collected actions taken at the policy's mean "
        "from 1.8M samples on, left out of the actor's regression: DeepMimic's exploration rate "
        "(P(drawn) 1 to 0.2 over 64M samples, spec 8.3), so that training episodes reach the drift "
        "that ends test episodes (41 against 150 steps at 2.4M) while each drawn action keeps its "
        "full noise, where a lower std (std0.025) shrank the regression's steps; forked from "
        "step0.5M_control at about 1.84M",
    ),
    "relative_exp_map_beta0.25_step0.5M_std0.025_at1.8M": (
        STEP_0_5M_ENV,
        {"temperature": 0.25, "late_action_std": 0.025, "late_action_std_samples": 1_800_000},
        "relative_exp_map_beta0.25_step0.5M_std0.025 with the cut at 1.8M samples instead of 0.5M, "
        "when training episodes fall well short of test episodes (the untested timing of the twentieth "
        "session's results); forked from step0.5M_control at about 1.84M",
    ),
    "relative_beta0.25_step_matched": (
        {"pd_targets": "relative"},
        {"temperature": 0.25, "actor_lr": 2.4e-7},
        "relative_beta0.25 with the actor step divided by 6.2, the ratio of its mean AWR weight to "
        "temperature 1's (Weight_Mean 9.6 against 1.54 over 0.4M-1M in the logs), so that a gradient "
        "step is as large on average as at temperature 1: does 0.25 help by preferring the better "
        "actions, or by a larger step (relative_lr4 suggests not the step)",
    ),
    "relative_beta0.25_utd2": (
        {"pd_targets": "relative"},
        {"temperature": 0.25, "actor_steps": 400, "critic_steps": 200},
        "relative_beta0.25 + twice the gradient steps per sample (relative_utd2, 1.12x at 1M on its "
        "own): the two options on top of relative targets that helped, and the setting "
        "bench/gpu_spinkick.sh trains with",
    ),
    "assist10": (
        {"assist": 10.0, "assist_anneal_samples": 500000},
        {},
        "DeepMimic's absolute targets + the same annealed root assistant",
    ),
    "std_0.1": ({}, {"action_std": 0.1}, "twice the exploration noise"),
    "half_steps": ({}, {"actor_steps": 100, "critic_steps": 50}, "half the update-to-data ratio"),
}


def run_name(config: str, seed: int) -> str:
    return f"{config}_s{seed}"


def train_command(config: str, seed: int, max_samples: int, out_dir: str) -> list:
    env_kwargs, agent, _ = CONFIGS[config]
    kwargs = {"mode": "train", **env_kwargs}
    cmd = [
        sys.executable,
        os.path.join(REPO, "mimic", "train.py"),
        "--arg_file",
        os.path.join(REPO, ARG_FILE),
        "--env_kwargs",
        json.dumps(kwargs),
        "--seed",
        str(seed),
        "--max_samples",
        str(max_samples),
        "--output_dir",
        out_dir,
        "--on_existing",
        "resume",
        "--save_buffer",
        "true",
        "--plot_every",
        "0",
        "--test_every",
        "10",
        "--num_threads",
        "1",
        "--idle_threads",
        "1",
    ]
    for key, value in agent.items():
        cmd += [f"--{key}", str(value)]
    return cmd


def run(args) -> None:
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"learning_speed: error: unknown configuration {unknown[0]!r} (known: {', '.join(CONFIGS)})")
    os.makedirs(args.runs, exist_ok=True)
    procs = []
    for config in args.configs:
        for seed in args.seeds:
            name = run_name(config, seed)
            cmd = train_command(config, seed, args.max_samples, os.path.join(args.runs, name))
            log = open(os.path.join(args.runs, name + ".log"), "a")
            print(f"[learning_speed] {name}: {' '.join(cmd[1:])}", flush=True)
            procs.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO), log))
    failed = []
    for name, proc, log in procs:
        if proc.wait() != 0:
            failed.append(f"{name} (exit {proc.returncode})")
        log.close()
    report(args)
    if failed:
        sys.exit(f"learning_speed: error: runs failed: {', '.join(failed)}; see their .log files")


def fork(args) -> None:
    """Start run ``CONFIG_sSEED`` from iteration ``--iteration`` of run ``--source`` (its periodic
    snapshot ``model_NNNNNN.pt`` and its log up to there), so that ``run`` continues it under
    CONFIG: a controlled branch, the two runs sharing every sample before the fork."""
    if args.config not in CONFIGS:
        sys.exit(f"learning_speed: error: unknown configuration {args.config!r} (known: {', '.join(CONFIGS)})")
    src = os.path.join(args.runs, args.source)
    snapshot = os.path.join(src, f"model_{args.iteration:06d}.pt")
    if not os.path.isfile(snapshot):
        have = sorted(f for f in os.listdir(src) if f.startswith("model_")) if os.path.isdir(src) else []
        sys.exit(f"learning_speed: error: {snapshot}: no such snapshot (there: {', '.join(have) or 'none'})")
    seed = args.source.rsplit("_s", 1)[-1]
    if not seed.isdigit():
        sys.exit(f"learning_speed: error: {args.source!r} is not a run name CONFIG_sSEED")
    dst = os.path.join(args.runs, run_name(args.config, int(seed)))
    if os.path.exists(dst):
        sys.exit(f"learning_speed: error: {dst} exists; a fork starts a new run folder")
    shutil.rmtree(dst + ".tmp", ignore_errors=True)  # left by a fork that was killed while copying
    os.makedirs(dst + ".tmp")
    shutil.copyfile(snapshot, os.path.join(dst + ".tmp", "model.pt"))
    # the logger keeps the rows before the resumed iteration and drops the rest on resume
    shutil.copyfile(os.path.join(src, "log.csv"), os.path.join(dst + ".tmp", "log.csv"))
    os.replace(dst + ".tmp", dst)
    print(f"[learning_speed] {dst}: forked from {snapshot}; continue with: run --configs {args.config} --seeds {seed}")


def _at(log: dict, mark: int, tests: int = 1) -> tuple:
    """(normalised test return, test episode length s) of the last test at or before ``mark``
    samples, or the mean of the last ``tests`` tests up to it (each test is 8 episodes), or None
    when the run did not reach the mark."""
    samples = log["Samples"]
    if len(samples) == 0 or samples[-1] < mark * 0.995:
        return None
    tested = np.isfinite(log["Normalized_Test_Return"]) & (samples <= mark * 1.005)
    if not tested.any():
        return None
    i = np.flatnonzero(tested)[-tests:]
    return float(np.mean(log["Normalized_Test_Return"][i])), float(
        np.mean(log["Test_Episode_Length"][i])
    ) / CONTROL_RATE


def first_passing(log: dict, seconds: float = TARGET_S, tests: int = SMOOTH) -> Optional[int]:
    """Samples at the first test at which the mean of the last ``tests`` tests (a trailing mean,
    fewer at the start) of test episode length reaches ``seconds``; None if it never does."""
    tested = np.isfinite(log["Test_Episode_Length"])
    lengths = _smooth(log["Test_Episode_Length"][tested] / CONTROL_RATE, tests)
    passed = np.flatnonzero(lengths >= seconds)
    return int(log["Samples"][tested][passed[0]]) if len(passed) else None


def read_runs(runs_dir: str) -> dict:
    logs = {}
    for name in sorted(os.listdir(runs_dir)):
        path = os.path.join(runs_dir, name, "log.csv")
        if os.path.isfile(path):
            logs[name] = read_log(path)
    return logs


def summarise(logs: dict) -> dict:
    out = {}
    for name, log in logs.items():
        config, seed = name.rsplit("_s", 1)
        base = logs.get(run_name(BASELINE, int(seed)))
        row = {
            "config": config,
            "seed": int(seed),
            "samples": int(log["Samples"][-1]),
            "wall_s": float(log["Wall_Time"][-1]),
            "marks": {},
            FIRST_KEY: first_passing(log),
        }
        for mark in MARKS:
            figures = {}
            for tests, suffix in ((1, ""), (SMOOTH, f"_mean{SMOOTH}")):
                here = _at(log, mark, tests)
                if here is None:
                    break
                there = _at(base, mark, tests) if base is not None else None
                figures.update(
                    {
                        "normalised_return" + suffix: here[0],
                        "episode_length_s" + suffix: here[1],
                        "ratio_to_baseline" + suffix: here[0] / there[0] if there and there[0] > 0 else None,
                    }
                )
            if figures:
                row["marks"][str(mark)] = figures
        out[name] = row
    return out


def write_table(summary: dict, path: str) -> None:
    """Two tables: each mark's last test (8 episodes), and the mean of the last SMOOTH tests up to it."""
    lines = []
    for suffix, title in (
        ("", "last test at or before each mark"),
        (f"_mean{SMOOTH}", f"mean of the last {SMOOTH} tests"),
    ):
        lines += [
            f"{title} (normalised test return, test episode length s, x the baseline's return):",
            "",
            "| run | samples | " + " | ".join(f"{m / 1e6:g}M" for m in MARKS) + " |",
            "|---|---|" + "---|" * len(MARKS),
        ]
        for name, row in summary.items():
            cells = []
            for mark in MARKS:
                m = row["marks"].get(str(mark))
                if m is None:
                    cells.append("-")
                    continue
                r = m["ratio_to_baseline" + suffix]
                ratio = "" if r is None else f" (x{r:.2f})"
                cells.append(f"{m['normalised_return' + suffix]:.3f}, {m['episode_length_s' + suffix]:.2f}{ratio}")
            lines.append(f"| {name} | {row['samples']:,} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _target_table(summary)
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _target_table(summary: dict) -> list:
    """The issue's target, run by run: where the mean of SMOOTH tests first reaches TARGET_S seconds
    of test episode length, and the return against the default at TARGET_BY samples (SMOOTH-test means)."""
    by = f"{TARGET_BY / 1e6:g}M"
    lines = [
        f"the target ({TARGET_S:g} s test episodes, mean of {SMOOTH} tests, before {by} samples; "
        f"{TARGET_RATIO:g}x the default's normalised return at {by}):",
        "",
        f"| run | samples | first {TARGET_S:g} s (mean of {SMOOTH}) | length at {by} | x the default at {by} | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        first = row[FIRST_KEY]
        at = row["marks"].get(str(TARGET_BY), {})
        length, ratio = at.get(f"episode_length_s_mean{SMOOTH}"), at.get(f"ratio_to_baseline_mean{SMOOTH}")
        passes = first is not None and first <= TARGET_BY
        if length is None:
            met = f"not run to {by}"
        elif ratio is None:
            met = f"{TARGET_S:g} s {'passed' if passes else 'not passed'}; no default at {by} for this seed"
        else:
            held = "held" if length >= TARGET_S else "not held"
            met = f"yes ({held} at {by})" if passes and ratio >= TARGET_RATIO else "no"
        lines.append(
            f"| {name} | {row['samples']:,} | {'-' if first is None else f'{first:,}'} | "
            f"{'-' if length is None else f'{length:.2f}'} | {'-' if ratio is None else f'{ratio:.2f}'} | {met} |"
        )
    return lines + [""]


def _smooth(y: np.ndarray, k: int = SMOOTH) -> np.ndarray:
    """Trailing mean over the last k values (fewer at the start)."""
    c = np.cumsum(np.insert(y, 0, 0.0))
    n = np.minimum(np.arange(1, len(y) + 1), k)
    return (c[1:] - c[np.arange(1, len(y) + 1) - n]) / n


def plot(logs: dict, path: str) -> None:
    """Three panels: normalised test return on a log axis with MimicKit's published log; then, on a
    linear axis over our runs' range, normalised return and test episode length, each a trailing
    mean of SMOOTH tests. Colour = configuration, line style = seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-(len(logs) + 1) // 4)  # legend rows below the panels, 4 columns
    panels_h, legend_h = 4.4, 0.16 * rows + 0.3
    fig, (ax_r, ax_z, ax_l) = plt.subplots(1, 3, figsize=(15, panels_h + legend_h))
    configs = sorted({name.rsplit("_s", 1)[0] for name in logs})
    palette = plt.cm.tab10 if len(configs) <= 10 else plt.cm.tab20  # one colour per configuration
    colours = {c: palette(i % palette.N) for i, c in enumerate(configs)}
    styles = ("-", "--", ":", "-.")
    for name, log in sorted(logs.items()):
        config, seed = name.rsplit("_s", 1)
        style = dict(color=colours[config], ls=styles[int(seed) % len(styles)], lw=1.2)
        ok = np.isfinite(log["Normalized_Test_Return"])
        x = log["Samples"][ok]
        ax_r.plot(x, log["Normalized_Test_Return"][ok], label=name, **style)
        ax_z.plot(x / 1e6, _smooth(log["Normalized_Test_Return"][ok]), label=name, **style)
        ax_l.plot(x / 1e6, _smooth(log["Test_Episode_Length"][ok] / CONTROL_RATE), label=name, **style)
    ax_r.plot(list(MIMICKIT), list(MIMICKIT.values()), "k--o", ms=3, label="MimicKit AWR (published)")
    ax_r.set_xscale("log")
    ax_l.axhline(5.0, color="grey", lw=0.8, ls=":")
    ax_l.text(0.02, 4.85, "target: 5 s before 3M samples", color="grey", fontsize=7, va="top")
    labels = (
        (ax_r, "samples", "normalised test return"),
        (ax_z, "samples (M)", f"normalised test return (mean of {SMOOTH} tests)"),
        (ax_l, "samples (M)", f"test episode length, s (mean of {SMOOTH} tests)"),
    )
    for ax, xlabel, ylabel in labels:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    # below the panels, so that no curve is hidden however many runs there are
    fig.legend(*ax_r.get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle("spinkick: configurations at equal samples")
    fig.tight_layout(rect=(0, legend_h / (panels_h + legend_h), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(args) -> None:
    logs = read_runs(args.runs)
    if not logs:
        sys.exit(f"learning_speed: error: {args.runs}: no run folders with a log.csv")
    os.makedirs(args.out, exist_ok=True)
    summary = summarise(logs)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    write_table(summary, os.path.join(args.out, "table.md"))
    plot(logs, os.path.join(args.out, "curves.png"))
    for name in logs:
        shutil.copyfile(os.path.join(args.runs, name, "log.csv"), os.path.join(args.out, f"{name}_log.csv"))
    with open(os.path.join(args.out, "table.md")) as f:
        print(f.read())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("run", "report", "fork"):
        s = sub.add_parser(name)
        s.add_argument("--runs", default=os.path.join(REPO, "output", "learning_speed"))
        if name != "fork":
            s.add_argument("--out", default=os.path.join(REPO, "bench", "results", "learning_speed"))
        if name == "run":
            s.add_argument("--configs", nargs="+", default=[BASELINE, "relative"])
            s.add_argument("--seeds", nargs="+", type=int, default=[0])
            s.add_argument("--max_samples", type=int, default=1_000_000)
    s.add_argument("--source", required=True, help="run folder name, e.g. relative_exp_map_beta0.25_s1")
    s.add_argument("--iteration", type=int, required=True, help="its snapshot model_NNNNNN.pt to start from")
    s.add_argument("--config", required=True)
    sub.add_parser("list")
    args = p.parse_args()
    if args.cmd == "list":
        for name, (env_kwargs, agent, source) in CONFIGS.items():
            print(f"{name:20s} env {env_kwargs} agent {agent}: {source}")
    elif args.cmd == "run":
        run(args)
    elif args.cmd == "fork":
        fork(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
