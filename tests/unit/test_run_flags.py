"""run.py refuses bad flags with one clear line and a non-zero exit, before it needs root."""
import os
import subprocess
import sys

import pytest

RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "topologies", "run.py")


@pytest.mark.parametrize("flags,message", [
    (["--webs", "0"], "--webs must be an integer from 1 to 32, got 0"),
    (["--mode", "foo"], "unknown forwarding mode 'foo': choose one of nat, tun, dr"),
    (["--clients", "many"], "--clients must be an integer from 1 to 64, got 'many'"),
    (["--rest-port", "70000"], "--rest-port must be a TCP port from 1 to 65535, got 70000"),
    (["--of-port", "x"], "argument --of-port: invalid int value: 'x'"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["--health-fall", "0"], "health fall must be an integer from 1 to 100, got 0"),
    (["--health-interval", "0"], "health interval must be from 0.01 to 60 seconds, got 0.0"),
    (["--vip", "10.0.1.9"], "VIP 10.0.1.9 is inside the server LAN 10.0.1.0/24"),
    (["--mode", "dr", "--remote-webs", "1"], "DR cannot reach remote real servers"),
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
