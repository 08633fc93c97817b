"""Where an edge switch's copies went: dropped by the meter, received, or lost on the way."""
from controller.accounting import CopyAccount


def receive(account, copies):
    for _ in range(copies):
        account.copy_received()


def test_copies_under_way_at_one_poll_are_not_lost():
    account = CopyAccount()
    assert account.polled(made=40, dropped=0) == 0              # counted before the controller began
    assert account.figures() == {"made": 0, "dropped": 0, "received": 0, "lost": 0}
    assert account.polled(made=1040, dropped=900) == 0          # a flood: 140 passed, none arrived yet
    receive(account, 140)
    assert account.polled(made=1050, dropped=905) == 0          # five more under way, the rest arrived
    receive(account, 5)
    assert account.polled(made=1050, dropped=905) == 0
    assert account.figures() == {"made": 1010, "dropped": 905, "received": 145, "lost": 0}


def test_a_copy_still_missing_a_poll_later_is_lost_and_found_once():
    account = CopyAccount()
    account.polled(made=0, dropped=0)
    receive(account, 7)
    assert account.polled(made=10, dropped=0) == 0              # three missing: maybe under way
    assert account.polled(made=12, dropped=0) == 3              # five missing now: three for two polls
    receive(account, 2)
    assert account.polled(made=12, dropped=0) == 0              # found once
    assert account.figures()["lost"] == 3


def test_counters_that_go_back_start_the_count_again_and_keep_what_was_counted():
    account = CopyAccount()
    account.polled(made=100, dropped=0)
    receive(account, 20)
    account.polled(made=120, dropped=0)
    receive(account, 5)
    assert account.polled(made=5, dropped=0) == 0               # the switch restarted: its meters anew
    receive(account, 10)
    assert account.polled(made=15, dropped=0) == 0
    assert account.polled(made=15, dropped=0) == 0
    assert account.figures() == {"made": 35, "dropped": 0, "received": 35, "lost": 0}
