"""``general_cfg.keep_freed_memory``: glibc's malloc keeps the blocks a gradient step frees, so the next
step's tensors of the same sizes do not page-fault in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Each round makes three 8 MiB arrays (written, so their pages are touched) and frees them: 24 MiB free at
# the top of the heap, past glibc's default trim threshold, goes back to the system and faults in again.
ROUNDS = """
import resource, sys
import numpy as np
from joyrl_core.run.context import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def rounds(n):
    for _ in range(n):
        blocks = [np.ones(2 * 2**20, dtype=np.float32) for _ in range(3)]
        del blocks
rounds(3)
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_freed_blocks_are_reused_instead_of_faulting_in_again():
    faults = {mode: int(subprocess.run([sys.executable, "-c", ROUNDS, mode], check=True, capture_output=True,
                                       text=True).stdout) for mode in ("default", "keep")}
    pages = 20 * 3 * 8 * 2**20 // 4096  # what 20 rounds touch: 122,880 pages
    assert faults["keep"] < 200, faults  # measured: 0
    assert faults["default"] > 2000, faults  # measured: ~20,000 (glibc's moving thresholds reuse some)
    assert faults["default"] < pages


def test_runs_set_it_unless_switched_off(monkeypatch, tmp_path):
    import joyrl_core
    from joyrl_core.run import start

    calls = []
    monkeypatch.setattr(start, "keep_freed_memory", lambda: calls.append(True) or True)
    registry = joyrl_core.load_registry()
    for keep in (True, False):
        config = joyrl_core.resolve_config(registry, None, [
            "general_cfg.algo_name=DQN", "general_cfg.env_name=gym", "env_cfg.id=CartPole-v1",
            "general_cfg.max_episode=1", f"general_cfg.task_dir={tmp_path}", "general_cfg.save_fig=false",
            "general_cfg.loggers=[]", f"general_cfg.keep_freed_memory={str(keep).lower()}"])
        joyrl_core.start_run(config, registry)
    assert calls == [True]
