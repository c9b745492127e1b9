"""Fuzzing the experiment loader: random and mutated experiment files.

Every file :func:`fast.runs.registry.load_experiment` reads is either a valid experiment or
one :class:`ValueError` with a one-line message, within :data:`TIME_LIMIT_S`; any other
exception (``TypeError``, ``OverflowError``, ``UnicodeDecodeError``, ``RecursionError``, ...)
is a bug in the loader, and propagates so that hypothesis shrinks the file that raised it.
"""

from __future__ import annotations

import copy
import math
import re
import signal
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fast.runs.registry import WORKFLOWS, load_experiment

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ("demo", "quench", "quench_cpu", "voltage", "voltage_cpu", "laser", "laser_cpu")
"""The experiment files of the fast workflows (``exact_*.toml`` belong to other programs)."""

RAW: dict[str, bytes] = {
    name: (ROOT / "specs" / "experiments" / f"{name}.toml").read_bytes() for name in SHIPPED
}
PARSED: dict[str, dict[str, Any]] = {name: tomllib.loads(raw.decode()) for name, raw in RAW.items()}


def _names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _names(value)


NAMES = sorted(
    {name for data in PARSED.values() for name in _names(data)}
    | set(WORKFLOWS)
    | {"experiment", "kind", "name", "seed"}
)
"""Every table and key name of the shipped files, so that random files reach the sections."""


# ============================================================================ checking


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The experiment file each example overwrites (one per test module)."""
    return tmp_path_factory.mktemp("fuzz") / "experiment.toml"


TIME_LIMIT_S = 10.0
"""Longest a load may take (a shipped file loads in milliseconds): a setting that makes the
loader work for minutes or exhaust memory (a huge cutoff radius, say) is a bug too."""


class _TooSlow(BaseException):
    """Raised by the timer; a BaseException, so that no ``except Exception`` in the loader
    turns it into a ValueError."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    if not hasattr(signal, "SIGALRM"):  # no interval timers: no limit
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check(path: Path, content: bytes | str) -> None:
    """Load ``content`` from ``path``: a workflow, or one ValueError with a one-line message."""
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    try:
        try:
            with _time_limit(TIME_LIMIT_S):
                experiment = load_experiment(path)
        except _TooSlow:
            raise AssertionError(f"load_experiment took more than {TIME_LIMIT_S} s") from None
    except ValueError as exc:
        # Subclasses from outside the project (UnicodeDecodeError, TOMLDecodeError, ...) are
        # exceptions the loader let through, not its own messages.
        if type(exc) is not ValueError and type(exc).__module__.split(".")[0] not in {
            "fast",
            "reference",
        }:
            raise
        message = str(exc)
        assert "\n" not in message, f"ValueError message spans lines: {message!r}"
        assert "\r" not in message, f"ValueError message spans lines: {message!r}"
        return
    assert isinstance(experiment, tuple(WORKFLOWS.values())), type(experiment)


# ============================================================================ TOML writer

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_HEX_FROM_BITS = 4000  # decimal strings of more digits than 4300 do not parse (int limit)


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value >= 0 and value.bit_length() > _HEX_FROM_BITS:
            return hex(value)
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def dumps(data: dict[str, Any]) -> str:
    """TOML for ``data``: top-level tables as ``[headers]``, deeper ones inline."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{_key(name)}]")
            lines.extend(f"{_key(k)} = {_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


# ============================================================================ strategies

keys = st.sampled_from(NAMES) | st.text(st.characters(codec="utf-8"), max_size=12)
texts = st.text(st.characters(codec="utf-8"), max_size=20)
floats = st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324])
ints = (
    st.integers(-(10**6), 10**6)
    | st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30])
    | st.integers(2**63, 2**300)
    | st.integers(-(2**300), -(2**63))
)
moments = (
    st.datetimes(timezones=st.none() | st.just(UTC))
    | st.dates()
    | st.times()
    | st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: d.replace(microsecond=0))
)
scalars = ints | floats | st.booleans() | texts | moments
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)
odd_values: st.SearchStrategy[Any] = (
    values
    | st.builds(list)
    | st.builds(dict)
    | st.lists(floats, min_size=1, max_size=4)
    | st.lists(ints, min_size=1, max_size=4)
    | st.integers(0, 2**32).map(lambda n: 2**4000 + n)  # hex: beyond int's 4300-digit repr
)
kinds = st.sampled_from(sorted(WORKFLOWS)) | texts | odd_values


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Random documents: random sections and keys (many of them real names), random values."""
    tables = st.dictionaries(keys, values, max_size=6)
    data: dict[str, Any] = draw(st.dictionaries(keys, values | tables, max_size=6))
    if draw(st.booleans()):
        data["experiment"] = {"kind": draw(kinds), **draw(tables)}
    return data


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        yield (*prefix, key)
        if isinstance(value, dict | list):
            yield from _paths(value, (*prefix, key))


def _containers(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    for path in _paths(node, prefix):
        if isinstance(_at(node, path), dict | list):
            yield path


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


Mutation = Callable[[st.DrawFn, dict[str, Any]], None]


def _drop(draw: st.DrawFn, data: dict[str, Any]) -> None:
    paths = list(_paths(data))
    if paths:
        path = draw(st.sampled_from(paths))
        del _at(data, path[:-1])[path[-1]]


def _replace(draw: st.DrawFn, data: dict[str, Any]) -> None:
    paths = list(_paths(data))
    if paths:
        path = draw(st.sampled_from(paths))
        _at(data, path[:-1])[path[-1]] = draw(odd_values)


def _rename(draw: st.DrawFn, data: dict[str, Any]) -> None:
    paths = [p for p in _paths(data) if isinstance(p[-1], str)]
    if paths:
        path = draw(st.sampled_from(paths))
        parent = _at(data, path[:-1])
        parent[draw(keys)] = parent.pop(path[-1])


def _add(draw: st.DrawFn, data: dict[str, Any]) -> None:
    container = _at(data, draw(st.sampled_from(list(_containers(data)))))
    if isinstance(container, dict):
        container[draw(keys)] = draw(odd_values)
    else:
        container.append(draw(odd_values))


def _kind(draw: st.DrawFn, data: dict[str, Any]) -> None:
    head = data.get("experiment")
    if not isinstance(head, dict):
        head = data["experiment"] = {}
    head["kind"] = draw(kinds)


def _empty(draw: st.DrawFn, data: dict[str, Any]) -> None:
    container = _at(data, draw(st.sampled_from(list(_containers(data)))))
    container.clear()


MUTATIONS: tuple[Mutation, ...] = (_drop, _replace, _rename, _add, _kind, _empty)


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A shipped file, parsed, with one to four structural mutations."""
    data = copy.deepcopy(PARSED[draw(st.sampled_from(SHIPPED))])
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        mutation(draw, data)
    return data


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    """A shipped file with bytes deleted, inserted or overwritten."""
    data = bytearray(RAW[draw(st.sampled_from(SHIPPED))])
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(data)))
        stop = draw(st.integers(start, min(len(data), start + 8)))
        data[start:stop] = draw(st.binary(max_size=8))
    return bytes(data)


def _deep(n: int, kind: str) -> str:
    if kind == "array":
        return "[physics]\ng = " + "[" * n + "]" * n + "\n"
    if kind == "inline":
        return "[physics]\ng = " + "{a = " * n + "1" + "}" * n + "\n"
    if kind == "dotted":
        return "[physics]\ng" + ".a" * n + " = 1\n"
    return "[physics" + ".a" * n + "]\n"


deep_documents = st.builds(
    _deep, st.integers(1, 3000), st.sampled_from(["array", "inline", "dotted", "header"])
)


# ============================================================================ tests


def test_the_shipped_files_load_and_the_writer_round_trips(target: Path) -> None:
    for name, data in PARSED.items():
        assert tomllib.loads(dumps(data)) == data, name
        _check(target, RAW[name])
        _check(target, dumps(data))


@settings(max_examples=150, deadline=None)
@given(content=st.binary(max_size=300) | st.text(st.characters(codec="utf-8"), max_size=300))
def test_random_bytes_and_text(target: Path, content: bytes | str) -> None:
    _check(target, content)


@settings(max_examples=120, deadline=None)
@given(data=documents())
def test_random_valid_toml(target: Path, data: dict[str, Any]) -> None:
    text = dumps(data)
    tomllib.loads(text)  # the writer itself writes valid TOML
    _check(target, text)


@settings(max_examples=300, deadline=None)
@given(data=mutated_documents())
def test_mutated_shipped_files(target: Path, data: dict[str, Any]) -> None:
    _check(target, dumps(data))


@settings(max_examples=150, deadline=None)
@given(content=mutated_bytes())
def test_byte_mutations_of_shipped_files(target: Path, content: bytes) -> None:
    _check(target, content)


@settings(max_examples=20, deadline=None)
@given(text=deep_documents)
def test_deeply_nested_values(target: Path, text: str) -> None:
    _check(target, text)


def test_an_empty_file(target: Path) -> None:
    _check(target, b"")
