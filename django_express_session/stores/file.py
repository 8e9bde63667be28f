"""The file store, in session-file-store's layout.

One file per session, ``<path>/<sid><fileExtension>``, holding the record plus
``__lastAccess`` (epoch ms), without a trailing newline. A session is expired when
``__lastAccess + (cookie.originalMaxAge or ttl * 1000) < now``, as in Node.

Writes go to a temporary file that Node ignores (it does not end in the extension) and
are renamed into place, so a reader never sees half a record. Compare-and-set runs under
a lock file per id stripe, shared by every Django process on the machine. Each file's
modification time is set to the moment it expires, so ``prune()`` opens only the files
whose time has passed (and files written by Node, which carry their write time).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from .. import record
from ..core.decide import capped
from ..exceptions import CorruptRecord, CreateError, InvalidSessionId
from ..record import Record, now_ms
from .base import Store, Versioned, check_number, check_str, option_error

try:
    import fcntl
except ImportError:  # Windows: the in-process lock still serialises threads
    fcntl = None  # type: ignore[assignment]

LAST_ACCESS = "__lastAccess"
LOCK_STRIPES = 64
# Letters, digits, "-" and "_" (what the default genid makes), and "." after the first
# character: never a path separator, a NUL, "." or "..".
SAFE_SID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")


def _whole(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


class FileStore(Store):
    name = "file"
    metadata_keys = frozenset({LAST_ACCESS})
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] = "./sessions",
        ttl: int = 3600,
        reapInterval: int = 3600,
        fileExtension: str = ".json",
        # session-file-store retries reads that race a half-written file; reads here
        # never see one, so these are accepted for a copied Node config and unused.
        retries: int = 5,
        factor: float = 1,
        minTimeout: int = 50,
        maxTimeout: int = 100,
        secret: str | None = None,
    ) -> None:
        if secret is not None:
            raise option_error(
                self.name, "secret", "is not supported: encrypted session files cannot be shared"
            )
        self.path = Path(path)
        self.ttl = check_number(self.name, "ttl", ttl, minimum=1)
        self.reap_interval = check_number(self.name, "reapInterval", reapInterval)
        self.extension = check_str(self.name, "fileExtension", fileExtension)
        if "/" in self.extension or os.sep in self.extension:
            raise option_error(self.name, "fileExtension", "must not contain a path separator")
        for key, value in (
            ("retries", retries),
            ("factor", factor),
            ("minTimeout", minTimeout),
            ("maxTimeout", maxTimeout),
        ):
            check_number(self.name, key, value, minimum=0)
        self._thread_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._ready = False
        self._reaper: threading.Timer | None = None

    def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None

    # -- express API ----------------------------------------------------------------------

    def get(self, sid: str) -> Record | None:
        loaded = self.read(sid)
        return None if loaded is None else loaded.record

    def set(self, sid: str, session: Record) -> None:
        with self._locked(sid):
            self._write(sid, session)

    def destroy(self, sid: str) -> None:
        if not SAFE_SID.fullmatch(sid):
            return
        with contextlib.suppress(FileNotFoundError):
            self._file(sid).unlink()

    def touch(self, sid: str, session: Record) -> None:
        """Rewrite the file with the new cookie and ``__lastAccess`` (as Node does), but
        never recreate a missing or expired one."""
        if not SAFE_SID.fullmatch(sid):
            return
        with self._locked(sid):
            current = self._load(sid)
            if current is not None:
                current[0]["cookie"] = session["cookie"]
                self._write(sid, current[0])

    def all(self) -> dict[str, Record]:
        sessions = {}
        for sid in self._ids():
            with contextlib.suppress(CorruptRecord):
                loaded = self._load(sid)
                if loaded is not None:
                    sessions[sid] = loaded[0]
        return sessions

    def clear(self) -> None:
        for sid in self._ids():
            self.destroy(sid)

    def length(self) -> int:
        # Live records only, as all() sees them: a file's name says nothing of its expiry.
        return len(self.all())

    def prune(self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None) -> int:
        removed = 0
        now = time.time()
        for entry in self._entries():
            try:
                if entry.stat().st_mtime > now:
                    continue  # written here, and its expiry (the mtime) is still ahead
                sid = entry.name[: -len(self.extension)]
                with self._locked(sid):
                    if self._expired_on_disk(sid):
                        if not dry_run:
                            self._file(sid).unlink()
                        removed += 1
            except FileNotFoundError:
                continue
            if progress is not None and removed and removed % 1000 == 0:
                progress(removed)
        return removed

    # -- safe writes ----------------------------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        if not SAFE_SID.fullmatch(sid):
            return None  # never a path outside the directory
        self._start_reaper()
        loaded = self._load(sid)
        if loaded is None:
            return None
        session, raw = loaded
        last_access = session.get(LAST_ACCESS)
        return Versioned(
            session,
            version=raw,
            expires_at=self._ends_ms(session),
            touched_at=None if isinstance(last_access, bool) else _whole(last_access),
        )

    def fresh_expiry(self, session: Record) -> int | None:
        """session-file-store's expiry of a file written now (never past the cap)."""
        fresh = now_ms() + (record.original_max_age(session) or int(self.ttl * 1000))
        return capped(fresh, self.cap_of(session))

    def _ends_ms(self, session: Record) -> int:
        """When Django counts the file as expired: session-file-store's expiry, or the
        absolute cap when that comes first (Node's session-file-store does not know the
        cap: the Express app enforces it itself, see examples/absolute-timeout)."""
        return capped(self._expiry_ms(session), self.cap_of(session)) or 0

    def create(self, sid: str, session: Record) -> None:
        with self._locked(sid):
            temporary = self._write_temporary(sid, session)
            try:
                os.link(temporary, self._file(sid))  # fails if the file exists
            except FileExistsError:
                raise CreateError(sid) from None
            finally:
                temporary.unlink()

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        with self._locked(sid):
            current = self._load(sid)
            if current is None or current[1] != version:
                return False
            self._write(sid, session)
            return True

    # -- internals ------------------------------------------------------------------------

    def _file(self, sid: str) -> Path:
        if not SAFE_SID.fullmatch(sid):
            raise InvalidSessionId(
                f"{sid!r} cannot be a session file name (use letters, digits, '-', '_' and '.')"
            )
        return self.path / (sid + self.extension)

    def _directory(self) -> Path:
        if not self._ready:
            (self.path / ".locks").mkdir(parents=True, exist_ok=True)
            self._ready = True
        return self.path

    @contextlib.contextmanager
    def _locked(self, sid: str) -> Iterator[None]:
        self._file(sid)  # validates the id before anything touches the disk
        stripe = zlib.crc32(sid.encode()) % LOCK_STRIPES
        with self._thread_locks[stripe]:
            if fcntl is None:
                yield
                return
            lock_path = self._directory() / ".locks" / f"{stripe}.lock"
            with open(lock_path, "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _expiry_ms(self, session: Record) -> int:
        last_access = session.get(LAST_ACCESS)
        if isinstance(last_access, bool) or not isinstance(last_access, (int, float)):
            return 0  # Node reads a record without one as expired
        return int(last_access) + (record.original_max_age(session) or int(self.ttl * 1000))

    def _load(self, sid: str) -> tuple[Record, bytes] | None:
        """The unexpired record and its exact bytes, or None."""
        try:
            raw = self._file(sid).read_bytes()
        except FileNotFoundError:
            return None
        session = record.loads(raw)
        if self._expiry_ms(session) < now_ms():
            return None
        return session, raw

    def _expired_on_disk(self, sid: str) -> bool:
        try:
            session = record.loads(self._file(sid).read_bytes())
        except CorruptRecord:
            return False  # not ours to judge; left for a person to look at
        return self._ends_ms(session) < now_ms()

    def _write_temporary(self, sid: str, session: Record) -> Path:
        session = {**session, LAST_ACCESS: now_ms()}
        data = record.dumps(session).encode("utf-8")
        temporary = self._directory() / f".{sid}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
        expires = self._ends_ms(session) / 1000
        os.utime(temporary, (expires, expires))
        return temporary

    def _write(self, sid: str, session: Record) -> None:
        os.replace(self._write_temporary(sid, session), self._file(sid))

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        try:
            with os.scandir(self.path) as entries:
                for entry in entries:
                    name = entry.name
                    if name.endswith(self.extension) and SAFE_SID.fullmatch(
                        name[: -len(self.extension)]
                    ):
                        yield entry
        except FileNotFoundError:
            return

    def _ids(self) -> Iterator[str]:
        for entry in self._entries():
            yield entry.name[: -len(self.extension)]

    def _start_reaper(self) -> None:
        # session-file-store's reaper: prune every reapInterval seconds (-1: never).
        if self._reaper is not None or self.reap_interval <= 0:
            return
        self._reaper = threading.Timer(self.reap_interval, self._reap)
        self._reaper.daemon = True
        self._reaper.start()

    def _reap(self) -> None:
        self._reaper = None
        with contextlib.suppress(OSError, CorruptRecord):
            self.prune()
        self._start_reaper()
