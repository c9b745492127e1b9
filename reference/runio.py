"""Shared helpers of the runnable jobs: configuration loading, run folders, atomic writes.

Every job (``python -m reference.<job>``) follows one pattern:

* settings are a frozen :mod:`attrs` class, loaded from a TOML file (a ``[<section>]`` table
  or the top level) plus command-line overrides through :mod:`cattrs`, with unknown keys
  rejected and every validation error reported as one :class:`ValueError`;
* the run folder is created and probed for writability before any work;
* every file is written under a temporary name and renamed (:func:`atomic_write`), so an
  interrupted run never leaves a half-written file behind;
* :func:`run_cli` turns a :class:`ValueError` or :class:`OSError` into exit code 2 and a
  one-line ``error: ...`` message.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import secrets
import socket
import sys
import tomllib
import traceback
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
import numpy as np
from attrs import AttrsInstance
from numpy.typing import NDArray

import reference

__all__ = [
    "LOCK_FILE",
    "TEMPORARY",
    "FolderInUseError",
    "atomic_write",
    "finite",
    "float_pair",
    "fsync_path",
    "load_config",
    "lock_folder",
    "non_negative",
    "non_negative_int",
    "positive",
    "positive_int",
    "prepare_run_folder",
    "pyplot",
    "reading",
    "run_cli",
    "save_figure",
    "strict_converter",
    "structure",
    "to_jsonable",
    "write_hdf5",
    "write_json",
]

T = TypeVar("T", bound=AttrsInstance)


# ----------------------------------------------------------------------------- validators


def positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """Validate an integer ``>= 1`` (booleans rejected).

    An attrs validator: ``attrs.field(validator=positive_int)``.

    Parameters
    ----------
    instance : object
        The attrs instance being built (unused).
    attribute : attrs.Attribute
        The field being validated; its name goes into the error message.
    value : int
        The value to check: an ``int`` >= 1, not a ``bool``.

    Raises
    ------
    ValueError
        Naming the field and the value, if ``value`` is not allowed.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """Validate an integer ``>= 0`` (booleans rejected).

    An attrs validator: ``attrs.field(validator=non_negative_int)``.

    Parameters
    ----------
    instance : object
        The attrs instance being built (unused).
    attribute : attrs.Attribute
        The field being validated; its name goes into the error message.
    value : int
        The value to check: an ``int`` >= 0, not a ``bool``.

    Raises
    ------
    ValueError
        Naming the field and the value, if ``value`` is not allowed.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """Validate a finite number ``> 0``.

    An attrs validator: ``attrs.field(validator=positive)``.

    Parameters
    ----------
    instance : object
        The attrs instance being built (unused).
    attribute : attrs.Attribute
        The field being validated; its name goes into the error message.
    value : float
        The value to check: a finite number > 0.

    Raises
    ------
    ValueError
        Naming the field and the value, if ``value`` is not allowed.
    """
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """Validate a finite number ``>= 0``.

    An attrs validator: ``attrs.field(validator=non_negative)``.

    Parameters
    ----------
    instance : object
        The attrs instance being built (unused).
    attribute : attrs.Attribute
        The field being validated; its name goes into the error message.
    value : float
        The value to check: a finite number >= 0.

    Raises
    ------
    ValueError
        Naming the field and the value, if ``value`` is not allowed.
    """
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def finite(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """Validate a finite number.

    An attrs validator: ``attrs.field(validator=finite)``.

    Parameters
    ----------
    instance : object
        The attrs instance being built (unused).
    attribute : attrs.Attribute
        The field being validated; its name goes into the error message.
    value : float
        The value to check: any finite number.

    Raises
    ------
    ValueError
        Naming the field and the value, if ``value`` is not allowed.
    """
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, got {value!r}")


def float_pair(value: Any) -> tuple[float, float]:
    """Convert a pair of numbers (list or tuple) to ``tuple[float, float]``.

    Parameters
    ----------
    value : sequence of two numbers
        Anything that unpacks into exactly two items ``float()`` accepts.

    Returns
    -------
    (float, float)
        The two numbers as floats.

    Raises
    ------
    ValueError
        If ``value`` is not a pair of numbers.
    """
    try:
        first, second = value
        return (float(first), float(second))
    except (TypeError, ValueError):
        raise ValueError(f"expected a pair of numbers, got {value!r}") from None


# ----------------------------------------------------------------------------- configuration


def load_config(
    cls: type[T],
    section: str,
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Return an instance of the attrs class ``cls`` from a TOML file and overrides.

    A field of ``cls`` whose type is itself an attrs class is a *section*, read from the
    table of its name (``physics: Physics`` from ``[physics]``); every other field is read
    from ``[section]``. A file with neither that table nor any section is read from its top
    level.

    Parameters
    ----------
    cls : type
        A frozen attrs class whose validators raise :class:`ValueError`.
    section : str
        Name of the TOML table holding the run's own settings (``[section]``).
    path : path-like, optional
        The TOML file; defaults only when omitted.
    overrides : mapping, optional
        Settings that replace the file's: run keys, or ``"table.key"`` for a section's key;
        ``None`` values are ignored.

    Returns
    -------
    cls

    Raises
    ------
    ValueError
        On an unknown table or key (naming it and the allowed ones) or an invalid value
        (all validation messages joined on one line).
    OSError
        If the file cannot be read.
    """
    hints = typing.get_type_hints(cls)
    tables = sorted(a.name for a in attrs.fields(cls) if _is_section(hints.get(a.name)))
    data: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{os.fspath(path)!r} is not valid TOML: {exc}") from None
    if data and not any(isinstance(value, dict) for value in data.values()):
        data = {section: data}  # a file of bare keys: the run's own settings
    unknown = sorted(set(data) - {section, *tables})
    if unknown:
        raise ValueError(
            f"unknown tables {unknown} in {str(path)!r}; allowed: {sorted([section, *tables])}"
        )
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"[{name}] must be a table, got {type(table).__name__}")
    values: dict[str, Any] = dict(data.get(section, {}))
    values.update({name: dict(data[name]) for name in tables if name in data})
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        table, _, name = key.rpartition(".")
        if table and table not in tables:
            raise ValueError(f"unknown table {table!r} in override {key!r}; allowed: {tables}")
        (values.setdefault(table, {}) if table else values)[name] = value
    known = {a.name for a in attrs.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"unknown {section} settings {unknown}; allowed: {sorted(known - set(tables))}"
        )
    return structure(values, cls, f"{section} configuration")


def _is_section(kind: Any) -> bool:
    return isinstance(kind, type) and attrs.has(kind)


def structure(values: Mapping[str, Any], cls: type[T], what: str) -> T:
    """Return ``cls`` built from the plain ``values`` (nested tables for nested classes).

    Parameters
    ----------
    values : mapping
        Settings as read from TOML; keys must be fields of ``cls`` (recursively).
    cls : type
        A frozen attrs class whose validators raise :class:`ValueError`.
    what : str
        What the values are, for the error message (``"experiment 'a.toml'"``).

    Returns
    -------
    cls
        The validated instance.

    Raises
    ------
    ValueError
        ``invalid <what>: <key path>: <message>; ...``, one line naming every failure.
    """
    try:
        return strict_converter().structure(dict(values), cls)
    except cattrs.errors.BaseValidationError as exc:
        raise ValueError(f"invalid {what}: " + "; ".join(_messages(exc))) from None


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"expected true or false, got {value!r}")
    return bool(value)


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def strict_converter() -> cattrs.Converter:
    """A converter that rejects extra keys and never coerces (no ``int(5.5)``, ``bool("no")``).

    Returns
    -------
    cattrs.Converter
        A new converter with ``forbid_extra_keys=True`` and strict hooks for ``int``,
        ``float``, ``bool`` and ``str``.
    """
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _strict_str)
    return converter


def _messages(exc: BaseException, path: str = "") -> list[str]:
    """Flatten a cattrs validation error into one message per failure, with its key path."""
    if isinstance(exc, cattrs.errors.ForbiddenExtraKeysError):
        allowed = sorted(a.name for a in attrs.fields(exc.cl))
        message = f"unknown keys {sorted(exc.extra_fields)}; allowed: {allowed}"
        return [f"{path}: {message}" if path else message]
    if not isinstance(exc, BaseExceptionGroup):
        message = " ".join(str(exc).split()) or type(exc).__name__
        return [f"{path}: {message}" if path else message]
    out: list[str] = []
    for sub in exc.exceptions:
        where = path
        for note in getattr(sub, "__notes__", []):
            if isinstance(note, cattrs.errors.AttributeValidationNote):
                where = f"{path}.{note.name}" if path else note.name
            elif isinstance(note, cattrs.errors.IterableValidationNote):
                where = f"{path}[{note.index}]"
        out.extend(_messages(sub, where))
    return out


def to_jsonable(value: Any) -> Any:
    """Return ``value`` with tuples, NumPy scalars and arrays turned into JSON types.

    Parameters
    ----------
    value : object
        A nest of dicts, lists, tuples, NumPy arrays and scalars, and plain values.

    Returns
    -------
    object
        The same nest with dict keys as strings, tuples and arrays as lists, NumPy scalars
        as Python scalars and non-finite floats as ``None``; other values unchanged.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------------- files


def prepare_run_folder(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` and ``out/figures`` and check that files can be written there.

    Parameters
    ----------
    out : path-like
        The run folder; created with its parents if missing.

    Returns
    -------
    pathlib.Path
        ``Path(out)``.

    Raises
    ------
    ValueError
        If the folder cannot be created or written to.
    """
    folder = Path(out)
    try:
        (folder / "figures").mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"out folder {str(folder)!r} is not writable: {exc}") from None
    return folder


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary sibling of ``path``, sync it and rename it to ``path``.

    The temporary name is unique to the call (``.<name>.<pid>-<random>.tmp``), so two
    writers never share one; it is removed if ``write`` fails, so no partial file is left.
    The file is synced to the disk before the rename and the directory after it, so a
    finished file survives a power loss, not only a kill.

    Parameters
    ----------
    path : pathlib.Path
        The file to write; its folder must exist.
    write : callable
        ``write(tmp)`` writes the whole file at the temporary path ``tmp``; its return
        value is ignored.

    Raises
    ------
    OSError
        Naming ``path``, if the file cannot be written (a full disk included); the original
        error is chained.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except (OSError, RuntimeError) as exc:  # RuntimeError: torch.save on a full disk
        raise OSError(f"cannot write {str(path)!r}: {_one_line(exc)}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def fsync_path(path: Path) -> None:
    """Sync a file or a directory to the disk (a no-op where the system cannot).

    Parameters
    ----------
    path : pathlib.Path
        The file or directory; one that cannot be opened is skipped silently.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory
    finally:
        os.close(fd)


TEMPORARY = "*.tmp"
"""The pattern of :func:`atomic_write`'s temporary files: any such file in a locked folder
is a dead writer's and may be removed."""


@contextlib.contextmanager
def reading(path: str | os.PathLike[str], what: str, remedy: str) -> Iterator[None]:
    """Turn any failure to read ``path`` inside the block into one :class:`ValueError`.

    The message names the file, what it should have been and what to do::

        'runs/x/state.pt' is not a readable trajectory state (UnpicklingError: ...);
        delete it to start that run over

    A :class:`ValueError` that names the file already passes unchanged; a missing file is an
    :class:`OSError` as usual.

    Parameters
    ----------
    path : path-like
        The file being read, named in the message.
    what : str
        What the file should be (``"trajectory state"``).
    remedy : str
        What the user should do about it (``"delete it to start that run over"``).

    Yields
    ------
    None
        Control passes to the ``with`` block, which reads the file.

    Raises
    ------
    ValueError
        If the block fails with anything but :class:`FileNotFoundError` or
        :class:`MemoryError`.
    """
    try:
        yield
    except (FileNotFoundError, MemoryError):
        raise
    except ValueError as exc:
        if os.fspath(path) in str(exc):
            raise  # already names the file: a message of this package
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable {what} ({_one_line(exc)}); {remedy}"
        ) from exc
    except Exception as exc:
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable {what} ({_one_line(exc)}); {remedy}"
        ) from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ----------------------------------------------------------------------------- locks


class FolderInUseError(ValueError):
    """Another process holds the lock of a run folder."""


LOCK_FILE = ".lock"
"""The lock file of a run folder (:func:`lock_folder`)."""


@contextlib.contextmanager
def lock_folder(folder: Path, wait: bool = False) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` for the block; refuse at once if it is held
    (``wait``: wait for it instead, as a unit of work retried while a copy of it still runs).

    The lock is an advisory ``flock`` on ``folder/.lock``, which records its holder (process,
    host, start time, command line). The operating system releases it when the holder exits
    in any way, a ``kill -9`` included, so a dead run never blocks the next one. Every writer
    of a run folder takes it before it checks or writes anything, so two runs never share a
    folder; a campaign gives each unit its own folder, with its own lock.

    Parameters
    ----------
    folder : pathlib.Path
        The run folder (it must exist); the lock file is ``folder / LOCK_FILE``.
    wait : bool
        Block until the lock is free instead of raising at once.

    Yields
    ------
    None
        Control passes to the ``with`` block while the lock is held.

    Raises
    ------
    FolderInUseError
        Naming the folder and its holder, if another process holds the lock.
    """
    import fcntl  # POSIX only: imported here so that the module loads anywhere

    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = path.read_text(errors="replace").strip() or "another process"
            raise FolderInUseError(
                f"run folder {str(folder)!r} is in use by {holder}; wait for it to finish or "
                "use another --out"
            ) from None
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        text = (f"pid {os.getpid()} on {socket.gethostname()} since {started} "
                f"({' '.join(sys.argv) or 'python'})")  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON, atomically (non-finite floats become ``null``).

    Parameters
    ----------
    path : pathlib.Path
        The JSON file to write.
    payload : mapping of str to object
        The content; converted by :func:`to_jsonable` first.

    Raises
    ------
    OSError
        If the file cannot be written (see :func:`atomic_write`).
    """
    text = json.dumps(to_jsonable(dict(payload)), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda p: p.write_text(text))


def write_hdf5(
    path: Path,
    datasets: Mapping[str, NDArray[Any]],
    config: AttrsInstance,
    extra_attrs: Mapping[str, str] | None = None,
) -> None:
    """Write ``datasets`` to an HDF5 file, atomically.

    The file attributes hold ``config`` (an attrs instance, as JSON), ``code_version``
    (:data:`reference.__version__`) and ``extra_attrs``. Arrays with more than one
    dimension are gzip-compressed.

    Parameters
    ----------
    path : pathlib.Path
        The HDF5 file to write.
    datasets : mapping of str to ndarray
        Dataset name -> array (anything :func:`numpy.asarray` accepts).
    config : attrs instance
        The run's settings, stored as JSON in the ``config`` attribute.
    extra_attrs : mapping of str to str, optional
        Further file attributes.

    Raises
    ------
    OSError
        If the file cannot be written (see :func:`atomic_write`).
    """
    import h5py

    def write(p: Path) -> None:
        with h5py.File(p, "w") as fh:
            fh.attrs["config"] = json.dumps(to_jsonable(attrs.asdict(config)))
            fh.attrs["code_version"] = reference.__version__
            for key, value in (extra_attrs or {}).items():
                fh.attrs[key] = value
            for name, data in datasets.items():
                array = np.asarray(data)
                fh.create_dataset(name, data=array, compression="gzip" if array.ndim > 1 else None)

    atomic_write(path, write)


def pyplot() -> Any:
    """Return :mod:`matplotlib.pyplot` on the non-interactive Agg backend.

    Returns
    -------
    module
        :mod:`matplotlib.pyplot`, after ``matplotlib.use("Agg")``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG, atomically, and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it is closed even if saving fails.
    path : pathlib.Path
        The PNG file to write.
    dpi : int
        Resolution in dots per inch.

    Raises
    ------
    OSError
        If the file cannot be written (see :func:`atomic_write`).
    """
    plt = pyplot()

    try:
        atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- command line


def run_cli(job: Callable[[], str], *, debug: bool = False) -> int:
    """Run ``job`` and return a process exit code.

    ``job`` returns a one-line summary, printed on success (exit code 0). Every failure is
    one line ``error: <message>`` on standard error, exit code 2 (1 for an unexpected one):
    a :class:`ValueError` (bad input, a folder in use, a damaged file) or :class:`OSError`
    (a file that cannot be read or written, a full disk) as it is; running out of memory
    with what to do; anything else as an unexpected error to report. ``debug`` also prints
    the traceback.

    Parameters
    ----------
    job : callable
        ``job()`` does the work and returns a one-line summary (str).
    debug : bool
        Also print the traceback of a failure.

    Returns
    -------
    int
        0 on success, 2 for a :class:`ValueError`, :class:`OSError` or
        :class:`MemoryError`, 1 for any other exception, 130 on ``KeyboardInterrupt``.
    """
    try:
        summary = job()
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, ValueError | OSError):
            message, code = " ".join(str(exc).split()), 2
        elif isinstance(exc, MemoryError):
            message, code = ("out of memory; lower the sizes or ensembles of the settings, or "
                             "run on a machine with more memory (the run resumes)"), 2  # fmt: skip
        else:
            message, code = f"unexpected {_one_line(exc)}", 1
            if not debug:
                message += " (rerun with --debug for the traceback, and please report it)"
        print(f"error: {message}", file=sys.stderr)
        return code
    print(summary)
    return 0
