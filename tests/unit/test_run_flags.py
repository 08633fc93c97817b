"""run.py, the program itself, refuses bad flags with one clear line and exit 2, before it needs root."""
import os
import subprocess
import sys

import pytest

from core.paths import ROOT

RUN = os.path.join(ROOT, "topologies", "run.py")


@pytest.mark.parametrize("flags,message", [      # the whole table: tests/unit/test_configuration.py
    (["--webs", "0"], "--webs must be an integer from 1 to 32, got 0"),
    (["--of-port", "x"], "argument --of-port: invalid int value: 'x'"),
    (["--mode", "dr", "--remote-webs", "1"], "DR cannot reach remote real servers"),
    (["--bfd-min-rx", "5"], "proxy bfd_min_rx must be an integer from 10 to 1000, got 5"),
])
def test_bad_flag_gets_one_line_and_exit_2(flags, message):
    result = subprocess.run([sys.executable, RUN] + flags, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_not_root_is_told_to_use_sudo():
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", RUN]
    else:
        command = [sys.executable, RUN]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "needs root" in result.stderr and "sudo" in result.stderr
