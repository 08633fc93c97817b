"""scripts/servicescale.py refuses bad flags in one line (exit 2) before it starts anything, and
its rules are ones the cluster takes."""
import os
import subprocess
import sys

import pytest

from core.builder import describe, with_services
from core.paths import ROOT
from core.services import load_rules

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import servicescale  # noqa: E402


@pytest.mark.parametrize("args, message", [
    (["--counts", "1,x"], "--counts must be integers separated by commas, got '1,x'"),
    (["--counts", "0"], "--counts must each be from 1 to 128 and --seconds from 1 to 60"),
    (["--counts", "129"], "--counts must each be from 1 to 128"),
    (["--seconds", "0"], "--seconds from 1 to 60"),
])
def test_bad_flags_get_one_line_and_exit_2(args, message):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "servicescale.py")] + args,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_the_largest_point_is_a_cluster_the_description_takes():
    base = describe(mode="dr", clients=2, webs=servicescale.WEBS)
    cluster = with_services(base, load_rules("\n".join(servicescale.rules(128)), "rules", base))
    assert len(cluster.services) == 128 and cluster.vips[-1] == "10.0.0.227"
    assert all(len(s.real_servers) == 4 for s in cluster.services)
