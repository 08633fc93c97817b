"""The conversation store against a real etcd."""
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from apps.store import SUSPECT_SECONDS, ConversationStore, NotFound, Unavailable


@pytest.fixture
def store(etcd_url):
    return ConversationStore([etcd_url])


def test_turns_are_appended_in_order(store):
    conversation = store.create()
    assert [store.append(conversation, "turn %d" % i, "web1") for i in range(1, 4)] == [1, 2, 3]
    turns = store.turns(conversation)
    assert [(t["turn"], t["text"], t["served_by"]) for t in turns] == [
        (1, "turn 1", "web1"), (2, "turn 2", "web1"), (3, "turn 3", "web1")]


def test_racing_appends_lose_and_duplicate_nothing(store):
    conversation = store.create()

    def writer(name):
        own = ConversationStore(["http://%s:%d" % (store.clients[0].host, store.clients[0].port)])
        for i in range(25):
            own.append(conversation, "%s-%d" % (name, i), name)
    threads = [threading.Thread(target=writer, args=("w%d" % i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    turns = store.turns(conversation)
    assert [t["turn"] for t in turns] == list(range(1, 151))
    assert len({t["text"] for t in turns}) == 150


def test_a_repeated_request_key_gives_the_same_turn(store):
    conversation = store.create()
    assert store.append(conversation, "hello", "web1", request_key="k1") == 1
    assert store.append(conversation, "hello", "web2", request_key="k1") == 1
    assert store.append(conversation, "next", "web2", request_key="k2") == 2
    assert len(store.turns(conversation)) == 2


def test_unknown_conversations_are_not_found(store):
    with pytest.raises(NotFound):
        store.turns("0" * 32)
    with pytest.raises(NotFound):
        store.append("0" * 32, "x", "web1")


def test_expired_conversations_are_gone(etcd_url):
    short = ConversationStore([etcd_url], ttl=1)
    conversation = short.create()
    short.append(conversation, "soon gone", "web1")
    time.sleep(2.5)
    with pytest.raises(NotFound):
        short.turns(conversation)


def test_a_dead_member_is_skipped_and_no_member_gives_unavailable_fast(etcd_url):
    store = ConversationStore(["http://127.0.0.1:1", etcd_url], attempt_timeout=0.3, deadline=1.0)
    conversation = store.create()
    assert store.append(conversation, "via the second member", "web1") == 1
    dead = ConversationStore(["http://127.0.0.1:1", "http://127.0.0.1:2"], attempt_timeout=0.3, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="DB tier unreachable"):
        dead.create()
    assert time.monotonic() - started < 2.0
    assert not dead.ping(deadline=0.3) and store.ping()


def test_a_member_that_dies_mid_answer_is_one_failed_attempt(etcd_url):
    """A member killed while it answers cuts its answer short; the next member is asked."""
    dying = socket.socket()
    dying.bind(("127.0.0.1", 0))
    dying.listen(8)

    def answer_half():
        while True:
            try:
                connection, _ = dying.accept()
            except OSError:
                return
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{")
            connection.close()
    threading.Thread(target=answer_half, daemon=True).start()
    try:
        store = ConversationStore(["http://127.0.0.1:%d" % dying.getsockname()[1], etcd_url])
        conversation = store.create()
        assert store.append(conversation, "still here", "web1") == 1
    finally:
        dying.close()


def test_a_silent_member_costs_one_short_wait_then_is_asked_last(etcd_url):
    """A member that accepts but never answers (a stalled or cut-off etcd) costs the first request
    one read timeout; later requests ask the live member first, as etcd's client balancer does."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        store = ConversationStore(["http://127.0.0.1:%d" % silent.getsockname()[1], etcd_url])
        started = time.monotonic()
        conversation = store.create()
        assert time.monotonic() - started < 1.0
        waits = []
        for n in range(1, 11):
            started = time.monotonic()
            assert store.append(conversation, "turn %d" % n, "web1") == n
            waits.append(time.monotonic() - started)
        assert max(waits) < 0.15, waits
    finally:
        silent.close()


@contextmanager
def late_member(etcd_url, delay):
    """A member that answers as etcd_url does, each request `delay` seconds late (as a follower
    whose leader is gone, or a member cut off for a moment)."""
    upstream = urlsplit(etcd_url)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def pipe(source, sink, late):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                time.sleep(late)
                sink.sendall(data)
        except OSError:
            pass
        sink.close()

    def serve():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection((upstream.hostname, upstream.port))
            threading.Thread(target=pipe, args=(client, server, delay), daemon=True).start()
            threading.Thread(target=pipe, args=(server, client, 0), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    try:
        yield "http://127.0.0.1:%d" % listener.getsockname()[1]
    finally:
        listener.close()


def test_a_late_member_is_hedged_and_its_late_attempts_apply_nothing_twice(etcd_url):
    """Each call asks the late member first; another member is asked beside it after
    HEDGE_AFTER and answers first. The late member's attempts arrive later and change nothing:
    the conversation is not created again (which would reset its count) and no turn is doubled."""
    with late_member(etcd_url, 0.2) as late_url:
        store = ConversationStore([late_url, etcd_url])
        waits = []

        def timed(call):
            store.preferred = 0
            started = time.monotonic()
            answer = call()
            waits.append(time.monotonic() - started)
            return answer
        conversation = timed(store.create)
        turns = [timed(lambda: store.append(conversation, "turn %d" % n, "web1")) for n in (1, 2, 3)]
        time.sleep(1.5)                 # every late attempt has arrived and been answered
        assert turns == [1, 2, 3]
        assert store.append(conversation, "turn 4", "web1") == 4
        assert [t["text"] for t in store.turns(conversation)] == ["turn %d" % n for n in (1, 2, 3, 4)]
    assert max(waits) < 0.4, waits     # the late member alone: 0.4 s to create, 0.6 s per append


def test_members_that_failed_lately_are_asked_last_and_forgiven_later():
    store = ConversationStore(["http://127.0.0.1:%d" % port for port in (1, 2, 3)])
    assert store._order(now=100.0) == [0, 1, 2]
    store.preferred = 1
    assert store._order(now=100.0) == [1, 2, 0]
    store.failed_at[1] = 99.5
    assert store._order(now=100.0) == [2, 0, 1]
    assert store._order(now=99.5 + SUSPECT_SECONDS) == [1, 2, 0]
