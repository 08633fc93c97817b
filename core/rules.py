"""The rules every checked input shares: what a number and an integer are, and the error that
names a bad value. Settings, the cluster description and the controller's state all check with
these, so that a bool is never a number and NaN is never in range anywhere."""
import math
from typing import TypeGuard


class ConfigError(ValueError):
    """A cluster configuration that cannot work; the message says what and why."""


def is_number(value: object) -> TypeGuard[float]:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: object, low: int, high: int) -> TypeGuard[int]:
    """An int (not a bool) from `low` to `high`."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
