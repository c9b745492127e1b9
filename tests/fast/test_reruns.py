"""Behaviour of the fast twin: every reference behaviour test, run again on :mod:`fast`.

How :mod:`fast` physics is checked, in one scheme:

* **equivalence**: the registry (:mod:`fast._registry`, ``tests/fast/test_equivalence.py``,
  ``python -m fast check``) compares every registered pair on random inputs;
* **behaviour**: each argument-free test of ``tests/reference/test_<topic>.py`` (the
  hypothesis-driven ones included) runs a second time here, with every name of that test
  module that is a reference topic module, or a function or class of one with a fast twin,
  replaced by a NumPy-facing facade over the twin (arrays go in as tensors, tensors come back
  as arrays). Nothing is listed by hand: the replacements are read off the test module, so a
  new reference test is checked on the twin the day it is written. A physical law checked on
  the reference is thereby checked on the fast implementation too; ``SKIP`` names the few
  tests that cannot apply, with the reason;
* **twin-only behaviour** (batching, devices, autograd, chunking): ``tests/fast/
  test_behaviour.py``, through its ``backend`` fixture (reference, fast on CPU, fast on CUDA).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import numpy as np
import pytest
import torch

import reference
from fast._tensor import to_numpy, to_torch

ROOT = Path(__file__).resolve().parents[2]

SKIP: dict[str, str] = {
    "test_ed::test_ed_inputs_are_validated": "fast.chemical_potential is batched over (..., N)",
    "test_lattice::test_bad_input_raises_clear_errors": "fast.neighbour_sum is a hot-path "
    "kernel: it does not scan its input for NaN (a device sync per call); fields are checked "
    "where they enter the fast physics",
    "test_testing::test_a_non_conservative_force_fails_and_energy_is_required": "the test "
    "hands NumPy functions to the checkers, which call them with tensors in fast.testing",
    "test_testing::test_a_position_dependent_map_fails_translations": "the test hands NumPy "
    "functions to the checkers, which call them with tensors in fast.testing",
}


def _in(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiuc":
        return torch.as_tensor(value)
    if attrs.has(type(value)) and type(value).__module__.startswith("fast"):
        return to_torch(value, torch.device("cpu"))  # e.g. a fast DynamicsState
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(getattr(v, "_fast", v) for v in value))
    if isinstance(value, tuple):
        return tuple(_in(v) for v in value)
    if isinstance(value, list):
        return [_in(v) for v in value]
    if isinstance(value, dict):
        return {k: _in(v) for k, v in value.items()}
    return value


def _out(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple, e.g. Integrator
        return type(value)(*(_out(v) for v in value))
    if inspect.isfunction(value):
        return _wrap(value)
    if isinstance(value, tuple):
        return tuple(_out(v) for v in value)
    if isinstance(value, list):
        return [_out(v) for v in value]
    if isinstance(value, dict):
        return {k: _out(v) for k, v in value.items()}
    if hasattr(value, "__dict__") and type(value).__module__.startswith("fast"):
        return _Proxy(value)
    return to_numpy(value)


class _Proxy:
    """Wraps a fast object so that its methods take and return NumPy arrays."""

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        return _wrap(attr) if callable(attr) else _out(attr)


def _wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(a._target if isinstance(a, _Proxy) else a for a in args)
        return _out(fn(*_in(args), **{k: _in(v) for k, v in kwargs.items()}))

    call._fast = fn  # type: ignore[attr-defined]
    return call


class Facade:
    """A module-like view of a fast module with NumPy in and out."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._module, name)
        if inspect.isclass(attr) and attr.__module__.startswith("fast"):
            return _wrap(attr)
        return _wrap(attr) if callable(attr) and not inspect.isclass(attr) else attr


def _replacements(module: ModuleType) -> dict[str, Any]:
    """Every name of a test module that is a reference topic module, or a function or class
    of one that has a fast twin, mapped to its NumPy-facing fast twin."""
    out: dict[str, Any] = {}
    for name, value in vars(module).items():
        if isinstance(value, ModuleType):
            topic = value.__name__.removeprefix("reference.")
            if value.__name__.startswith("reference.") and topic in reference.TOPICS:
                out[name] = Facade(importlib.import_module(f"fast.{topic}"))
            continue
        origin = getattr(value, "__module__", "") or ""
        topic = origin.removeprefix("reference.")
        if not origin.startswith("reference.") or topic not in reference.TOPICS:
            continue
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        twin = getattr(importlib.import_module(f"fast.{topic}"), name, None)
        if twin is None or twin is value:
            continue
        # a protocol is used with isinstance: the twin itself, not a converting wrapper
        protocol = inspect.isclass(twin) and getattr(twin, "_is_protocol", False)
        out[name] = (
            twin if protocol else getattr(Facade(importlib.import_module(f"fast.{topic}")), name)
        )
    return out


MODULES = [
    f"tests.reference.test_{topic}"
    for topic in reference.TOPICS
    if (ROOT / "tests" / "reference" / f"test_{topic}.py").exists()
]


def _cases() -> list[Any]:
    cases = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        replacements = _replacements(module)
        for name, fn in sorted(vars(module).items()):
            if not name.startswith("test_") or not callable(fn):
                continue
            if inspect.signature(fn).parameters:
                continue  # needs fixtures or pytest parameters
            test_id = f"{module_name.rsplit('.', 1)[-1]}::{name}"
            marks = [pytest.mark.skip(reason=SKIP[test_id])] if test_id in SKIP else []
            cases.append(pytest.param(module_name, name, replacements, id=test_id, marks=marks))
    return cases


@pytest.mark.parametrize(("module_name", "name", "replacements"), _cases())
def test_behaviour_holds_for_fast(
    module_name: str, name: str, replacements: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module(module_name)
    for attr, value in replacements.items():
        monkeypatch.setattr(module, attr, value)
    getattr(module, name)()
