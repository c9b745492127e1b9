"""The mirror contract: every public reference name has a fast twin with the same parameters."""

from __future__ import annotations

import importlib
import inspect

import pytest

import reference

MIRRORED = list(reference.TOPICS)


def _parameters(obj: object) -> list[str] | None:
    try:
        sig = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return [p.name for p in sig.parameters.values()]


@pytest.mark.parametrize("module", MIRRORED)
def test_every_public_reference_name_has_a_fast_twin_with_the_same_parameters(module: str) -> None:
    ref = importlib.import_module(f"reference.{module}")
    fst = importlib.import_module(f"fast.{module}")
    missing, mismatched = [], []
    for name in ref.__all__:
        if not hasattr(fst, name):
            missing.append(name)
            continue
        if name not in fst.__all__:
            missing.append(f"{name} (not in fast.{module}.__all__)")
        a, b = getattr(ref, name), getattr(fst, name)
        if a is b or not callable(a):
            continue
        pa, pb = _parameters(a), _parameters(b)
        if pa != pb:
            mismatched.append(f"{name}: reference {pa} vs fast {pb}")
    assert not missing, f"fast.{module} lacks {missing}"
    assert not mismatched, f"signature mismatches in fast.{module}: {mismatched}"


def test_every_reference_module_is_mirrored() -> None:
    import pkgutil

    modules = {
        m.name
        for m in pkgutil.iter_modules(reference.__path__)
        if not m.name.startswith("_") and not m.ispkg  # reference.programs: programs, no twin
    }
    assert modules - set(reference.PLUMBING) == set(MIRRORED)
