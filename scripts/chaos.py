"""The chaos soak behind `scripts/soak.py --minutes N --seed S`: 4 clients hold conversations
through the VIP while a seeded random schedule fails and recovers, one at a time, a web host, a DB
member, the active proxy and the controller (each at least once).

Reported: requests and failed requests (failed attempts, each retried by the client with the
same Idempotency-Key), lost and duplicated turns (the DB tier's record of each conversation,
read with etcdctl at the end, against the turns its client saw succeed), the controller's memory
and open files over time, flows per switch over time; as a table, soak.json and chaos.png.

Verdict (exit 0 when all hold): no turn lost or duplicated, under 1% of requests failed, the
controller's memory at the end of each of its lives within 20% of its value after warm-up, and
every switch back to its steady flow count once everything has recovered.
"""
import json
import os
import random
import subprocess
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass

CLIENTS = ("c1", "c2", "c3", "c4")
WARMUP = 30                  # s before the first fault (the memory and flow baselines are taken then)
TAIL = 30                    # s after the last recovery, everything up
QUIET = (8, 16)              # s between a recovery and the next fault
HOLD = (5, 10)               # s a fault lasts
SAMPLE_EVERY = 2.0           # s between samples of the controller and the switches
PAUSE = 0.1                  # s between a client's turns
MAX_FAILED_SHARE = 0.01
MAX_MEMORY_GROWTH = 0.20
SETTLE = 90                  # s the switches may take to return to their steady flow counts
TARGETS = ("web", "db", "proxy", "controller")


@dataclass(frozen=True)
class Fault:
    at: float                # s since the start of the soak
    target: str              # one of TARGETS: which node is chosen when the fault strikes
    kind: str                # crash, link or hang
    hold: float              # s until it is recovered
    pick: int                # chooses the web host or DB member (the proxy is the active one)


def schedule(seed, seconds):
    """The faults of a soak of `seconds`: sequential, each target at least once when there is
    time (a shuffled round of the targets, then another), kinds chosen among those each target has."""
    rng, faults, at = random.Random(seed), [], float(WARMUP)
    kinds = {"web": ("crash", "link"), "db": ("crash", "link"), "proxy": ("crash", "link", "hang"),
             "controller": ("crash",)}
    rounds = []
    while True:
        if not rounds:
            rounds = list(TARGETS)
            rng.shuffle(rounds)
        hold = rng.uniform(*HOLD)
        if at + hold + TAIL > seconds:
            return faults
        target = rounds.pop()
        faults.append(Fault(round(at, 1), target, rng.choice(kinds[target]), round(hold, 1), rng.randrange(1 << 16)))
        at += hold + rng.uniform(*QUIET)


# --- during the soak ---------------------------------------------------------------------------
def flow_counts(switches):
    counts = {}
    for switch in switches:
        out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", switch],
                             capture_output=True, text=True).stdout
        counts[switch] = int(out.split("flow_count=")[1].split()[0]) if "flow_count=" in out else None
    return counts


def controller_sample(pid):
    """(resident MB, open files) of a process; (None, None) if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
        return round(rss, 1), len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, StopIteration):
        return None, None


class Sampler(threading.Thread):
    def __init__(self, cluster, started):
        super().__init__(daemon=True)
        self.cluster, self.started, self.samples, self.halt = cluster, started, [], threading.Event()
        self.switches = [s.name for s in cluster.description.switches]

    def run(self):
        while not self.halt.wait(SAMPLE_EVERY):
            controller = self.cluster.controller if "controller" not in self.cluster.failed else None
            pid = controller.pid if controller else None
            rss, files = controller_sample(pid) if pid else (None, None)
            self.samples.append({"t": round(time.monotonic() - self.started, 1), "pid": pid, "rss_mb": rss,
                                 "open_files": files, "flows": flow_counts(self.switches)})


def strike(cluster, fault):
    """Fail the node `fault` names; the node's name."""
    d = cluster.description
    if fault.target == "controller":
        name = "controller"
    elif fault.target == "proxy":
        name = cluster.rest("GET", "/lb/status")["active_proxy"] or d.proxies[0]
    else:
        nodes = [h.name for h in d.hosts_with_role(fault.target)]
        name = nodes[fault.pick % len(nodes)]
    cluster.fail(name, fault.kind)
    return name


def stored_turns(cluster, conversation):
    """The texts of a conversation's turns, as the DB tier holds them (etcdctl on db1)."""
    db = cluster.description.hosts_with_role("db")[0].name
    out = cluster.host(db).cmd("ETCDCTL_API=3 etcdctl --endpoints=%s get --prefix --print-value-only "
                               "conv/%s/turn/" % (cluster.etcd.endpoints(), conversation))
    return [json.loads(line)["text"] for line in out.splitlines() if line.startswith("{")]


def client_report(name, events, stored):
    """Requests, failures, and the turns lost or duplicated in the DB tier."""
    seen = [e["turn"] for e in events if e["event"] == "turn"]
    done = next((e for e in events if e["event"] == "done"), None)
    expected = ["%s-%d" % (name, n) for n in seen]
    failed = sum(1 for e in events if e["event"] == "failed")
    return {"client": name, "turns": len(seen), "requests": len(seen) + failed + 2, "failed": failed,
            "lost": sorted(set(expected) - set(stored)),
            "duplicated": sorted(t for t, times in Counter(stored).items() if times > 1),
            "unexpected": sorted(set(stored) - set(expected)), "in_order": stored == expected,
            "finished": done is not None,
            "max_gap_s": done["max_gap"] if done else None}


def run(cluster, minutes, seed, out):
    """The soak; its result (see the module's docstring). Each client's events go to
    `out`/<client>.jsonl."""
    seconds = minutes * 60
    faults = schedule(seed, seconds)
    started = time.monotonic()
    sampler = Sampler(cluster, started)
    sampler.start()
    # Each client's events straight into a file: a pipe read only at the end would fill and stall it.
    logs = {c: open(os.path.join(out, "%s.jsonl" % c), "w") for c in CLIENTS}
    clients = {c: cluster.app(c, "apps.conversation_client", "--url", "http://%s" % cluster.vip, "--turns", 10000,
                              "--pause", PAUSE, "--prefix", c, "--seconds", seconds, "--timeout", 2, stdout=logs[c])
               for c in CLIENTS}
    time.sleep(WARMUP)
    baseline = flow_counts(sampler.switches)
    done = []
    for fault in faults:
        time.sleep(max(0.0, started + fault.at - time.monotonic()))
        name = strike(cluster, fault)
        time.sleep(fault.hold)
        cluster.recover(name)
        done.append(dict(asdict(fault), node=name, recovered=round(time.monotonic() - started, 1)))
    errors = {c: p.communicate(timeout=seconds + 300)[1] for c, p in clients.items()}
    for log in logs.values():
        log.close()
    settle_started = time.monotonic()
    while flow_counts(sampler.switches) != baseline and time.monotonic() - settle_started < SETTLE:
        time.sleep(1)
    final_flows = flow_counts(sampler.switches)
    sampler.halt.set()
    sampler.join()
    reports = []
    for name, err in errors.items():
        with open(os.path.join(out, "%s.jsonl" % name)) as f:
            events = [json.loads(line) for line in f if line.startswith("{")]
        conversation = next((e["id"] for e in events if e["event"] == "started"), None)
        report = client_report(name, events, stored_turns(cluster, conversation) if conversation else [])
        report["error"] = err.strip()[-300:] if clients[name].returncode else ""
        reports.append(report)
    return {"minutes": minutes, "seed": seed, "mode": cluster.mode, "faults": done, "clients": reports,
            "samples": sampler.samples, "steady_flows": baseline, "final_flows": final_flows,
            "settled_in_s": round(time.monotonic() - settle_started, 1)}


# --- verdict and report ------------------------------------------------------------------------
def memory_lives(samples):
    """Per controller process: (pid, RSS after warm-up, RSS at the end of its life, seconds it lived),
    for lives long enough to have a warm-up."""
    lives = {}
    for s in samples:
        if s["rss_mb"] is not None:
            lives.setdefault(s["pid"], []).append(s)
    found = []
    for pid, seen in lives.items():
        warm = [s for s in seen if s["t"] >= seen[0]["t"] + WARMUP]
        if warm:
            found.append((pid, warm[0]["rss_mb"], seen[-1]["rss_mb"], round(seen[-1]["t"] - seen[0]["t"])))
    return found


def verdict(result):
    """What the soak promised and did not keep: a list of sentences, empty if all held."""
    broken = []
    requests = sum(c["requests"] for c in result["clients"])
    failed = sum(c["failed"] for c in result["clients"])
    for c in result["clients"]:
        if c["lost"] or c["duplicated"] or c["unexpected"] or not c["in_order"] or not c["finished"]:
            broken.append("%s: lost %s, duplicated %s, unexpected %s, in order %s, finished %s %s"
                          % (c["client"], c["lost"][:5], c["duplicated"][:5], c["unexpected"][:5], c["in_order"],
                             c["finished"], c["error"]))
    if failed > MAX_FAILED_SHARE * requests:
        broken.append("%d of %d requests failed (over %d%%)" % (failed, requests, MAX_FAILED_SHARE * 100))
    for pid, warm, end, lived in memory_lives(result["samples"]):
        if end > warm * (1 + MAX_MEMORY_GROWTH):
            broken.append("controller pid %d grew from %.1f MB after warm-up to %.1f MB in %d s"
                          % (pid, warm, end, lived))
    if result["final_flows"] != result["steady_flows"]:
        broken.append("flows per switch did not return to %s (ended %s)" % (result["steady_flows"],
                                                                            result["final_flows"]))
    return broken


def table(result):
    rows = [["client", "turns", "requests", "failed", "lost", "duplicated", "in order", "longest gap (s)"]]
    rows += [[c["client"], c["turns"], c["requests"], c["failed"], len(c["lost"]), len(c["duplicated"]),
              "yes" if c["in_order"] else "NO", c["max_gap_s"]] for c in result["clients"]]
    lines = ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    lines += ["", "| fault at (s) | node | kind | held (s) |", "|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s |" % (f["at"], f["node"], f["kind"], f["hold"]) for f in result["faults"]]
    lines += ["", "| controller pid | RSS after warm-up (MB) | RSS at the end (MB) | lived (s) |", "|---|---|---|---|"]
    lines += ["| %d | %s | %s | %d |" % life for life in memory_lives(result["samples"])]
    lines += ["", "flows per switch, steady: %s; at the end: %s (settled in %s s)"
              % (result["steady_flows"], result["final_flows"], result["settled_in_s"])]
    return "\n".join(lines)


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    samples = result["samples"]
    fig, (memory, flows) = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    t = [s["t"] for s in samples]
    memory.plot(t, [s["rss_mb"] for s in samples], label="controller RSS (MB)")
    files = memory.twinx()
    files.plot(t, [s["open_files"] for s in samples], color="C1", label="open files")
    memory.set_ylabel("RSS (MB)")
    files.set_ylabel("open files")
    for switch in sorted(samples[0]["flows"]) if samples else []:
        flows.plot(t, [s["flows"].get(switch) for s in samples], label=switch)
    flows.set_ylabel("flows")
    flows.set_xlabel("seconds")
    flows.legend(loc="upper right", fontsize="small", ncol=3)
    for ax in (memory, flows):
        for f in result["faults"]:
            ax.axvspan(f["at"], f["at"] + f["hold"], color="red", alpha=0.12)
    for f in result["faults"]:
        memory.text(f["at"], memory.get_ylim()[1], "%s %s" % (f["node"], f["kind"]), rotation=90, va="top",
                    fontsize="x-small")
    memory.set_title("chaos soak, %s, seed %d: faults shaded" % (result["mode"].upper(), result["seed"]))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
