"""What several emulation tests do."""
import json
import re
import subprocess
import threading
import time
from collections import Counter

CLIENTS = ("c1", "c2", "c3", "c4")


def http_served(cluster, client, url, connections=40):
    """Which real server answered each of `connections` requests from `client`, each on a new
    connection (apps/loadclient.py): a Counter of web host names, and the failures."""
    run = cluster.app(client, "apps.loadclient", "--url", url, "--connections", connections, "--timeout", 2)
    result = json.loads(run.communicate(timeout=120)[0])
    return Counter(result["served_by"]), result["errors"]


def request_stream(cluster, count, timeout=1):
    """A client (c1) asking the VIP every 20 ms, each on a new connection: a Popen whose output
    reports the longest time without an answer."""
    return cluster.app("c1", "apps.loadclient", "--url", "http://%s/" % cluster.vip,
                       "--connections", count, "--interval", 0.02, "--timeout", timeout)


# OVS credits packets to its OpenFlow rules' counters when its revalidator threads run (a round at
# least every 500 ms, other_config:max-revalidator; sooner when flows change), not as they pass. A
# proxy's counter can therefore still grow for a while after the VIP has left it: measured up to
# 0.23 s after its last packet (tcpdump on s_pub's proxy ports) around a hang.
COUNTER_LAG = 1.0


def flush_counters():
    """Have OVS credit every packet so far to its rules' counters: wait for a revalidator round."""
    subprocess.run(["ovs-appctl", "revalidator/wait"], capture_output=True, timeout=30)


def vip_packets(cluster, proxy):
    """Packets a proxy has taken in for the VIP (its classify flows; the other proxy's SYN
    copies not counted); 0 while its bridge is gone. See COUNTER_LAG."""
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", proxy,
                          "table=0,ip,nw_dst=%s" % cluster.vip], capture_output=True, text=True).stdout
    return sum(int(n) for n, prio in re.findall(r"n_packets=(\d+),.*?priority=(\d+)", out) if prio in ("200", "210"))


class ProxySampler(threading.Thread):
    """Samples both proxies' VIP packet counters every `period` s. `timeline` holds, for each
    period in which some counter grew, (the time it ended, the proxies whose counter grew)."""

    def __init__(self, cluster, period=0.05):
        super().__init__(daemon=True)
        self.cluster, self.period = cluster, period
        self.timeline, self.running = [], True

    def sample(self):
        return {p: vip_packets(self.cluster, p) for p in self.cluster.description.proxies}

    def run(self):
        flush_counters()
        before = self.sample()
        while self.running:
            time.sleep(self.period)
            after = self.sample()
            grew = frozenset(p for p in after if after[p] > before[p])
            if grew:
                self.timeline.append((time.monotonic(), grew))
            before = after

    def stop(self):
        self.running = False
        self.join()

    def carriers(self):
        """The proxies whose counter grew, period by period."""
        return [grew for _, grew in self.timeline]

    def since(self, start):
        """The timeline as text, in seconds from monotonic time `start`: for failure messages."""
        return " ".join("%+.2f:%s" % (at - start, "+".join(sorted(grew))) for at, grew in self.timeline)

    def carried_since(self, proxy, since):
        """True once the proxy's counter has grown after monotonic time `since`."""
        return any(at > since and proxy in grew for at, grew in list(self.timeline))

    def handovers_violated(self, phases):
        """Check that the VIP went to one proxy at a time, as `phases` say: [(from, proxy), ...],
        monotonic times from which each proxy should carry it. A proxy takes over when its
        counter first grows after its phase began (within COUNTER_LAG of the phase's end at the
        latest); from COUNTER_LAG after that until its phase ends, only its counter may grow (in
        the first phase, from the start). A list of what went wrong."""
        wrong = []
        for i, (start, carrier) in enumerate(phases):
            end = phases[i + 1][0] if i + 1 < len(phases) else float("inf")
            took_over = start if i == 0 else next(
                (at for at, grew in self.timeline if at > start and carrier in grew), None)
            if took_over is None or took_over > end + COUNTER_LAG:
                wrong.append("%s never carried the VIP after %+.2f s" % (carrier, start - phases[0][0]))
                continue
            settled = took_over + (COUNTER_LAG if i else 0)
            wrong += ["%s carried the VIP at %+.2f s, when only %s should" % (
                "+".join(sorted(grew - {carrier})), at - phases[0][0], carrier)
                for at, grew in self.timeline if settled < at <= end and grew - {carrier}]
        return wrong


def status(cluster):
    return cluster.rest("GET", "/lb/status")


def wait_for(check, timeout, what):
    """Wait until `check()` holds; the monotonic time at which the last check that failed began
    (or this call began): what it waited for happened after that."""
    deadline = before = time.monotonic()
    deadline += timeout
    while True:
        began = time.monotonic()
        if check():
            return before
        assert began < deadline, what
        before = began
        time.sleep(0.02)


def reaches_vip(cluster, client):
    """True if one HTTP request from `client` to the VIP is answered."""
    return "served_by" in cluster.host(client).cmd("curl -s -m 1 http://%s/" % cluster.vip)
