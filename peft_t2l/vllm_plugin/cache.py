"""The on-disk side of the resolver: a bounded store of generated adapters, and each server's own view of it.

`AdapterStore` keeps one plain PEFT folder per (T2L model, description) under `<cache_dir>/adapters/<key>`. A folder
appears whole or not at all (built in a temporary sibling, then renamed), so replicas can share the store: two of them
generating the same description at once both succeed, the second rename loses and its copy is dropped. Least recently
used folders beyond `max_adapters` are renamed away and then deleted.

vLLM reloads an adapter from its path whenever its in-memory LoRA cache dropped it, and it never forgets a resolved
name by itself, so the store cannot delete a folder that some server may still reload. `ServedViews` therefore gives
each server process its own hard-linked copy (`<cache_dir>/served/<host>-<pid>-<random>/...`, no extra bytes on one
file system): the store evicts freely, and a server deletes its own copies only after telling vLLM to forget the name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_key(model_fingerprint: str, description: str) -> str:
    """The store key of a description written by one T2L model (hex, 32 characters).

    Args:
        model_fingerprint: identifies the T2L weights and config (see `resolver.model_fingerprint`).
        description: the stripped description.

    Example:
        ```python
        >>> adapter_key("3f2a...", "translate to French")
        '9c1e...'
        ```
    """
    return hashlib.sha256(f"{model_fingerprint}\0{description}".encode()).hexdigest()[:32]


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ADAPTER_FILES)


def _remove(folder: Path) -> None:
    """Rename away first, so nobody sees a half-deleted adapter folder; then delete."""
    trash = folder.with_name(f".trash-{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return  # another replica removed it already
    shutil.rmtree(trash, ignore_errors=True)


class AdapterStore:
    """A bounded folder of generated PEFT adapters, safe to share between processes and replicas.

    Args:
        root: the cache folder (`ResolverSettings.cache_dir`); adapters live in `root/adapters`.
        max_adapters: most adapter folders kept; the least recently used ones are deleted first.

    Example:
        ```python
        >>> store = AdapterStore("/tmp/t2l-cache", max_adapters=64)
        >>> folder = store.get(key) or store.put(key, lambda out: lora.save_pretrained(out))
        ```
    """

    def __init__(self, root: str | os.PathLike, *, max_adapters: int):
        if max_adapters < 1:
            raise ValueError(f"AdapterStore max_adapters={max_adapters} is invalid: keep at least 1 adapter.")
        self.root = Path(root)
        self.folder = self.root / "adapters"
        self.max_adapters = max_adapters
        self.evictions = 0  # by this process
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(
                f"The adapter cache folder {self.folder} cannot be created ({err}); set T2L_VLLM_CACHE_DIR to a "
                "writable folder."
            ) from err

    def path(self, key: str) -> Path:
        return self.folder / key

    def get(self, key: str) -> Path | None:
        """The adapter folder for `key`, marked as just used; `None` when it is not stored."""
        folder = self.path(key)
        if not is_complete(folder):
            return None
        try:
            os.utime(folder)  # the folder's mtime is its last use: eviction order, shared by all replicas
        except FileNotFoundError:
            return None  # evicted between the check and now
        return folder

    def put(self, key: str, write: Callable[[Path], object]) -> Path:
        """Store an adapter: `write(folder)` fills a fresh folder, which then appears under `key` in one rename.

        If another process stored the same key meanwhile, its folder is kept and ours is dropped: both hold the same
        adapter. Evicts the least recently used folders beyond `max_adapters`, never `key` itself.

        Args:
            key: from `adapter_key`.
            write: called with a folder path that does not exist yet (e.g. `GeneratedLoRA.save_pretrained`).
        """
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=self.folder))
        try:
            staged = tmp / "adapter"
            write(staged)
            if not is_complete(staged):
                raise ValueError(f"The adapter written for key {key} lacks {ADAPTER_FILES}; it was not stored.")
            try:
                os.rename(staged, self.path(key))
            except OSError:
                if not is_complete(self.path(key)):  # not a lost race: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        os.utime(self.path(key))
        self.evict(protect=key)
        return self.path(key)

    def keys(self) -> list[str]:
        """Stored keys, least recently used first."""
        entries = []
        for child in self.folder.iterdir():
            if child.name.startswith("."):
                continue
            try:
                entries.append((child.stat().st_mtime_ns, child.name))
            except FileNotFoundError:
                continue
        return [name for _, name in sorted(entries)]

    def evict(self, *, protect: str | None = None) -> list[str]:
        """Delete least recently used folders until at most `max_adapters` remain; returns the deleted keys."""
        keys = [k for k in self.keys() if k != protect]
        keep = self.max_adapters - (1 if protect is not None else 0)
        gone = keys[: max(0, len(keys) - keep)]
        for key in gone:
            _remove(self.path(key))
        self.evictions += len(gone)
        return gone


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ServedViews:
    """One server's own copies of the adapters it registered with vLLM, bounded, oldest forgotten first.

    Args:
        root: the cache folder; copies live in `root/served/<host>-<pid>-<random>`.
        max_adapters: most names kept registered; beyond it the oldest is forgotten (`forget(name)`), and its copy is
            deleted `retire_seconds` later, so requests already scheduled with it can still load it.
        forget: tells vLLM to drop a name, so its next request resolves it again.
        retire_seconds: grace period before a forgotten copy is deleted.

    Example:
        ```python
        >>> views = ServedViews("/tmp/t2l-cache", max_adapters=64, forget=lambda name: None)
        >>> path = views.add("t2l:translate to French", store_folder)
        ```
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        max_adapters: int,
        forget: Callable[[str], None] | None = None,
        retire_seconds: float = 600.0,
    ):
        self.base = Path(root) / "served"
        # host and pid tell a later server on this host whether the owner is gone; the suffix keeps two resolvers in
        # one process apart
        self.folder = self.base / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.max_adapters, self.forget, self.retire_seconds = max_adapters, forget, retire_seconds
        self._names: OrderedDict[str, Path] = OrderedDict()
        self._retired: list[tuple[float, Path]] = []
        self._counter = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove_dead_servers()

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def add(self, name: str, source: Path) -> tuple[Path, list[str]]:
        """Make this server's copy of `source` for `name`; returns the copy and the names forgotten to make room."""
        self._counter += 1
        # a fresh path per registration: vLLM keeps prefix-cache blocks per path, never reuse one for new weights
        out = self.folder / f"{source.name}-{self._counter}"
        tmp = self.folder / f".tmp-{out.name}"
        tmp.mkdir()
        for file in source.iterdir():
            if file.is_file():
                try:
                    os.link(file, tmp / file.name)
                except OSError:  # another file system, or links not allowed: copy
                    shutil.copy2(file, tmp / file.name)
        os.rename(tmp, out)
        old = self._names.pop(name, None)
        if old is not None:
            self._retired.append((time.monotonic(), old))
        self._names[name] = out
        forgotten = []
        while len(self._names) > self.max_adapters:
            victim, path = self._names.popitem(last=False)
            if self.forget is not None:
                self.forget(victim)
            self._retired.append((time.monotonic(), path))
            forgotten.append(victim)
        self.purge()
        return out, forgotten

    def discard(self, name: str) -> None:
        """Forget a copy vLLM refused to load (no grace period: nothing can be using it)."""
        path = self._names.pop(name, None)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    def purge(self, *, now: float | None = None) -> int:
        """Delete forgotten copies older than the grace period; returns how many were deleted."""
        now = time.monotonic() if now is None else now
        due = [(t, p) for t, p in self._retired if now - t >= self.retire_seconds]
        for _, path in due:
            shutil.rmtree(path, ignore_errors=True)
        self._retired = [(t, p) for t, p in self._retired if now - t < self.retire_seconds]
        return len(due)

    def _remove_dead_servers(self) -> None:
        # copies of a server that died on this host are never needed again; other hosts clean up their own
        host = socket.gethostname()
        for child in self.base.iterdir():
            owner, pid, _ = (child.name.rsplit("-", 2) + ["", ""])[:3]
            if owner == host and pid.isdigit() and child != self.folder and not _pid_alive(int(pid)):
                shutil.rmtree(child, ignore_errors=True)
