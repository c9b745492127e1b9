"""Fast equals reference: the equivalence registry, driven by hypothesis seeds, on CPU and CUDA."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fast._registry import CASES, Case, compare

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fast_agrees_with_reference(case: Case, device: str, seed: int) -> None:
    err, tol = compare(case, seed, device)
    assert err <= tol, f"{case.name}: max deviation {err:.3e} > tolerance {tol:.3e} (seed {seed})"


def test_check_command_reports_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    from fast.cli import main

    assert main(["check", "--device", "cpu", "--seeds", "1", "--only", "lattice"]) == 0
    out = capsys.readouterr().out
    assert "lattice.neighbour_sum" in out and "all cases agree" in out
    assert main(["check", "--seeds", "0"]) == 2
