"""The behavioural tests of the earlier issues, re-run against :mod:`fast`.

Each test function of the listed reference test modules that takes no arguments (the
hypothesis-driven ones included) is run a second time with the reference module names it
uses replaced by a NumPy-facing facade over the ``fast`` twin: arrays go in as tensors,
tensors come back as arrays. A physical law checked on the reference is thereby checked on
the fast implementation too. Tests about reference-only internals or exact error wording
are listed in ``SKIP`` with the reason.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest
import torch

import fast
from fast._tensor import to_numpy, to_torch

SKIP: dict[str, str] = {
    "test_ed::test_ed_inputs_are_validated": "fast.chemical_potential is batched over (..., N)",
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


def _names(module: str, names: list[str]) -> dict[str, Any]:
    facade = Facade(importlib.import_module(f"fast.{module}"))
    return {name: getattr(facade, name) for name in names}


MODULES: dict[str, dict[str, Any]] = {
    "tests.reference.test_ed": {"ed": Facade(fast.ed)},
    "tests.reference.test_dynamics": {"dynamics": Facade(fast.dynamics), "ed": Facade(fast.ed)},
    "tests.reference.test_negf": _names("negf", ["negf_densities", "negf_force", "NEGFForceField"]),
    "tests.reference.test_ehrenfest": _names(
        "ehrenfest",
        [
            "ehrenfest_step",
            "simulate_ehrenfest",
            "ehrenfest_energy",
            "ehrenfest_force",
            "propagator",
            "density_matrix_rhs",
        ],
    ),
    "tests.reference.test_observables": _names(
        "observables",
        [
            "staggered_order",
            "local_cdw_order",
            "local_lattice_order",
            "structure_factor",
            "correlation_map",
            "ensemble_order_parameter",
            "spatial_fluctuation",
            "domain_wall_position",
        ],
    ),
    "tests.reference.test_descriptors": _names(
        "descriptors",
        [
            "canonical_element",
            "cs_descriptor",
            "d4_descriptor",
            "frame_features",
            "irrep_coefficients",
            "mirror_pair_features",
            "neighbourhood_values",
            "phases",
            "power_spectrum",
            "reference_irreps",
            "reference_phases",
            "split_irreps",
            "standard_frame",
            "transform_irreps",
        ],
    ),
}


def _cases() -> list[Any]:
    cases = []
    for module_name, replacements in MODULES.items():
        module = importlib.import_module(module_name)
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
