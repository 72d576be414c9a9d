import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vocable.bench.machine import cpu_load
from vocable.bench.stats import distribution, percentile, word_error_rate


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 95) == 95.0
    assert percentile([], 50) is None
    assert distribution("stt", [1.0, 3.0]) == {"stt_p50_ms": 2.0, "stt_p95_ms": 2.9}
    # A real-time factor of 0.04 must not read as 0.0.
    rtf = distribution("tts", [0.04, 0.05], unit="rtf", digits=3)
    assert rtf == {"tts_p50_rtf": 0.045, "tts_p95_rtf": 0.05}


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("What is the capital of France?", "what is the capital of france", 0.0),
        ("What is the capital of France?", "What is the capa to love friends?", 4 / 6),
        ("one two three", "one three", 1 / 3),
        ("one two", "one two three four", 1.0),
        ("", "", 0.0),
        ("", "noise", 1.0),
    ],
)
def test_word_error_rate(ref: str, hyp: str, expected: float) -> None:
    assert word_error_rate(ref, hyp) == pytest.approx(expected)


def test_cpu_load_spins_while_open_and_leaves_nothing_behind() -> None:
    with cpu_load(2) as pids:
        procs = [psutil.Process(pid) for pid in pids]
        time.sleep(0.5)
        busy = [sum(p.cpu_times()[:2]) for p in procs]
        assert len(procs) == 2 and all(p.is_running() for p in procs)
    assert all(b > 0.1 for b in busy), busy  # each spun for a good part of the half second
    assert not any(psutil.pid_exists(pid) for pid in pids)
    with cpu_load(0) as none:
        assert none == []


def test_a_spinner_stops_by_itself_when_its_parent_dies(tmp_path: Path) -> None:
    # The bench is killed outright (no clean-up runs): its spinners must not outlive it.
    script = "from vocable.bench.machine import cpu_load\nimport os\nwith cpu_load(1) as p:\n"
    script += "    print(p[0], flush=True)\n    os._exit(0)\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the spinner outlived its parent"
        time.sleep(0.05)
