"""The REST API's per-run token: who holds it may change the cluster; anybody on the machine may
read its state.

The harness makes a new token for every run, in a file of the run directory that only root can
read (`api-token`). The controller reads it at start; the CLI, the harness, the log reviewer and
the dashboard send it as `Authorization: Bearer TOKEN`, a header that a page of another origin
cannot make a browser send without asking the controller first (a CORS preflight, which it
refuses). Each caller also names its door (`X-Lvsdn-Door`), which the event log records with
every change.
"""
import os
import re
import secrets
import stat
from typing import Dict

from core.rules import ConfigError

TOKEN_FILE_NAME = "api-token"
AUTHORIZATION = "Authorization"
BEARER = "Bearer "
DOOR_HEADER = "X-Lvsdn-Door"
REST, CLI, DASHBOARD, REVIEWER, HARNESS = "rest", "cli", "dashboard", "reviewer", "harness"
DOORS = (REST, CLI, DASHBOARD, REVIEWER, HARNESS)     # rest: a caller that names none
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def new_token() -> str:
    return secrets.token_urlsafe(32)      # 43 characters, 256 bits


def make_token_file(path: str) -> str:
    """A new token in a new file at `path` (an old one is replaced), readable by its owner only;
    the token. ConfigError when the file cannot be made private."""
    token = new_token()
    try:
        if os.path.lexists(path):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    except OSError as e:
        raise ConfigError("the API token file %s cannot be made: %s" % (path, e.strerror)) from None
    read_token_file(path)                 # a file system that ignores modes is refused here
    return token


def read_token_file(path: str) -> str:
    """The token kept in `path`; ConfigError saying what is wrong when the file is missing, is
    not a regular file, can be read or written by anyone but its owner, or holds no token."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise ConfigError("the API token file %s cannot be read: %s" % (path, e.strerror)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ConfigError("the API token file %s is not a regular file" % path)
    with os.fdopen(fd) as f:
        if mode & 0o077:
            raise ConfigError("the API token file %s is open to others (mode %04o): it must be readable by its "
                              "owner only (chmod 600 %s)" % (path, stat.S_IMODE(mode), path))
        text = f.read(4096).strip()
    if not text:
        raise ConfigError("the API token file %s is empty" % path)
    if not TOKEN_PATTERN.match(text):
        raise ConfigError("the API token file %s does not hold a token (32 to 128 letters, digits, - or _)" % path)
    return text


def request_headers(token: str, door: str) -> Dict[str, str]:
    """The headers that carry a token and name the caller's door."""
    return {AUTHORIZATION: BEARER + token, DOOR_HEADER: door}
