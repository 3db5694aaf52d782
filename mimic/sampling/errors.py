"""The error that stops sampling for good, and the gist of a worker's failure."""

from __future__ import annotations


class SamplerError(RuntimeError):
    """The workers cannot go on (a failed start, a worker that keeps failing); one line.
    ``exit_code`` is what a command returns for it (``mimic-train`` catches it with its StopRuns)."""

    exit_code = 1


def first_line(reason, brief: bool = False) -> str:
    """The gist of a worker failure: its first line and, for a traceback, the exception line
    (``brief``: the first line only)."""
    lines = [ln.strip() for ln in str(reason).strip().splitlines() if ln.strip()]
    if not lines:
        return "failed"
    return lines[0] if brief or len(lines) == 1 else f"{lines[0]} {lines[-1]}"
