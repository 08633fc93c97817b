"""One reading of a request's JSON object for the REST API and the web app: each refusal with its
status and a message naming what was wrong."""
import pytest

from core.httpbody import MAX_BODY, HttpError, json_object


def read_of(data):
    return len(data), lambda length: data[:length]


@pytest.mark.parametrize("data, status, message", [
    (b'{"weight": ', 400, "malformed JSON in the request body"),
    (b"[" * 30_000 + b"]" * 30_000, 400, "nested too deeply"),
    (b"[1]", 400, "must be a JSON object with weight"),
    (b"", 400, "must be a JSON object with weight"),
    (b"{}", 400, "missing field(s): weight; expected fields: weight"),
    (b'{"weight": 1, "colour": 2}', 400, "unknown field(s): colour; expected fields: weight"),
])
def test_each_bad_body_is_refused_with_what_was_wrong(data, status, message):
    with pytest.raises(HttpError) as refused:
        json_object(*read_of(data), required=("weight",), optional=())
    assert refused.value.status == status and message in str(refused.value)


def test_a_body_over_the_limit_is_refused_unread():
    def read(_length):
        raise AssertionError("read a body over the limit")
    with pytest.raises(HttpError) as refused:
        json_object(MAX_BODY + 1, read)
    assert refused.value.status == 413 and "at most %d are read" % MAX_BODY in str(refused.value)


def test_fields_are_checked_only_when_asked():
    assert json_object(*read_of(b'{"text": "hi", "extra": 1}')) == {"text": "hi", "extra": 1}
    assert json_object(*read_of(b'{"name": "web1"}'), required=("name",), optional=("weight",)) == {"name": "web1"}
