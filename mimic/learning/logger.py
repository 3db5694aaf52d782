"""Per-iteration log: ``log.csv`` (fixed columns), one console line, optional TensorBoard."""

from __future__ import annotations

import csv
import math
import os
import sys
from typing import Any, Optional

COLUMNS = [
    "Iteration",
    "Wall_Time",
    "Samples",
    "Train_Return",
    "Test_Return",
    "Train_Episode_Length",
    "Test_Episode_Length",
    "Normalized_Test_Return",
    "Value_Loss",
    "Policy_Loss",
    "Adv_Mean",
    "Adv_Std",
    "Weight_Mean",
    "Weight_Max",
    "Clip_Frac",
    "Sample_Time",
    "Update_Time",
    # extra columns (after the contract ones)
    "Test_Time",
    "Episodes",
    "Buffer_Samples",
    "Collect_Time",
    "Samples_Per_Second",
    "Worker_Restarts",
    "Dropped_Episodes",
]  # sampler faults of the iteration (blank in-process)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v)  # full precision (resume test compares rows)
    return str(v)


class Logger:
    """Appends rows to ``<output_dir>/log.csv``.  On resume, rows of iterations >= the
    resumed iteration (written after the last checkpoint) are dropped first."""

    def __init__(
        self,
        output_dir: Optional[str],
        resume_iteration: Optional[int] = None,
        tensorboard: bool = False,
        stream=sys.stdout,
        verbose: int = 1,
        target_samples: Optional[int] = None,
    ):
        self.path = os.path.join(output_dir, "log.csv") if output_dir else None
        self.rate = SampleRate(target_samples)
        self.stream, self.verbose = stream, verbose
        self.tb = None
        if self.path:
            os.makedirs(output_dir, exist_ok=True)
            if resume_iteration is not None and os.path.isfile(self.path):
                self._truncate(resume_iteration)
            else:
                with open(self.path, "w", newline="") as f:
                    csv.writer(f).writerow(COLUMNS)
        if tensorboard and output_dir:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(os.path.join(output_dir, "tb"))
            except Exception as e:  # tensorboard not installed
                print(f"[mimic] TensorBoard disabled ({e.__class__.__name__}: {e})", file=sys.stderr)

    def _truncate(self, resume_iteration: int) -> None:
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        keep = [COLUMNS] + [r for r in rows[1:] if r and int(r[0]) < resume_iteration]
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(keep)
        os.replace(tmp, self.path)

    def log(self, row: dict[str, Any]) -> None:
        self.rate.add(row)
        if self.path:
            with open(self.path, "a", newline="") as f:
                csv.writer(f).writerow([_fmt(row.get(c)) for c in COLUMNS])
        if self.tb is not None:
            step = int(row["Samples"])
            for k, v in row.items():
                if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)) and k != "Samples":
                    self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.verbose:
            print(console_line(row) + fault_note(row), file=self.stream, flush=True)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class SampleRate:
    """Samples per second of wall time over the last few iterations, and the time left to
    ``target`` samples at that rate (``row["Samples_Per_Second"]``, ``row["Time_Left"]``)."""

    def __init__(self, target: Optional[int] = None, window: int = 5):
        self.target, self.window = target, window
        self.history: list[tuple[float, int]] = []

    def add(self, row: dict[str, Any]) -> None:
        wall, samples = row.get("Wall_Time"), row.get("Samples")
        if wall is None or samples is None:
            return
        self.history = (self.history + [(float(wall), int(samples))])[-(self.window + 1) :]
        (w0, s0), (w1, s1) = self.history[0], self.history[-1]
        if len(self.history) < 2 or w1 <= w0:
            return
        rate = (s1 - s0) / (w1 - w0)
        row["Samples_Per_Second"] = rate
        if self.target is not None and rate > 0:
            row["Time_Left"] = max(0.0, (self.target - s1) / rate)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    m = int(round(seconds / 60))
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m"


def console_line(row: dict[str, Any]) -> str:
    def g(k, fmt):
        v = row.get(k)
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    return (
        f"it {row['Iteration']:5d} | samples {row['Samples']:>10,d} | train {g('Train_Return', '9.2f')}"
        f" ({g('Train_Episode_Length', '.0f')} st) | test {g('Test_Return', '9.2f')}"
        f" ({g('Test_Episode_Length', '.0f')} st) | vloss {g('Value_Loss', '.3g')} ploss {g('Policy_Loss', '.3g')}"
        f" | adv {g('Adv_Mean', '.3g')}±{g('Adv_Std', '.3g')} w {g('Weight_Mean', '.2f')}/{g('Weight_Max', '.1f')}"
        f" clip {g('Clip_Frac', '.3f')} | t_samp {g('Sample_Time', '.2f')}s t_upd {g('Update_Time', '.2f')}s"
        f" t_test {g('Test_Time', '.2f')}s | wall {g('Wall_Time', '.0f')}s | {g('Samples_Per_Second', '.0f')}"
        f" samples/s, left {_duration(row.get('Time_Left'))}"
    )


def fault_note(row: dict[str, Any]) -> str:
    """`` | restarts R dropped D`` for rows of a parallel sampler (Worker_Restarts present)."""
    if row.get("Worker_Restarts") is None:
        return ""
    return f" | restarts {row['Worker_Restarts']} dropped {row.get('Dropped_Episodes', 0)}"
