"""Conversations kept in etcd (the DB tier), so that any web host can carry on any conversation.

Keys, all attached to the conversation's lease (it expires `ttl` seconds after its creation):
    conv/<id>/meta             {"created": epoch}
    conv/<id>/count            number of turns, the compare-and-swap guard of appends
    conv/<id>/turn/<000001>    {"turn": n, "text": ..., "served_by": ..., "at": epoch}
    conv/<id>/request/<key>    the turn a request key produced (an Idempotency-Key, or the store's own)
An append is one transaction: if count is still n (and the idempotency key is new), write turn
n+1 and count n+1; otherwise read again and retry. Racing appends never lose or duplicate a turn,
and a client that retries a request whose answer it lost gets the same turn back.

The client talks to every member through etcd's JSON gateway (etcd3gw) and fails over between them
by itself, as etcd's own client balancer does: a dead member is noticed at once (refused or reset),
and the next is asked; a member that failed lately is asked last, so one loss costs one short
wait, not one per request. An attempt that is not answered within HEDGE_AFTER is not waited out:
another member is asked beside it (a hedged request, as gRPC's hedging policy does), and the first
answer wins. So a member cut off mid-request, or a follower still forwarding to a lost leader,
costs a call about one Raft election plus HEDGE_AFTER, not a read timeout per member. The whole
call has a deadline, after which it raises Unavailable (the web answers 503) rather than hang.
Every write is idempotent, so a hedged or retried attempt that was applied as well is answered,
never applied twice: an append carries a request key (the caller's Idempotency-Key, or one of its
own) and a conversation is created only if it does not exist.
"""
import base64
import itertools
import json
import random
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

import etcd3gw
import requests
from etcd3gw.exceptions import Etcd3Exception

PREFIX = "conv/"
# A call's deadline outlasts several Raft elections (topologies/cluster.py sets the timers; a
# split vote costs another round), so a leader's loss never fails a request. Without a quorum the
# answer (503) comes after it.
DEADLINE = 3.0
# Per attempt: a member on the LAN accepts a connection within milliseconds, so one that does not
# within CONNECT_TIMEOUT is cut off; an answer not there after READ_TIMEOUT is given up (hedging
# has asked another member long before).
CONNECT_TIMEOUT, READ_TIMEOUT = 0.1, 0.3
# A member answers in a few ms on this LAN (tens under load); one silent for HEDGE_AFTER is joined
# by an attempt on the next member. Once every member was asked, a member is asked again at most
# every RETRY_PAUSE (all of them refuse, or have no leader yet).
HEDGE_AFTER, RETRY_PAUSE = 0.05, 0.02
ATTEMPT_THREADS = 32           # attempts under way at once, over all of a web host's requests
SUSPECT_SECONDS = 2.0          # a member that failed this recently is asked after the others

# What a member that fails mid-answer raises: etcd3gw wraps connection errors and timeouts, but
# not an answer cut short (a member killed while it sends: ChunkedEncodingError, or JSON that
# does not parse). Each is one failed attempt: the next member is asked.
FAILED_ATTEMPT = (Etcd3Exception, requests.RequestException, ValueError)


class Unavailable(Exception):
    """The DB tier did not answer within the deadline."""


class NotFound(Exception):
    """No such conversation (never created, or expired)."""


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _unb64(text):
    return base64.b64decode(text).decode()


def new_conversation_id():
    return uuid.uuid4().hex


class ConversationStore:
    def __init__(self, endpoints, attempt_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), deadline=DEADLINE, ttl=3600):
        self.clients = []
        for url in endpoints:
            parts = urlsplit(url)
            self.clients.append(etcd3gw.Etcd3Client(host=parts.hostname, port=parts.port or 2379,
                                                    timeout=attempt_timeout, api_path="/v3/"))
        self.deadline = deadline
        self.ttl = ttl
        self.preferred = 0            # the member that answered last
        self.failed_at = [float("-inf")] * len(self.clients)     # when each member last failed
        self.attempt_pool = ThreadPoolExecutor(ATTEMPT_THREADS, thread_name_prefix="etcd-attempt")

    # --- failover -----------------------------------------------------------------------------
    def _order(self, now):
        """The members to ask, in order: from the one that answered last on, those that failed
        within SUSPECT_SECONDS after the rest."""
        ring = [(self.preferred + step) % len(self.clients) for step in range(len(self.clients))]
        return sorted(ring, key=lambda index: now - self.failed_at[index] < SUSPECT_SECONDS)

    def _call(self, operation, deadline=None):
        """Run operation(client) against the members (see _order), hedged (see the module's
        docstring), until one succeeds or the deadline passes. operation must be idempotent."""
        give_up = time.monotonic() + (self.deadline if deadline is None else deadline)
        ring, attempts, errors = self._order(time.monotonic()), {}, []  # type: tuple[list, dict, list[str]]
        for launch in itertools.count():
            launched = time.monotonic()
            index = ring[launch % len(ring)]
            attempts[self.attempt_pool.submit(operation, self.clients[index])] = index
            answer = self._first_answer(attempts, min(launched + HEDGE_AFTER, give_up), errors)
            if answer:
                return answer[0]
            if not attempts and launch + 1 >= len(ring):       # every member failed: pace the next round
                time.sleep(max(0.0, min(launched + RETRY_PAUSE, give_up) - time.monotonic()))
            if time.monotonic() >= give_up:
                raise Unavailable("DB tier unreachable (%s)" % ("; ".join(errors[-3:]) or "no answer"))

    def _first_answer(self, attempts, until, errors):
        """Wait until `until` for one of the attempts under way to succeed: [its result], or []
        (at `until`, or at once when every attempt failed). Failed attempts are dropped."""
        while attempts:
            done, _ = wait(attempts, timeout=max(0.0, until - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done:
                return []
            for future in done:
                index = attempts.pop(future)
                try:
                    result = future.result()
                except FAILED_ATTEMPT as e:
                    self._failed(index, e, errors)
                    continue
                self.preferred = index
                return [result]
        return []

    def _failed(self, index, error, errors):
        self.failed_at[index] = time.monotonic()
        reason = (str(error).strip() or type(error).__name__).splitlines()[0][:80]
        errors.append("%s: %s" % (self.clients[index].host, reason))

    @staticmethod
    def _txn(client, compare, success, failure=()):
        """One etcd transaction. etcd3gw's transaction() takes the gateway's JSON as it is: its
        compare-and-swap helpers cover one key, and an append compares two (the count, and the
        request key's absence)."""
        return client.transaction({"compare": list(compare), "success": list(success), "failure": list(failure)})

    @staticmethod
    def _absent(key):
        """A transaction's comparison: key does not exist."""
        return {"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}

    @staticmethod
    def _put(key, value, lease):
        return {"request_put": {"key": _b64(key), "value": _b64(value), "lease": lease}}

    # --- conversations ------------------------------------------------------------------------
    def ping(self, deadline=0.5):
        """True if a quorum answers a linearizable read within `deadline` seconds."""
        try:
            self._call(lambda c: c.get("health"), deadline=deadline)
            return True
        except Unavailable:
            return False

    def create(self):
        conversation = new_conversation_id()
        base = PREFIX + conversation

        def create_with_lease(client):
            lease = client.lease(self.ttl)
            created = self._txn(client, [self._absent(base + "/meta")],
                                [self._put(base + "/meta", json.dumps({"created": time.time()}), lease.id),
                                 self._put(base + "/count", "0", lease.id)])
            if not created.get("succeeded"):       # another (hedged) attempt created it first
                lease.revoke()
            return conversation
        return self._call(create_with_lease)

    @staticmethod
    def _lease_of(client, base):
        found = client.get(base + "/meta", metadata=True)
        if not found:
            raise NotFound(base[len(PREFIX):])
        return found[0][1].get("lease", "0")

    def append(self, conversation, text, served_by, request_key=None):
        """Append one turn; its number. With a request_key seen before, the turn it made."""
        base = PREFIX + conversation
        request = "%s/request/%s" % (base, request_key or "store-" + uuid.uuid4().hex)

        def attempt(client):
            lease = self._lease_of(client, base)
            count = client.get(base + "/count")
            n = int(count[0]) if count else 0
            turn = json.dumps({"turn": n + 1, "text": text, "served_by": served_by, "at": time.time()})
            compare = [{"key": _b64(base + "/count"), "result": "EQUAL", "target": "VALUE", "value": _b64(str(n))}]
            success = [self._put(base + "/count", str(n + 1), lease),
                       self._put("%s/turn/%06d" % (base, n + 1), turn, lease)]
            compare.append(self._absent(request))
            success.append(self._put(request, str(n + 1), lease))
            result = self._txn(client, compare, success, [{"request_range": {"key": _b64(request)}}])
            if result.get("succeeded"):
                return n + 1
            replay = result["responses"][0]["response_range"].get("kvs")
            return int(_unb64(replay[0]["value"])) if replay else None

        for _ in range(200):          # lost races: count moved under us; read again
            turn = self._call(attempt)
            if turn is not None:
                return turn
            time.sleep(random.uniform(0, 0.01))
        raise Unavailable("too much contention on conversation %s" % conversation)

    def turns(self, conversation):
        base = PREFIX + conversation

        def read(client):
            self._lease_of(client, base)
            return client.get_prefix(base + "/turn/", sort_order="ascend", sort_target="key")
        return [json.loads(value) for value, _meta in self._call(read)]
