"""The Hugging Face hub, on only where a profile needs it.

`import mm` turns the hub off unless you set HF_HUB_OFFLINE (or its siblings) yourself. A setting that names something
on the hub (`student.name: google/t5-v1_1-base`, `data.source: hub`) is loaded through `fetch`: from a local path or
the cache first, then, if only mm had turned the hub off, from the hub. A hub that does not answer, or one you turned
off, fails at once with the setting's name and the fix, not after a ~48 s network timeout.
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import mm

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
TRUE = ("1", "ON", "YES", "TRUE")
T = TypeVar("T")


class HubError(RuntimeError):
    """A setting needs the hub, and the hub is off or does not answer."""


def fetch(key: str, value: str, load: Callable[[], T]) -> T:
    """`load()` with the hub as it is (a local path or the cache needs no network); if that fails only because mm
    turned the hub off, turn it on and load again."""
    try:
        return load()
    except OSError:  # transformers' and datasets' "not found locally" errors are OSErrors
        if mm.USER_HUB_ENV and not user_offline():  # the user turned the hub on: their error stands
            raise
    require(key, value)
    return load()


def user_offline() -> bool:
    """Whether you turned the hub off yourself (before `import mm`)."""
    return any(mm.USER_HUB_ENV.get(key, "").upper() in TRUE for key in OFFLINE_VARS)


def require(key: str, value: str, timeout: float = 5.0) -> None:
    """Turn the hub on for `value` (the setting `key`), or fail naming the setting and the fix."""
    fix = f"or put the path of a local copy in {key}"
    if user_offline():
        raise HubError(f"{key}: {value!r} is on the Hugging Face hub, and your environment turns the hub off "
                       f"({', '.join(OFFLINE_VARS)}): export them as 0, {fix}")
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if not reachable(endpoint, timeout):
        raise HubError(f"{key}: {value!r} is on the Hugging Face hub, and {endpoint} does not answer from this "
                       f"machine ({timeout:g} s): run once where it does (the download lands in HF_HOME), {fix}")
    for name in OFFLINE_VARS:
        os.environ[name] = "0"
    for module, name in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE"),
                         ("datasets.config", "HF_DATASETS_OFFLINE")):
        if module in sys.modules:  # read once at their import: set where they keep it
            setattr(sys.modules[module], name, False)


def reachable(endpoint: str, timeout: float) -> bool:
    """Whether the endpoint answers at all (an HTTP error is an answer)."""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout)
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True
