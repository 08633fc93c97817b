"""A client that holds a conversation through the VIP, as a browser-like HTTP client would: one
keep-alive session, a timeout per request, and retries (with the same Idempotency-Key) when a
request fails. Every event is a JSON line on stdout:

    {"event": "turn", "turn": 7, "stored_turn": 7, "served_by": "web2", "at": ...}
    {"event": "failed", "turn": 8, "attempt": 1, "error": "..."}
    {"event": "started", "id": ..., "at": ...}
    {"event": "checkpoint", "after": 20, "served_by": "web2"}     (then waits for a line on stdin)
    {"event": "done", "id": ..., "turns": [...], "failed_attempts": n, "max_gap": seconds,
     "max_turn": seconds}           (max_gap: between answers, pauses included; max_turn: the
                                     longest one turn took, retries included)

    python -m apps.conversation_client --url http://10.0.0.100 --turns 60 --checkpoint 20
"""
import argparse
import json
import sys
import time

import requests

MAX_TURNS = 10000
RETRY_DELAY = 0.5


class Conversation:
    def __init__(self, url, timeout, retries, prefix, pause=0.0):
        self.url = url.rstrip("/")
        self.timeout, self.retries, self.prefix, self.pause = timeout, retries, prefix, pause
        self.session = requests.Session()
        self.failed_attempts = 0

    def emit(self, **event):
        print(json.dumps(event), flush=True)

    def request(self, method, path, turn=None, **kwargs):
        """One logical request, retried; the decoded answer and the serving host."""
        for attempt in range(1, self.retries + 2):
            try:
                response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
                if response.status_code < 500:
                    response.raise_for_status()
                    return response.json(), response.headers.get("X-Served-By")
                error = "HTTP %d: %s" % (response.status_code, response.text.strip()[:120])
            except requests.RequestException as e:
                error = "%s: %s" % (type(e).__name__, str(e)[:120])
            self.failed_attempts += 1
            self.emit(event="failed", turn=turn, attempt=attempt, error=error, at=time.time())
            if attempt <= self.retries:
                time.sleep(RETRY_DELAY)
        raise SystemExit("conversation_client: %s %s failed %d times" % (method, path, self.retries + 1))

    def run(self, turns, conversation, checkpoints, seconds=None):
        """Append `turns` turns (fewer if `seconds` run out first: the turn under way is finished)."""
        if conversation is None:
            conversation = self.request("POST", "/conversation")[0]["id"]
        self.emit(event="started", id=conversation, at=time.time())
        last_success, max_gap, max_turn = time.monotonic(), 0.0, 0.0
        stop = None if seconds is None else last_success + seconds
        for n in range(1, turns + 1):
            if stop is not None and time.monotonic() >= stop:
                break
            key = "%s-%d" % (self.prefix, n)
            asked = time.monotonic()
            answer, served_by = self.request("POST", "/conversation/%s/turns" % conversation, turn=n,
                                             json={"text": key}, headers={"Idempotency-Key": key})
            now = time.monotonic()
            max_gap, max_turn, last_success = max(max_gap, now - last_success), max(max_turn, now - asked), now
            self.emit(event="turn", turn=n, stored_turn=answer["turn"], served_by=served_by, at=time.time())
            if n in checkpoints:
                self.emit(event="checkpoint", after=n, served_by=served_by)
                sys.stdin.readline()
                last_success = time.monotonic()   # the pause is the test's, not a gap
            time.sleep(self.pause)
        stored = self.request("GET", "/conversation/" + conversation)[0]["turns"]
        self.emit(event="done", id=conversation, turns=[t["text"] for t in stored],
                  failed_attempts=self.failed_attempts, max_gap=round(max_gap, 3), max_turn=round(max_turn, 3))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m apps.conversation_client", description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="the VIP, e.g. http://10.0.0.100")
    parser.add_argument("--turns", type=int, default=10, help="turns to append, 1..%d" % MAX_TURNS)
    parser.add_argument("--conversation", help="join this conversation instead of starting one")
    parser.add_argument("--checkpoint", type=int, action="append", default=[],
                        help="after this turn, report and wait for a line on stdin (repeatable)")
    parser.add_argument("--prefix", default="turn", help="text of turn n is PREFIX-n (also its Idempotency-Key)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    parser.add_argument("--retries", type=int, default=8, help="retries of a failed request")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between turns, as a person types")
    parser.add_argument("--seconds", type=float, help="stop after this long (the turn under way is finished)")
    args = parser.parse_args(argv)
    if not 1 <= args.turns <= MAX_TURNS:
        parser.error("--turns must be from 1 to %d" % MAX_TURNS)
    if not 0 <= args.pause <= 60:
        parser.error("--pause must be from 0 to 60 seconds")
    if args.seconds is not None and not 0 < args.seconds <= 24 * 3600:
        parser.error("--seconds must be from 0 to 86400")
    Conversation(args.url, args.timeout, args.retries, args.prefix, args.pause).run(
        args.turns, args.conversation, set(args.checkpoint), args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
