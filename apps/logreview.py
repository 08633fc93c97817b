"""The log reviewer: reads every log of a run (the controller's connection log, the web hosts'
access logs), applies the criteria of apps/detect.py, writes alerts as JSON lines, and can ask
the controller to block the sources it flags.

    python -m apps.logreview RUN_DIR                  batch: a finished run's logs, alerts to stdout
    python -m apps.logreview RUN_DIR --follow \\
        --block http://127.0.0.1:8080 --api-token RUN_DIR/api-token
                                                      follow: as the logs grow; block what it flags

Malformed or truncated lines are counted and skipped; a missing log is waited for (follow) or
skipped (batch); a rotated or truncated log is read again from its start.
"""
import argparse
import glob
import ipaddress
import json
import os
import sys
import time

import requests

from apps.detect import Detector, epoch
from core.apitoken import REVIEWER, read_token_file, request_headers
from core.settings import Thresholds
from core.addressing import ETCD_CLIENT_PORT
from core.description import ClusterDescription

LOG_PATTERNS = ("connections.jsonl", "*-access.jsonl")
POLL_SECONDS = 0.5


def detector_for(description, thresholds):
    """Public net, protected addresses and the controller's own address, from the description."""
    pub = description.router.interface_on(description.public_edge)
    protected = {w.ip: "real server %s" % w.name for w in description.real_servers}
    protected.update({h.ip: "DB host %s (port %d)" % (h.name, ETCD_CLIENT_PORT)
                      for h in description.hosts_with_role("db")})
    protected.update({h.ip: "the management interface" for h in description.hosts_with_role("management")})
    public = ipaddress.ip_interface("%s/%d" % (pub.ip, pub.prefixlen)).network
    edges = {i.ip: i.switch for h in description.hosts for i in h.interfaces}
    return Detector(public, protected, thresholds, edges=edges, public_edge=pub.switch, vips=description.vips,
                    ignore={h.ip for h in description.hosts_with_role("management")})


class LogFile:
    """One log, read line by line from where the last read stopped; reopened from its start
    when it is rotated (new inode) or truncated."""

    def __init__(self, path):
        self.path, self.offset, self.inode, self.partial = path, 0, None, ""

    def new_lines(self):
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self.inode, self.offset, self.partial = stat.st_ino, 0, ""
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            data = f.read()
            self.offset = f.tell()
        lines = (self.partial + data).split("\n")
        self.partial = lines.pop()           # an unfinished last line waits for its end
        return lines


class Reviewer:
    def __init__(self, run_dir, thresholds, block_url=None, ban_seconds=600, out=sys.stdout, token=None):
        self.description = ClusterDescription.load(os.path.join(run_dir, "cluster.json"))
        self.detector = detector_for(self.description, thresholds)
        self.log_dir = os.path.join(run_dir, "logs")
        self.block_url, self.ban_seconds, self.out = block_url, ban_seconds, out
        self.headers = request_headers(token, REVIEWER) if token else {}
        self.files = {}
        self.malformed = 0
        self.alerts = 0

    def discover(self):
        for pattern in LOG_PATTERNS:
            for path in sorted(glob.glob(os.path.join(self.log_dir, pattern))):
                self.files.setdefault(path, LogFile(path))

    def parse(self, line):
        if not line.strip():
            return None
        try:
            record = json.loads(line)
            epoch(record["@timestamp"])
            return record
        except (ValueError, KeyError, TypeError, AttributeError):
            self.malformed += 1
            return None

    def feed(self, record):
        for alert in self.detector.observe(record):
            self.alerts += 1
            self.out.write(json.dumps(alert) + "\n")
            self.out.flush()
            if self.block_url:
                self.block(alert)

    def block(self, alert):
        try:
            response = requests.post(self.block_url + "/lb/blocks", timeout=2, headers=self.headers, json={
                "ip": alert["source.ip"], "seconds": self.ban_seconds, "reason": alert["rule.name"]})
            if response.status_code >= 400:
                sys.stderr.write("logreview: block of %s refused: %s\n" % (alert["source.ip"], response.text.strip()))
        except requests.RequestException as e:
            sys.stderr.write("logreview: cannot reach the controller to block %s: %s\n" % (alert["source.ip"], e))

    def _feed_in_time_order(self, lines):
        """Records from all logs merged by time, so that a connection's SYN and the request that
        completed it are judged together (as batch and follow must agree)."""
        records = filter(None, map(self.parse, lines))
        for record in sorted(records, key=lambda r: epoch(r["@timestamp"])):
            self.feed(record)

    def batch(self):
        self.discover()
        self._feed_in_time_order([line for f in self.files.values() for line in f.new_lines() + [f.partial]])

    def follow(self, stop=lambda: False):
        while not stop():
            self.discover()
            self._feed_in_time_order([line for f in self.files.values() for line in f.new_lines()])
            time.sleep(POLL_SECONDS)


def parse_thresholds(pairs):
    values: dict = {}
    names = set(Thresholds.__dataclass_fields__)
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in names:
            raise ValueError("unknown threshold %r; thresholds: %s" % (name, ", ".join(sorted(names))))
        try:
            values[name] = float(value) if "." in value else int(value)
        except ValueError:
            raise ValueError("threshold %s must be a number, got %r" % (name, value)) from None
    return Thresholds(**values)


def blocking_token(args):
    """The token that --block needs, from --api-token (None without --block)."""
    if not args.block:
        return None
    if not args.api_token:
        raise ValueError("--block needs --api-token FILE: the controller refuses changes without the run's token")
    return read_token_file(args.api_token)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m apps.logreview", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a run directory (holds cluster.json and logs/)")
    parser.add_argument("--follow", action="store_true", help="keep reading as the logs grow")
    parser.add_argument("--block", metavar="URL", help="the controller's REST API: block flagged sources")
    parser.add_argument("--api-token", metavar="FILE",
                        help="the run's API token file, which --block needs (RUN_DIR/api-token)")
    parser.add_argument("--ban", type=int, default=600, help="seconds a flagged source stays blocked")
    parser.add_argument("--out", help="write alerts here (JSON lines) instead of stdout")
    parser.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                        help="override a threshold, e.g. portscan_ports=20 (see apps/detect.py)")
    args = parser.parse_args(argv)
    try:
        thresholds = parse_thresholds(args.threshold)
        if not os.path.isfile(os.path.join(args.run_dir, "cluster.json")):
            raise ValueError("%s is not a run directory (no cluster.json)" % args.run_dir)
        out = open(args.out, "a", buffering=1) if args.out else sys.stdout
        token = blocking_token(args)
        reviewer = Reviewer(args.run_dir, thresholds, args.block, args.ban, out, token)
    except ValueError as e:        # a bad cluster.json too: ConfigError is one
        parser.error(str(e))
    except OSError as e:
        parser.error("cannot write alerts to %s: %s" % (args.out, e.strerror))
    try:
        reviewer.follow() if args.follow else reviewer.batch()
    except KeyboardInterrupt:
        pass
    sys.stderr.write("logreview: %d alerts, %d malformed lines skipped\n" % (reviewer.alerts, reviewer.malformed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
