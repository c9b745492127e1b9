"""Every public function and method of both packages documents its parameters and what it
returns (numpydoc ``Parameters`` and ``Returns``/``Yields`` sections): the API pages of the
documentation site are built from these docstrings."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import typing
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

import fast
import reference

PACKAGES = (reference, fast)


def _modules() -> Iterator[ModuleType]:
    for package in PACKAGES:
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            if info.name.endswith("__main__"):
                continue
            yield importlib.import_module(info.name)


def _public(module: ModuleType) -> Iterator[tuple[str, Any]]:
    names = getattr(module, "__all__", None)
    for name, value in vars(module).items():
        if name.startswith("_") or (names is not None and name not in names):
            continue
        if getattr(value, "__module__", None) != module.__name__:
            continue  # documented where it is defined
        yield name, value


def _callables() -> dict[str, Callable[..., Any]]:
    """Public functions, and public methods defined in public classes, by dotted name."""
    found: dict[str, Callable[..., Any]] = {}
    for module in _modules():
        for name, value in _public(module):
            if inspect.isfunction(value):
                found[f"{module.__name__}.{name}"] = value
            elif inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_"):
                        continue
                    function = (
                        member.__func__
                        if isinstance(member, (staticmethod, classmethod))
                        else member
                    )
                    if inspect.isfunction(function):
                        found[f"{module.__name__}.{name}.{attr}"] = function
    return found


CALLABLES = _callables()


def _section(doc: str, title: str) -> bool:
    return re.search(rf"^\s*{title}\n\s*-{{{len(title)}}}\s*$", doc, re.MULTILINE) is not None


def _parameters(function: Callable[..., Any]) -> list[str]:
    names = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in ("self", "cls"):
            continue
        names.append(parameter.name)
    return names


def _returns_value(function: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that cannot be resolved here: read it as text
        return inspect.signature(function).return_annotation not in ("None", None)
    value = hints.get("return", type(None))
    if value is type(None):
        return False
    # a context manager or generator that yields None (Iterator[None]) returns nothing to use
    origin, arguments = typing.get_origin(value), typing.get_args(value)
    return not (origin is not None and arguments[:1] == (type(None),) and "Iterator" in str(origin))


def test_the_walk_finds_both_packages() -> None:
    assert any(name.startswith("reference.ed.") for name in CALLABLES)
    assert any(name.startswith("fast.runs.runner.") for name in CALLABLES)
    assert len(CALLABLES) > 400


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_public_functions_document_parameters_and_returns(name: str) -> None:
    function = CALLABLES[name]
    doc = inspect.getdoc(function) or ""
    assert doc, f"{name} has no docstring"
    parameters = _parameters(function)
    if parameters:
        assert _section(doc, "Parameters"), f"{name} has no Parameters section"
        body = doc.split("Parameters", 1)[1]
        for parameter in parameters:
            assert re.search(rf"(^\s*|,\s*)\**{re.escape(parameter)}\b", body, re.MULTILINE), (
                f"{name}: parameter {parameter!r} is not in its Parameters section"
            )
    generator = inspect.isgeneratorfunction(inspect.unwrap(function))
    if _returns_value(function) and not generator:
        assert _section(doc, "Returns"), f"{name} returns a value but has no Returns section"
    if generator and _returns_value(function):
        assert _section(doc, "Yields") or _section(doc, "Returns"), f"{name} has no Yields"
