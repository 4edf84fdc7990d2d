"""A torchrun process that used the project's collectives exits cleanly after :meth:`DistContext.close`.

With torch._dynamo imported (every torch.optim optimizer imports it) and an object collective done, torch 2.14 freed
leftover collective work during interpreter shutdown and aborted ("terminate called without an active exception",
exit -6) in about half of the 2-process runs on this machine, after the work itself had succeeded; ``close`` now
collects those cycles first. Four runs all exit 0 only by chance (~1 in 16; each run is mostly process start-up) while that is broken."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.torchrun
TORCHRUN = Path(sys.executable).with_name("torchrun")

_SCRIPT = """
import torch
from sr4det._distributed import setup

ctx = setup(1)
net = torch.nn.Conv2d(3, 4, 3)
torch.optim.Adam(net.parameters())  # imports torch._dynamo
value = ctx.step(lambda: {"rank": ctx.rank}, "a step")
assert ctx.broadcast(value, "the result") == {"rank": 0}
ctx.close()
import sys
sys.stdout.write(f"done {ctx.rank}\\n")  # one write: print pieces of two ranks interleaved, "donedone 1 0"
"""


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is installed with torch")
def test_processes_exit_zero_after_close(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for attempt in range(4):
        proc = subprocess.run(
            [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"attempt {attempt}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "done 0" in proc.stdout
        assert "done 1" in proc.stdout


_LONG_STEP = """
import os, sys, time
from sr4det._distributed import setup

ctx = setup(1)
sys.stdout.write(f"rank {ctx.rank} {os.getpid()}\\n")  # one write: print's pieces of two ranks interleave
sys.stdout.flush()
ctx.step(lambda: time.sleep(600), "a long SR step")  # no collective for minutes
"""


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is installed with torch")
def test_ranks_stop_within_seconds_when_the_launcher_is_killed(tmp_path):
    import queue
    import signal
    import threading
    import time

    script = tmp_path / "run.py"
    script.write_text(_LONG_STEP)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    err = tmp_path / "stderr.txt"
    with err.open("w") as err_file:
        launcher = subprocess.Popen(
            [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(script)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err_file,  # a file, not a pipe nobody reads: the launcher never blocks on it
            text=True,
            start_new_session=True,  # its own process group, apart from pytest's workers
        )
    pids = []
    try:
        assert launcher.stdout is not None
        # lines read in a thread, waited for with a deadline: a missing line must fail the test, not hang it for the
        # ranks' 600 s step
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for x in launcher.stdout:
                lines.put(x)
            lines.put(None)  # end of output: torchrun ended

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 180
        while len(pids) < 2:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no 'rank' line of both ranks within 180 s (pids {pids}, torchrun exit {launcher.poll()}):\n"
                    f"{err.read_text()[-3000:]}"
                ) from None
            assert line is not None, (
                f"torchrun ended (exit {launcher.wait()}) before both ranks started:\n{err.read_text()[-3000:]}"
            )
            if line.startswith("rank"):
                pids.append(int(line.split()[2]))
        time.sleep(1)
        os.kill(launcher.pid, signal.SIGKILL)  # the launcher dies without telling its ranks
        launcher.wait()
        deadline = time.monotonic() + 10
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in pids if _alive(p)]
        assert not alive, f"ranks {alive} still run 10 s after the launcher died"
    finally:
        if launcher.poll() is None:  # a failed test: its ranks go with their launcher (parent-death signal)
            launcher.kill()
            launcher.wait()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has stopped (its parent is gone)
    except FileNotFoundError:
        return False
