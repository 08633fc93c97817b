"""The log reviewer (apps/logreview.py) of a run: it follows the run's logs in its own process
and, with `block`, asks the controller to block the sources it flags."""
import json
import os
import subprocess
import sys

from core.paths import ROOT
from topologies.runstate import die_with_this_process, stop_processes


class LogReviewer:
    """Start and stop the reviewer, and read the alerts it raised."""

    def __init__(self, cluster, block):
        self.cluster = cluster
        self.block = block
        self.process = None

    @property
    def alerts_path(self):
        return os.path.join(self.cluster.log_dir, "alerts.jsonl")

    @property
    def following(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        cluster = self.cluster
        command = [sys.executable, "-m", "apps.logreview", cluster.run_dir, "--follow", "--out", self.alerts_path]
        if self.block:
            command += ["--block", "http://127.0.0.1:%d" % cluster.rest_port, "--api-token", cluster.api_token_path]
        with open(os.path.join(cluster.log_dir, "logreview.log"), "w") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=ROOT),
                                            start_new_session=True, preexec_fn=die_with_this_process())
        cluster.record.add_pid("logreview", self.process.pid)
        return "following the logs, alerts in %s%s" % (self.alerts_path, ", blocking" if self.block else "")

    def stop(self):
        if self.process is not None:
            stop_processes([self.process])
            self.cluster.record.remove_pid("logreview")
            self.process = None

    def alerts(self):
        """The alerts raised so far, as dicts."""
        try:
            with open(self.alerts_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
