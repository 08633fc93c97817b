"""The API's gate (controller/access.py) and its token file (core/apitoken.py), as pure logic."""
import os
import stat

import pytest
from webob.headers import EnvironHeaders

from controller.access import ApiGate
from core.apitoken import TOKEN_FILE_NAME, make_token_file, read_token_file
from core.rules import ConfigError

TOKEN = "t" * 43
PORT = 8080
GOOD = {"Host": "127.0.0.1:8080", "Authorization": "Bearer " + TOKEN}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def headers(values):
    """A case-insensitive header mapping as webob gives the gate."""
    return EnvironHeaders({"HTTP_" + k.upper().replace("-", "_") if k != "Content-Type" else "CONTENT_TYPE": v
                           for k, v in values.items()})


def judge(gate, method="POST", query=(), has_body=False, **values):
    given = dict(GOOD, **{k.replace("_", "-"): v for k, v in values.items()})
    refusal = gate.check(method, headers({k: v for k, v in given.items() if v is not None}), list(query), has_body)
    return refusal and (refusal.status, refusal.reason)


@pytest.fixture
def gate():
    return ApiGate(TOKEN, PORT, Clock())


def test_a_change_with_the_token_passes(gate):
    assert judge(gate) is None
    assert judge(gate, "PUT", has_body=True, Content_Type="application/json; charset=utf-8") is None
    assert judge(gate, "DELETE", X_Lvsdn_Door="dashboard") is None


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"])
def test_reads_are_open_on_loopback(gate, host):
    assert judge(gate, "GET", Host=host, Authorization=None) is None


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("host", ["evil.example:8080", "127.0.0.1:9999", "127.0.0.1", "10.0.0.1:8080", ""])
def test_a_foreign_host_is_refused_even_for_reads(gate, method, host):
    assert judge(gate, method, Host=host) == (403, "foreign-host")


@pytest.mark.parametrize("authorization,reason", [(None, "no-token"), ("Bearer wrong", "wrong-token"),
                                                  ("Bearer " + TOKEN[:-1], "wrong-token"), (TOKEN, "no-token"),
                                                  ("Basic " + TOKEN, "no-token")])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_change_without_the_token_is_401(gate, method, authorization, reason):
    assert judge(gate, method, Authorization=authorization) == (401, reason)


def test_a_token_on_the_url_is_refused_even_when_right(gate):
    assert judge(gate, query=["token"]) == (401, "token-in-url")
    assert judge(gate, query=["access_token"], Authorization=None) == (401, "token-in-url")


def test_preflights_and_foreign_origins_are_refused(gate):
    assert judge(gate, "OPTIONS", Authorization=None) == (403, "preflight")
    assert judge(gate, Origin="http://127.0.0.1:9000") == (403, "foreign-origin")
    assert judge(gate, Origin="http://127.0.0.1:8080") is None


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_a_body_that_is_not_json_is_415(gate, content_type):
    assert judge(gate, has_body=True, Content_Type=content_type) == (415, "not-json")
    assert judge(gate, has_body=False, Content_Type=content_type) is None


def test_an_unknown_door_is_refused(gate):
    assert judge(gate, X_Lvsdn_Door="window") == (400, "unknown-door")


def test_wrong_tokens_over_and_over_are_rate_limited_but_the_owner_passes():
    clock = Clock()
    gate = ApiGate(TOKEN, PORT, clock, rate=10, burst=5)
    answers = [judge(gate, Authorization="Bearer guess") for _ in range(20)]
    assert answers[:5] == [(401, "wrong-token")] * 5 and answers[5:] == [(429, "wrong-token")] * 15
    assert judge(gate) is None                                  # the token's holder is never held up
    assert gate.status() == {"refused": {"wrong-token": 20}, "refused_unlogged": 15}
    clock.now += 0.35                                           # three more may be logged 0.35 s later
    assert [judge(gate, Authorization=None)[0] for _ in range(4)] == [401] * 3 + [429]


def test_refusals_past_the_rate_are_not_logged_one_by_one():
    gate = ApiGate(TOKEN, PORT, Clock(), rate=1, burst=2)
    logged = [gate.check("GET", headers({"Host": "evil:8080"}), [], False).logged for _ in range(4)]
    assert logged == [True, True, False, False]


def test_a_new_token_file_is_private_and_read_back(tmp_path):
    path = str(tmp_path / TOKEN_FILE_NAME)
    token = make_token_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and read_token_file(path) == token
    assert make_token_file(path) != token                      # a new run, a new token


@pytest.mark.parametrize("content,mode,message", [
    (None, None, "cannot be read: No such file or directory"),
    ("", 0o600, "is empty"),
    ("\n  \n", 0o600, "is empty"),
    ("short", 0o600, "does not hold a token"),
    ("t" * 43, 0o644, "is open to others (mode 0644): it must be readable by its owner only (chmod 600"),
    ("t" * 43, 0o620, "is open to others (mode 0620)"),
])
def test_a_bad_token_file_is_refused_saying_what_is_wrong(tmp_path, content, mode, message):
    path = tmp_path / TOKEN_FILE_NAME
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    with pytest.raises(ConfigError) as refused:
        read_token_file(str(path))
    assert message in str(refused.value) and str(path) in str(refused.value)


def test_a_token_file_that_is_a_link_or_a_directory_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    make_token_file(str(target))
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_token_file(str(tmp_path / "link"))
    with pytest.raises(ConfigError, match="is not a regular file"):
        read_token_file(str(tmp_path))
