"""What every teacher backend speaks: a Job (one sampled completion to make) in, a Completion out."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of one completion; `seed` differs per sample index so samples differ. No defaults: the
    teacher's come from its config (mm.teacher.make_job), so they cannot drift apart."""

    temperature: float
    top_p: float
    max_tokens: int
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    """One completion to make: chat messages [{'role': ..., 'content': ...}] and how to sample."""

    key: str  # cache key (mm.teacher.job_key)
    messages: tuple[dict[str, str], ...]
    sampling: Sampling


@dataclass(frozen=True)
class Completion:
    """A finished completion, as stored in the cache."""

    key: str
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)


class Backend(Protocol):
    """Makes completions; yields each as soon as it is done, in any order, once per job."""

    name: str
    model: str

    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]: ...
