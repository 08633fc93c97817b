"""What several emulation tests do."""
import json
from collections import Counter

CLIENTS = ("c1", "c2", "c3", "c4")


def served_counts(cluster, per_client=100):
    """New connections from every client at once; (Counter of serving hosts, errors)."""
    runs = [cluster.app(c, "apps.loadclient", "--url", "http://%s/" % cluster.vip,
                        "--connections", per_client) for c in CLIENTS]
    results = [json.loads(run.communicate(timeout=180)[0]) for run in runs]
    return sum((Counter(r["served_by"]) for r in results), Counter()), sum(r["errors"] for r in results)
