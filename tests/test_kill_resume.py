"""Kill-and-resume (issue 14): a humanoid run SIGKILLed (once in the middle of a checkpoint write)
and resumed ends bit-identical to an uninterrupted one; see bench/kill_resume.py, whose run this
is, with fewer kills (the benchmark does 10+)."""
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "kill_resume.py"


@pytest.mark.slow
def test_sigkill_and_resume_is_bit_identical(tmp_path):
    spec = importlib.util.spec_from_file_location("kill_resume", BENCH)
    kr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kr)
    res = kr.run(kills=2, iters=16, out=tmp_path / "kr", seed=1)
    assert res["kills"] == 2, res["cycles"]            # both kills landed before the run ended
    assert res["kills_in_write"] == 1, res["cycles"]   # the second one during a checkpoint write
    assert res["bit_identical"], res["checkpoint_differences"]
    assert res["log_rows_equal"]
    assert res["workers_lingered"] == 0                # orphaned workers exit by themselves
