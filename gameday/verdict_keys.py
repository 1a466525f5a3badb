"""Verdict keys: the words a diagnosis decides and a fault expects, as :mod:`gameday.reasons` is for events.

A fault says which verdict its outage should get (``Fault.expected_verdict``); the diagnosis, a layer above the
faults, decides one from what it sees. Both name it with these keys, so they live below both: the diagnosis adds
their titles and the runbook's actions (:mod:`gameday.diagnose.verdicts`), the faults only name them.

A runbook package adds its own kinds (its diagnosis decides them, its faults expect them): its ``__init__`` lists
them as ``VERDICT_KINDS`` (:class:`VerdictKind`: key, title, the runbook's actions), found through
:mod:`gameday.runbooks` when asked for (:func:`registered`, :data:`KINDS`, :class:`KindTable`), never written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, overload

from gameday import runbooks
from gameday.errors import UsageError

if TYPE_CHECKING:
    from gameday.profile import Profile

T = TypeVar("T")

NO_OUTAGE = "no-outage"
FAILED_DEPLOYMENT = "failed-deployment"
CONFIGURATION_PROBLEM = "configuration-problem"
DEPENDENCY_FAILURE = "dependency-failure"
DEPENDENCY_DEGRADED = "dependency-degraded"
DEPENDENCY_HANG = "dependency-hang"
ALL_REPLICAS_DOWN = "all-replicas-down"
REPLICAS_HANGING = "replicas-hanging"
UNKNOWN = "unknown"
BUILTIN: tuple[str, ...] = (  # the generic rules' kinds (gameday.diagnose.rules)
    NO_OUTAGE, FAILED_DEPLOYMENT, CONFIGURATION_PROBLEM, DEPENDENCY_FAILURE, DEPENDENCY_DEGRADED, DEPENDENCY_HANG,
    ALL_REPLICAS_DOWN, REPLICAS_HANGING, UNKNOWN,
)


@dataclass(frozen=True)
class VerdictKind:
    """A verdict kind a runbook package adds: the key its diagnosis decides and its faults expect, its title for
    people, and the runbook's actions for it (kubectl words, as :data:`gameday.diagnose.verdicts.ACTIONS`)."""

    key: str
    title: str
    actions: tuple[str, ...] = ()


def registered() -> dict[str, VerdictKind]:
    """key -> kind of every kind the runbook packages add (their ``VERDICT_KINDS``); a package that redefines a
    generic kind or another package's is one clear line, naming both."""
    found: dict[str, tuple[VerdictKind, str]] = {}
    for name, package in runbooks.discover().items():
        for kind in getattr(package, "VERDICT_KINDS", ()):
            if not isinstance(kind, VerdictKind):
                raise UsageError(f"{name}.VERDICT_KINDS: {kind!r} is not a gameday.verdict_keys.VerdictKind")
            owner = "the generic rules" if kind.key in BUILTIN else found.get(kind.key, (None, ""))[1]
            if owner and owner != name:
                raise UsageError(f"{name}: verdict kind {kind.key!r} is already defined by {owner}")
            found[kind.key] = (kind, name)
    return {key: kind for key, (kind, _) in found.items()}


def kinds() -> tuple[str, ...]:
    """Every verdict kind: the generic ones, then the runbook packages' (``unknown`` last)."""
    return (*BUILTIN[:-1], *registered(), UNKNOWN)


class _Kinds(Sequence[str]):
    """:func:`kinds` as a constant callers can test membership in and iterate (``kind in KINDS``), always current
    with the runbook packages found."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return kinds()[index]

    def __len__(self) -> int:
        return len(kinds())

    def __iter__(self) -> Iterator[str]:
        return iter(kinds())

    def __contains__(self, key: object) -> bool:
        return key in BUILTIN or key in registered()

    def __repr__(self) -> str:
        return repr(kinds())


KINDS: Sequence[str] = _Kinds()


class KindTable(Mapping[str, T]):
    """A value per verdict kind (its title, its actions): the generic kinds' as written by their module, then each
    runbook package's from its :class:`VerdictKind` (``of``). An unknown key is a KeyError naming the known ones."""

    def __init__(self, builtin: Mapping[str, T], of: Callable[[VerdictKind], T]) -> None:
        self._builtin = dict(builtin)
        self._of = of

    def __getitem__(self, key: str) -> T:
        if key in self._builtin:
            return self._builtin[key]
        kind = registered().get(key)
        if kind is None:
            raise KeyError(f"unknown verdict kind {key!r}: expected one of {', '.join(kinds())}")
        return self._of(kind)

    def __iter__(self) -> Iterator[str]:
        return iter([*self._builtin, *(k for k in registered() if k not in self._builtin)])

    def __len__(self) -> int:
        return len(list(iter(self)))


def dependency_verdict(profile: Profile, name: str, hung: bool = False) -> str:
    """The verdict key a lost dependency should get: ``dependency-failure:<dep>`` when the profile says the
    service cannot work without it (``on_outage: outage``), ``dependency-hang:<dep>`` instead when it is lost by
    hanging (``hung``: accepting connections, never answering), else ``dependency-degraded:<dep>``.
    An unknown name is a :class:`~gameday.errors.UsageError` naming the profile's dependencies."""
    dep = profile.dependency(name)
    if dep.on_outage != "outage":
        return f"{DEPENDENCY_DEGRADED}:{dep.name}"
    return f"{DEPENDENCY_HANG if hung else DEPENDENCY_FAILURE}:{dep.name}"
