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


@pytest.mark.parametrize("rules, message", [
    ("-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.19 -m\n",
     "line 2: -t 10.0.0.100:80: 10.0.1.19 is not a web host of the cluster"),
    ("# a comment\n\n-A -u 10.0.1.7:53 -s mh\n", "line 3: -u 10.0.1.7:53: VIP 10.0.1.7 is inside the server LAN"),
    ("-A -t 10.0.0.100:80 -s mh\n-A -t 10.0.0.100:80 -s mh\n", "line 2: the virtual service -t 10.0.0.100:80 exists"),
    ("-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11:81 -g\n",
     "line 2: 10.0.1.11:81: only NAT (-m) may give a real server another port than the service's"),
])
def test_a_services_file_that_cannot_work_is_refused_naming_its_line(tmp_path, rules, message):
    path = tmp_path / "ipvsadm.rules"
    path.write_text(rules)
    test_bad_flag_gets_one_line_and_exit_2(["--services", str(path)], "%s %s" % (path, message))


def test_a_services_file_that_cannot_be_read_is_named(tmp_path):
    test_bad_flag_gets_one_line_and_exit_2(["--services", str(tmp_path / "none")],
                                           "--services %s cannot be read: No such file or directory" % (
                                               tmp_path / "none"))
