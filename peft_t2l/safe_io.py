"""Writing output folders safely: checked before the work starts, built whole in a sibling, swapped in, one writer.

A reader of an adapter or model folder must never see new weights next to an old README, and a careless `--out`
must never replace a folder that is not ours (the current directory, a project, a file).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere concurrent writers are not detected
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

ADAPTER_FILES = frozenset({"adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md"})


def is_adapter_folder(folder: Path) -> bool:
    """True when `folder` holds only what an adapter save writes, so replacing it loses nothing else."""
    return all(p.name in ADAPTER_FILES for p in folder.iterdir())


def is_t2l_folder(folder: Path) -> bool:
    """True when `folder` is a saved T2L model (its config.json says `model_type: t2l`)."""
    import json

    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") == "t2l"
    except (OSError, ValueError, AttributeError):
        return False


def check_output_folder(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    what: str = "output folder",
    replaceable: Callable[[Path], bool] | None = None,
    flag: str = "--out",
) -> Path:
    """Refuse an output folder that cannot or must not be written, before any work is done.

    Args:
        path: the folder to write.
        overwrite: whether an existing, non-empty folder may be replaced.
        what: what will be written there, for the message (e.g. "adapter folder").
        replaceable: with `overwrite`, a non-empty folder is replaced only if this returns True for it (default:
            any folder); it keeps a careless path from wiping out something that is not a previous output.
        flag: the option the user set, for the message.

    Returns:
        The path, unchanged but as a `Path`.

    Example:
        ```python
        >>> out = check_output_folder("math-lora", overwrite=False, what="adapter folder")
        ```
    """
    raw = os.fspath(path)
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{flag}={raw!r} is empty; name the {what} to write, e.g. {flag} my-adapter.")
    out = Path(raw)
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ValueError(
            f"{flag}={raw!r} is the current folder or one above it; name a new sub-folder for the {what} instead."
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag}={raw!r} is a file, not a folder; choose a folder name for the {what}.")
    if out.is_dir():
        try:
            non_empty = any(out.iterdir())
        except OSError as err:
            raise ValueError(f"{flag}={raw!r} cannot be read ({err.strerror}); choose another folder.") from None
        if non_empty and not overwrite:
            raise ValueError(
                f"{flag}={raw!r} exists and is not empty; choose a new folder, or pass --overwrite to replace it."
            )
        if non_empty and replaceable is not None and not replaceable(out):
            raise ValueError(
                f"{flag}={raw!r} holds files that are not a previous {what}; refusing to replace it even when "
                "overwriting. Choose a new folder."
            )
    parent = _existing_ancestor(resolved.parent)
    if not parent.is_dir():
        raise ValueError(f"{flag}={raw!r} is inside {str(parent)!r}, which is a file; choose a folder path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}={raw!r}: {str(parent)!r} is not writable; choose a folder you can write to.")
    return out


@contextmanager
def write_folder(
    path: str | os.PathLike,
    *,
    overwrite: bool = True,
    what: str = "output folder",
    replaceable: Callable[[Path], bool] | None = None,
    flag: str = "save_directory",
) -> Iterator[Path]:
    """Yield an empty temporary sibling of `path` to write into; on success it replaces `path` as a whole.

    While the block runs, a lock next to `path` makes a second writer of the same folder fail at once instead of
    mixing files. On an error (or Ctrl-C) the temporary folder is removed and `path` is left as it was. Files
    written inside keep the process umask (nothing is forced to 0600).

    Args:
        path: the folder to produce.
        overwrite: whether an existing, non-empty folder may be replaced.
        what, replaceable, flag: as in `check_output_folder`.

    Example:
        ```python
        >>> with write_folder("math-lora", what="adapter folder") as tmp:
        ...     (tmp / "adapter_config.json").write_text("{}")
        ```
    """
    out = check_output_folder(path, overwrite=overwrite, what=what, replaceable=replaceable, flag=flag)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{flag}={os.fspath(path)!r}: cannot create {str(out.parent)!r} ({err.strerror}).") from None
    lock_path = out.parent / f".{out.name}.lock"
    with _lock(lock_path, out, flag):
        # checked again under the lock: another writer may have finished between the first check and now
        check_output_folder(out, overwrite=overwrite, what=what, replaceable=replaceable, flag=flag)
        tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            os.mkdir(tmp)  # mkdir honours the umask; mkdtemp would force 0700
        except OSError as err:
            raise ValueError(
                f"{flag}={os.fspath(path)!r}: cannot create a folder in {str(out.parent)!r} ({err.strerror}); "
                "choose a folder you can write to."
            ) from None
        try:
            yield tmp
            _apply_umask(tmp)
            _swap_into_place(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def current_umask() -> int:
    """The process umask, read without changing it (os.umask alone must set it, which races with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _apply_umask(folder: Path) -> None:
    # some writers (safetensors, mkstemp) create 0600 files whatever the umask; a serving account must read them
    mask = current_umask()
    folder.chmod(0o777 & ~mask)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _swap_into_place(tmp: Path, out: Path) -> None:
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _lock(lock_path: Path, out: Path, flag: str) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        handle = open(lock_path, "a")  # noqa: SIM115
    except OSError as err:
        raise ValueError(
            f"{flag}={str(out)!r}: cannot write next to it ({err.strerror}); choose another folder."
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{flag}={str(out)!r} is being written by another process right now; wait for it or choose another "
                "folder."
            ) from None
        try:
            yield
        finally:
            try:
                lock_path.unlink()
            except OSError:
                pass
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
