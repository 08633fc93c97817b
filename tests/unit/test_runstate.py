"""What a run leaves behind: run directories and children that die with the harness."""
import os
import subprocess
import time

import pytest

from core.rules import ConfigError
from topologies.runstate import RUNS_DIR_ENV, check_run_dir, default_run_dir, die_with_this_process


def test_a_child_whose_spawner_died_before_it_started_exits_at_once():
    """prctl(PR_SET_PDEATHSIG) does nothing when the parent is already gone; the check after it
    must catch that. Here the child is spawned by another process than the one it was meant to
    die with, which is what it sees when its spawner died during the fork."""
    preexec = die_with_this_process()
    read, write = os.pipe()
    spawner = os.fork()
    if spawner == 0:
        try:
            started = time.monotonic()
            code = subprocess.Popen(["sleep", "30"], preexec_fn=preexec).wait()
            os.write(write, b"%d %.1f" % (code, time.monotonic() - started))
        finally:
            os._exit(0)
    os.waitpid(spawner, 0)
    code, seconds = os.read(read, 64).split()
    assert int(code) == 1 and float(seconds) < 5


def test_run_directories_are_new_each_time_and_go_where_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path))
    first = default_run_dir("nat")
    os.makedirs(first)
    second = default_run_dir("nat")
    assert os.path.dirname(first) == str(tmp_path) and first != second and second.startswith(first)


def test_a_run_directory_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="run directory .*/file/run cannot be created: .*/file is not a directory"):
        check_run_dir(str(tmp_path / "file" / "run"))
    check_run_dir(str(tmp_path / "new" / "run"))
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("options", [dict(plain_switches=True), dict(plain_switches=True, director="haproxy",
                                                                     review=True)])
def test_plain_switches_need_the_peers_hosts_and_no_reviewer(options):
    from topologies.cluster import Cluster, ClusterError
    with pytest.raises(ClusterError, match="plain switches .* need director='haproxy' and no log reviewer"):
        Cluster(**options)


def test_a_run_on_plain_switches_has_no_controller_to_ask():
    from topologies.cluster import Cluster, ControllerDown
    with pytest.raises(ControllerDown, match="this run has no controller: its switches are plain learning"):
        Cluster(director="haproxy", plain_switches=True).rest("GET", "/lb/status")
