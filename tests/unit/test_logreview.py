"""The log reviewer over a run directory written here: batch and follow agree; malformed lines,
truncated lines and rotated logs are handled; bad thresholds are refused."""
import io
import json
import os
import subprocess
import sys

import pytest

from apps.logreview import Reviewer, parse_thresholds
from tests.unit.test_detect import attempt, request
from core.builder import describe


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "cluster.json").write_text(describe().to_json())
    scan = [attempt(i * 0.1, "10.0.0.11", "10.0.0.100", port=2000 + i) for i in range(20)]
    logins = [request(30 + i, "10.0.0.12", login_failed=True) for i in range(6)]
    (tmp_path / "logs" / "connections.jsonl").write_text(
        "\n".join(map(json.dumps, scan)) + "\nnot json\n{\"@timestamp\": 5}\n")
    (tmp_path / "logs" / "web1-access.jsonl").write_text("\n".join(map(json.dumps, logins)) + "\n{\"trunc")
    return tmp_path


def alerts_of(out):
    return [(a["rule.name"], a["source.ip"]) for a in map(json.loads, out.getvalue().splitlines())]


def test_batch_finds_the_scan_and_the_brute_force_and_counts_bad_lines(run_dir):
    out = io.StringIO()
    reviewer = Reviewer(str(run_dir), parse_thresholds([]), out=out)
    reviewer.batch()
    # The scan's first probe is on a port no virtual service serves: forbidden at once.
    assert alerts_of(out) == [("forbidden-service", "10.0.0.11"), ("port-scan", "10.0.0.11"),
                              ("brute-force-login", "10.0.0.12")]
    assert reviewer.malformed == 3


def test_follow_gives_what_batch_gives_and_survives_rotation(run_dir):
    batch, follow = io.StringIO(), io.StringIO()
    Reviewer(str(run_dir), parse_thresholds([]), out=batch).batch()
    reviewer = Reviewer(str(run_dir), parse_thresholds([]), out=follow)
    rounds = iter(range(3))
    reviewer.follow(stop=lambda: next(rounds, None) is None)
    assert sorted(alerts_of(follow)) == sorted(alerts_of(batch))
    log = run_dir / "logs" / "connections.jsonl"
    os.rename(log, str(log) + ".1")                       # rotated: a new file, read from its start
    log.write_text(json.dumps(attempt(100, "10.0.0.13", "10.0.1.11")) + "\n")
    rounds = iter(range(2))
    reviewer.follow(stop=lambda: next(rounds, None) is None)
    assert ("forbidden-service", "10.0.0.13") in alerts_of(follow)


@pytest.mark.parametrize("pairs,message", [(["portscan_ports=0"], "must be a positive number"),
                                           (["nonsense=3"], "unknown threshold 'nonsense'"),
                                           (["sweep_hosts=many"], "must be a number")])
def test_bad_thresholds_are_refused_at_start_up(run_dir, pairs, message):
    args = [a for pair in pairs for a in ("--threshold", pair)]
    result = subprocess.run([sys.executable, "-m", "apps.logreview", str(run_dir)] + args,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    result = subprocess.run([sys.executable, "-m", "apps.logreview", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "is not a run directory" in result.stderr
