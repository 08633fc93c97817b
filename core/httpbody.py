"""A request's JSON object, read and refused the same way by the controller's REST API and the
web app."""
import json
from typing import Callable, Dict, Iterable, Optional

MAX_BODY = 64 * 1024           # bytes: every valid request body is a few dozen to a few hundred


class HttpError(Exception):
    """A request refused: `status` is the HTTP status to answer with, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_object(length: int, read: Callable[[int], bytes], required: Iterable[str] = (),
                optional: Optional[Iterable[str]] = None) -> Dict[str, object]:
    """The JSON object in a request body of `length` bytes, which `read(length)` returns; with
    `optional` given, it must hold exactly `required` and some of `optional`, else at least
    `required`. HttpError otherwise (413 for a body over MAX_BODY, which is not read)."""
    if length > MAX_BODY:
        raise HttpError(413, "the request body is %d bytes; at most %d are read" % (length, MAX_BODY))
    try:
        body = json.loads(read(length) or b"null")
    except ValueError as e:
        raise HttpError(400, "malformed JSON in the request body: %s" % e) from None
    except RecursionError:
        raise HttpError(400, "the request body is nested too deeply to be a request") from None
    fields = tuple(required) + tuple(optional or ())
    if not isinstance(body, dict):
        with_fields = " with " + ", ".join(fields) if fields else ""
        raise HttpError(400, "the request body must be a JSON object" + with_fields)
    missing = [f for f in required if f not in body]
    unknown = sorted(set(body) - set(fields)) if optional is not None else []
    if missing or unknown:
        raise HttpError(400, "%s; expected fields: %s" % (
            "missing field(s): " + ", ".join(missing) if missing else "unknown field(s): " + ", ".join(unknown),
            ", ".join(fields)))
    return body
