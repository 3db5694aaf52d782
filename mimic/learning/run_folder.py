"""The output folder of a training run, and the rule that a new run never destroys an old one.

A folder *holds a run* when it has ``model.pt``, a periodic ``model_XXXXXX.pt`` or a ``log.csv``
with at least one iteration row (settings.yaml and an empty log alone are what a run killed
before its first iteration leaves: nothing to lose).  Starting ``mimic-train`` on such a folder
does what ``--on_existing`` says:

* ``refuse`` (the default): stop at start-up, naming the folder and what it holds;
* ``resume`` (what ``--resume`` selects): continue the run from its ``model.pt``;
* ``move_aside``: rename the folder to ``<folder>.old<N>`` (the first free N) and start afresh.

Before a run starts, tmp files left by killed writers (``.model.pt.tmp<pid>``, ``log.csv.tmp``)
are deleted.
"""

from __future__ import annotations

import csv
import glob
import os

from mimic.learning.checkpoint import LATEST, remove_stale_tmp

POLICIES = ("refuse", "resume", "move_aside")
LOG = "log.csv"


def log_rows(folder: str) -> int:
    """Iteration rows in ``<folder>/log.csv`` (0 if absent or unreadable)."""
    try:
        with open(os.path.join(folder, LOG), newline="") as f:
            return max(0, sum(1 for row in csv.reader(f) if row) - 1)
    except (OSError, UnicodeDecodeError, csv.Error):
        return 0


def periodic_checkpoints(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(glob.escape(folder), "model_[0-9]*.pt")))


def run_contents(folder: str) -> list[str]:
    """What makes ``folder`` a run worth keeping, in words (empty: nothing to lose)."""
    if not os.path.isdir(folder):
        return []
    out = []
    if os.path.lexists(os.path.join(folder, LATEST)):
        out.append(LATEST)
    n = len(periodic_checkpoints(folder))
    if n:
        out.append(f"{n} periodic checkpoint{'s' if n > 1 else ''}")
    rows = log_rows(folder)
    if rows:
        out.append(f"{LOG} with {rows} iteration row{'s' if rows > 1 else ''}")
    return out


def aside_name(folder: str) -> str:
    base = os.path.normpath(folder)
    n = 1
    while os.path.lexists(f"{base}.old{n}"):
        n += 1
    return f"{base}.old{n}"


def prepare(folder: str, policy: str) -> list[str]:
    """Apply ``policy`` to a folder already checked by mimic.preflight; returns what was done."""
    done = []
    if policy == "move_aside" and run_contents(folder):
        dst = aside_name(folder)
        os.rename(folder, dst)
        done.append(f"moved the previous run aside: {folder} -> {dst}")
    removed = remove_stale_tmp(folder)
    stale_log = os.path.join(folder, LOG + ".tmp")
    if os.path.isfile(stale_log):
        os.remove(stale_log)
        removed.append(LOG + ".tmp")
    if removed:
        done.append(
            f"removed {len(removed)} stale tmp file{'s' if len(removed) > 1 else ''} "
            f"in {folder}: {', '.join(sorted(removed))}"
        )
    return done
