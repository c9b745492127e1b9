"""The experiment files shipped with the package, found by name.

The files live in ``specs/experiments/`` of the repository (the one source of truth); the
package reaches them as ``fast/experiments/`` (a link in a checkout, the copied files in a
wheel), so ``holstein run quench_cpu``, ``holstein demo`` and ``holstein init quench`` work
from an installed wheel as well as from a checkout.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import fast

__all__ = [
    "EXPERIMENTS",
    "TEMPLATES",
    "experiment_file",
    "init_text",
    "shipped_experiments",
    "summary_line",
]

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
"""The folder of the shipped experiment files."""

TEMPLATES = {
    "quench": {"small": "demo", "cpu": "quench_cpu", "paper": "quench"},
    "voltage": {"small": "voltage_cpu", "cpu": "voltage_cpu", "paper": "voltage"},
    "laser": {"small": "laser_cpu", "cpu": "laser_cpu", "paper": "laser"},
    "coarsening": {"small": "coarsening_small", "cpu": "coarsening_cpu", "paper": "coarsening"},
}
"""The shipped file ``holstein init KIND --size SIZE`` starts from: ``small`` runs in minutes
on a laptop CPU, ``cpu`` is the papers' science sized for a 2-core CPU (an hour or more),
``paper`` the papers' sizes (a GPU or a cluster)."""


def shipped_experiments() -> dict[str, Path]:
    """The shipped experiment files by name (the file name without ``.toml``).

    Returns
    -------
    dict
        Paths by name, sorted; empty if the package was installed without them.
    """
    if not EXPERIMENTS.is_dir():
        return {}
    return {p.stem: p for p in sorted(EXPERIMENTS.glob("*.toml"))}


def experiment_file(name: str) -> Path:
    """The experiment file ``name`` names: an existing path, else a shipped file by name.

    Parameters
    ----------
    name : str
        A path to a TOML file, or the name of a shipped one (``quench_cpu`` or
        ``quench_cpu.toml``).

    Returns
    -------
    Path
        The file.

    Raises
    ------
    ValueError
        One line naming ``name`` and the shipped names, if it is neither.
    """
    path = Path(name)
    if path.is_file() or os.sep in name or "/" in name:
        return path  # a path: read_experiment_file names it if it is missing
    shipped = shipped_experiments()
    stem = name.removesuffix(".toml")
    if stem in shipped:
        return shipped[stem]
    raise ValueError(
        f"experiment file {name!r} does not exist and is not a shipped experiment; "
        f"shipped: {', '.join(shipped) or 'none (installed without them)'}"
    )


def summary_line(path: Path) -> str:
    """The kind of a shipped file and the first sentence of its opening comment.

    Parameters
    ----------
    path : Path
        An experiment file (TOML; its opening ``#`` lines are the comment).

    Returns
    -------
    str
        ``"<kind>: <sentence>"``, the sentence cut to at most 90 characters; the kind is
        ``"reference program"`` for a file without one and ``"?"`` for one that is not valid
        TOML.
    """
    text = path.read_text(encoding="utf-8")
    try:
        head = tomllib.loads(text).get("experiment", {})
        kind = head.get("kind", "reference program") if isinstance(head, dict) else "?"
    except tomllib.TOMLDecodeError:
        kind = "?"
    comment = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("#").strip())
    first = re.split(r"(?<=[.?!])\s", " ".join(comment), maxsplit=1)[0]
    if len(first) > _WIDTH:
        first = first[: _WIDTH - 3].rsplit(" ", 1)[0] + " ..."
    return f"{kind}: {first}" if first else str(kind)


_WIDTH = 90
"""The longest description :func:`summary_line` gives."""


def init_text(kind: str, size: str = "small") -> str:
    """A commented experiment file for workflow ``kind``: the shipped file of that size with
    a first line saying where it came from.

    Parameters
    ----------
    kind : {"quench", "voltage", "laser", "coarsening"}
        A workflow.
    size : {"small", "cpu", "paper"}
        ``small`` (the default: minutes on a laptop CPU), ``cpu`` (the science on a 2-core CPU) or
        ``paper`` (the papers' sizes).

    Returns
    -------
    str
        The file's text.

    Raises
    ------
    ValueError
        Naming the allowed kinds or sizes.
    """
    if kind not in TEMPLATES:
        raise ValueError(f"kind must be one of {sorted(TEMPLATES)}, got {kind!r}")
    if size not in TEMPLATES[kind]:
        raise ValueError(f"size must be one of {sorted(TEMPLATES[kind])}, got {size!r}")
    name = TEMPLATES[kind][size]
    source = shipped_experiments().get(name)
    if source is None:
        raise ValueError(f"the shipped experiment {name!r} is missing from {str(EXPERIMENTS)!r}")
    head = (
        f"# Written by `holstein init {kind} --size {size}` from the shipped {name}.toml "
        f"(holstein-mlff {fast.__version__}).\n"
    )
    return head + source.read_text(encoding="utf-8")
