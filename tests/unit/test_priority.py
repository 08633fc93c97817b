"""The harness ranks a session's autogroup (topologies/priority.py), on this machine's kernel."""
import os
import subprocess
import sys

import pytest

from topologies import priority


def test_an_autogroup_nice_is_read_set_and_given_back():
    if not priority.autogroups_on():
        pytest.skip("this kernel schedules without autogroups: nothing to rank")
    ours = priority.autogroup_nice(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert priority.autogroup_nice(child.pid) == 0
        wanted = -5 if os.geteuid() == 0 else 5            # lowering a nice needs root
        assert priority.set_autogroup_nice(child.pid, wanted) == 0
        assert priority.autogroup_nice(child.pid) == wanted
        assert priority.autogroup_nice(os.getpid()) == ours          # another session's, not ours
    finally:
        child.kill()
        child.wait()


def test_a_nice_left_by_a_killed_run_is_not_given_back():
    if not priority.autogroups_on() or os.geteuid() != 0:
        pytest.skip("needs autogroups and root (to lower a nice)")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert priority.rank(child.pid, -20) == 0                # found at 0: give 0 back
        assert priority.rank(child.pid, -20) == 0                # found at -20: a killed run's
        assert priority.autogroup_nice(child.pid) == -20
    finally:
        child.kill()
        child.wait()


def test_a_process_that_is_gone_is_nothing_to_rank():
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert priority.autogroup_nice(gone.pid) is None
    assert priority.set_autogroup_nice(gone.pid, -5) is None
    assert priority.rank(gone.pid, -5) is None
