"""A 4-minute chaos soak (scripts/soak.py --minutes 4: 9 faults, every target at least twice): 4
conversations while a seeded schedule fails and recovers a web host, a DB member, the active proxy
and the controller. No turn lost or
duplicated (checked against etcd), under 1% of requests failed, the controller's memory held, and
every switch back to its steady flow count."""
import json
import os
import subprocess
import sys

import pytest

from core.paths import ROOT
from topologies.runstate import RUNS_DIR_ENV

pytestmark = pytest.mark.emulation

MINUTES, SEED = 4, 1


def test_a_four_minute_chaos_soak_loses_nothing():
    out = os.path.join(os.environ[RUNS_DIR_ENV], "chaos-soak")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py"), "--minutes", str(MINUTES),
                             "--seed", str(SEED), "--out", out], capture_output=True, text=True,
                            timeout=MINUTES * 60 + 600)
    with open(os.path.join(out, "soak.json")) as f:
        soak = json.load(f)
    assert result.returncode == 0 and soak["verdict"] == [], result.stdout[-3000:] + result.stderr[-2000:]
    assert {f["node"] for f in soak["faults"]} >= {"controller"} and len(soak["faults"]) >= 8
    targets = {"web" if f["node"].startswith("web") else "db" if f["node"].startswith("db")
               else "proxy" if f["node"].startswith("lb") else f["node"] for f in soak["faults"]}
    assert targets == {"web", "db", "proxy", "controller"}
    clients = soak["clients"]
    assert all(c["turns"] > 100 and not c["lost"] and not c["duplicated"] and c["in_order"] for c in clients)
    assert sum(c["failed"] for c in clients) < 0.01 * sum(c["requests"] for c in clients)
    assert os.path.getsize(os.path.join(out, "chaos.png")) > 10_000
    assert "| client | turns |" in result.stdout
