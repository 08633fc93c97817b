"""Debian's keepalived samples that can be built start with run.py --keepalived and pass its
self-check (every client reaches every virtual server, answered by a real server)."""
import os
import subprocess
import sys

import pytest

from core.paths import ROOT

pytestmark = [pytest.mark.emulation,
              pytest.mark.skipif(not os.path.isdir("/usr/share/doc/keepalived/samples"),
                                 reason="Debian's keepalived samples are not installed")]


@pytest.mark.parametrize("sample, service", [
    ("keepalived.conf.UDP_CHECK", "-u 10.10.10.2:1358"),
    ("keepalived.conf.vrrp.lvs_syncd", "-t 192.168.200.19:80"),
])
def test_a_sample_starts_and_passes_the_self_check(sample, service):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "topologies", "run.py"), "--keepalived",
                             os.path.join("/usr/share/doc/keepalived/samples", sample), "--no-cli", "--no-review"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "every client reaches %s and ping" % service in result.stdout
