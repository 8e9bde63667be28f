"""The file store, in session-file-store's layout.

One file per session, ``<path>/<sid><fileExtension>``, holding the record plus
``__lastAccess`` (epoch ms), without a trailing newline. A session is expired when
``__lastAccess + (cookie.originalMaxAge or ttl * 1000) < now``, as in Node.

Writes go to a temporary file that Node ignores (it does not end in the extension) and
are renamed into place, so a reader never sees half a record. Files are created with
``mode`` (0600 by default) in a directory of the matching mode (0700), and nothing in the
directory is opened through a symbolic link: a temporary file has an unpredictable name
and is created exclusively, and session and lock files are opened with ``O_NOFOLLOW``. Compare-and-set runs under
a lock file per id stripe, shared by every Django process on the machine. Each file's
modification time is set to the moment it expires, so ``prune()`` opens only the files
whose time has passed (and files written by Node, which carry their write time).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import secrets
import stat
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .. import record
from ..core.lifetime import capped
from ..exceptions import CorruptRecord, CreateError, InvalidSessionId
from ..record import Record, now_ms
from ..validation import StoreOptions, check_str, number, option, option_error
from .base import Store, Versioned
from .resources import PeriodicPrune

try:
    import fcntl
except ImportError:  # Windows: the in-process lock still serialises threads
    fcntl = None  # type: ignore[assignment]

LAST_ACCESS = "__lastAccess"
LOCK_STRIPES = 64
DEFAULT_MODE = 0o600
# Where the platform has them (not on Windows): never open through a symlink, never block
# on a FIFO planted in place of a session file, never leak a descriptor to a child.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
# Letters, digits, "-" and "_" (what the default genid makes), and "." after the first
# character: never a path separator, a NUL, "." or "..".
SAFE_SID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")


def _hint_path(path: Any, directory: Path) -> Any:
    """A path with its file name cut to a hint when it is a file of the sessions
    directory (a session file's name is its id); any other path (the directory itself,
    a parent, a lock file) whole, so the log says exactly which one failed."""
    if not isinstance(path, str):
        return path
    head, _, name = path.rpartition(os.sep)
    if head != str(directory) or name == ".locks":
        return path
    return f"{head}{os.sep}{record.sid_hint(name)}"


def _ids_hidden(method: Callable[..., Any]) -> Callable[..., Any]:
    """Re-raise an ``OSError`` with the session ids in its file names cut to hints: its
    text reaches the log (as the reason of a 503)."""

    @functools.wraps(method)
    def wrapper(store: FileStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(store, *args, **kwargs)
        except OSError as error:
            if error.filename is None and error.filename2 is None:
                raise
            raise OSError(
                error.errno, error.strerror, _hint_path(error.filename, store.path), None,
                _hint_path(error.filename2, store.path),
            ) from None  # fmt: skip

    return wrapper


def _whole(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


def _file_mode(store: str, key: str, mode: Any) -> int:
    if (
        isinstance(mode, bool)
        or not isinstance(mode, int)
        or not 0 <= mode <= 0o777
        or mode & 0o600 != 0o600
    ):
        raise option_error(
            store,
            key,
            f"must be a file mode such as 0o600 or 0o640 that lets the owner read and "
            f"write, not {mode!r}",
        )
    return mode


def _no_secret(store: str, key: str, secret: Any) -> None:
    if secret is not None:
        raise option_error(store, key, "is not supported: encrypted session files cannot be shared")


def _extension(store: str, key: str, value: Any) -> str:
    extension = check_str(store, key, value)
    if "/" in extension or os.sep in extension:
        raise option_error(store, key, "must not contain a path separator")
    return extension


@dataclass(frozen=True, slots=True)
class FileOptions(StoreOptions):
    """session-file-store's options. ``retries``, ``factor``, ``minTimeout`` and
    ``maxTimeout`` are accepted for a copied Node config and unused: session-file-store
    retries reads that race a half-written file, and reads here never see one."""

    store: ClassVar[str] = "file"

    path: str | os.PathLike[str] = option("path", default="./sessions")
    ttl: float = option("ttl", number(minimum=1), default=3600)
    reap_interval: float = option("reapInterval", number(), default=3600)
    file_extension: str = option("fileExtension", _extension, default=".json")
    retries: float = option("retries", number(minimum=0), default=5, ignored=True)
    factor: float = option("factor", number(minimum=0), default=1, ignored=True)
    min_timeout: float = option("minTimeout", number(minimum=0), default=50, ignored=True)
    max_timeout: float = option("maxTimeout", number(minimum=0), default=100, ignored=True)
    secret: None = option("secret", _no_secret, default=None)
    mode: int = option("mode", _file_mode, default=DEFAULT_MODE)


class FileStore(Store):
    name = "file"
    #: A local directory is not "reached": what fails is writing to it.
    failure = "cannot be written"
    metadata_keys = frozenset({LAST_ACCESS})
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    Options = FileOptions
    options: FileOptions

    def _setup(self) -> None:
        options = self.options
        #: Session, temporary and lock files get this mode; directories the store creates
        #: get it plus an execute bit wherever it has a read bit (0o640 -> 0o750).
        self.mode = options.mode
        self.directory_mode = options.mode | (options.mode & 0o444) >> 2
        self.path = Path(options.path)
        self.extension = options.file_extension
        self._thread_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._ready = False
        # session-file-store's reaper: prune every reapInterval seconds (-1: never),
        # from the first read on.
        self._reaper = PeriodicPrune(self, self.options.reap_interval)

    def close(self) -> None:
        self._reaper.stop()

    def directory_problem(self) -> str | None:
        """Why the sessions directory cannot be used (None: it exists, or can be created,
        and can be written), for ``manage.py check``: a directory made and removed at
        once in it (or in its nearest existing parent) says so, where permission bits
        cannot (root, a read-only mount, ``/proc``). Nothing it makes stays."""
        path = Path(os.path.abspath(self.path))
        target = path
        while not target.exists():
            target = target.parent
        if not target.is_dir():
            return f"{path} cannot be created: {target} is not a directory"
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".probe-", dir=target))
        except OSError as error:
            if target == path:
                return f"{path} cannot be written ({error.strerror})"
            return f"{path} cannot be created: {target} cannot be written ({error.strerror})"
        return None

    # -- the session policy: a file beside the sessions directory --------------------------

    def _policy_file(self, side: str) -> Path:
        return self.path.parent / f"{self.path.name}.policy.{side}.json"

    def read_policy(self, side: str) -> str | None:
        try:
            return self._policy_file(side).read_text("utf-8")
        except FileNotFoundError:
            return None

    def publish_policy(self, side: str, document: str) -> None:
        target = self._policy_file(side)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
        descriptor = self._open_new(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(document.encode("utf-8"))
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    # -- express API ----------------------------------------------------------------------

    @_ids_hidden
    def destroy(self, sid: str) -> None:
        if not SAFE_SID.fullmatch(sid):
            return
        with contextlib.suppress(FileNotFoundError):
            self._file(sid).unlink()

    @_ids_hidden
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

    @_ids_hidden
    def all(self) -> dict[str, Record]:
        sessions = {}
        for sid in self._ids():
            with contextlib.suppress(CorruptRecord):
                loaded = self._load(sid)
                if loaded is not None:
                    sessions[sid] = loaded[0]
        return sessions

    @_ids_hidden
    def clear(self) -> None:
        for sid in self._ids():
            self.destroy(sid)

    @_ids_hidden
    def length(self) -> int:
        # Live records only, as all() sees them: a file's name says nothing of its expiry.
        return len(self.all())

    @_ids_hidden
    def prune(self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None) -> int:
        removed = 0
        now = time.time()
        for entry in self._entries():
            try:
                if entry.stat(follow_symlinks=False).st_mtime > now:
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

    @_ids_hidden
    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        if not SAFE_SID.fullmatch(sid):
            return None  # never a path outside the directory
        self._reaper.start()
        self._directory()
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
        fresh = now_ms() + (record.original_max_age(session) or int(self.options.ttl * 1000))
        return capped(fresh, self.cap_of(session))

    def _ends_ms(self, session: Record) -> int:
        """When Django counts the file as expired: session-file-store's expiry, or the
        absolute cap when that comes first (Node's session-file-store does not know the
        cap: the Express app enforces it itself, with the npm package's guard())."""
        return capped(self._expiry_ms(session), self.cap_of(session)) or 0

    @_ids_hidden
    def create(self, sid: str, session: Record) -> None:
        with self._locked(sid):
            temporary = self._write_temporary(sid, session)
            try:
                os.link(temporary, self._file(sid))  # fails if the file exists
            except FileExistsError:
                raise CreateError(sid) from None
            finally:
                temporary.unlink()

    @_ids_hidden
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
                f"session id {record.sid_hint(sid)!r} cannot be a session file name (use "
                f"letters, digits, '-', '_' and '.')"
            )
        return self.path / (sid + self.extension)

    def _directory(self) -> Path:
        """The sessions directory, created (with ``.locks``) at this store's first use. A
        directory that disappears later is an error (a 503), never an empty store."""
        if not self._ready:
            if not self.path.is_dir():
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._make_directory(self.path)
                except OSError as error:  # name the directory wanted, not only the parent
                    raise OSError(
                        error.errno, f"the sessions directory {self.path} cannot be created "
                        f"({error.strerror})", error.filename,
                    ) from None  # fmt: skip
            locks = self.path / ".locks"
            self._make_directory(locks)
            if not stat.S_ISDIR(os.lstat(locks).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory (a symlink?)", str(locks))
            self._ready = True
        return self.path

    def _make_directory(self, path: Path) -> None:
        try:
            path.mkdir(mode=self.directory_mode)
        except FileExistsError:
            return  # an existing directory keeps the mode its owner gave it
        os.chmod(path, self.directory_mode)  # the umask narrowed mkdir's mode

    def _open_new(self, path: Path, flags: int) -> int:
        """A descriptor of ``path`` with the store's mode (whatever the umask), never
        through a symlink."""
        descriptor = os.open(path, flags | _NOFOLLOW | _CLOEXEC | _BINARY, self.mode)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(descriptor, self.mode)
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor

    @contextlib.contextmanager
    def _locked(self, sid: str) -> Iterator[None]:
        self._file(sid)  # validates the id before anything touches the disk
        stripe = zlib.crc32(sid.encode()) % LOCK_STRIPES
        with self._thread_locks[stripe]:
            if fcntl is None:
                yield
                return
            lock_path = self._directory() / ".locks" / f"{stripe}.lock"
            # An existing lock file keeps its mode; a symlink in its place is an error.
            try:
                descriptor = self._open_new(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                descriptor = os.open(lock_path, os.O_RDWR | _NOFOLLOW | _CLOEXEC)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
            finally:
                os.close(descriptor)

    def _expiry_ms(self, session: Record) -> int:
        last_access = session.get(LAST_ACCESS)
        if isinstance(last_access, bool) or not isinstance(last_access, (int, float)):
            return 0  # Node reads a record without one as expired
        return int(last_access) + (record.original_max_age(session) or int(self.options.ttl * 1000))

    def _read_file(self, sid: str) -> bytes:
        """The bytes of a session file, never through a symlink (nor blocking on a FIFO)."""
        try:
            descriptor = os.open(
                self._file(sid), os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
            )
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise CorruptRecord("the session file is a symbolic link") from None
            raise
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise CorruptRecord("the session file is not a regular file")
            return handle.read()

    def _load(self, sid: str) -> tuple[Record, bytes] | None:
        """The unexpired record and its exact bytes, or None."""
        try:
            raw = self._read_file(sid)
        except FileNotFoundError:
            if not self.path.is_dir():
                raise FileNotFoundError(
                    errno.ENOENT, "the sessions directory is missing", str(self.path)
                ) from None
            return None
        session = record.loads(raw)
        if self._expiry_ms(session) < now_ms():
            return None
        return session, raw

    def _expired_on_disk(self, sid: str) -> bool:
        try:
            session = record.loads(self._read_file(sid))
        except CorruptRecord:
            return False  # not ours to judge; left for a person to look at
        return self._ends_ms(session) < now_ms()

    def _write_temporary(self, sid: str, session: Record) -> Path:
        session = {**session, LAST_ACCESS: now_ms()}
        data = record.dumps(session).encode("utf-8")
        # Unpredictable and created exclusively: a file or symlink planted at the name
        # makes this fail, never write elsewhere.
        temporary = self._directory() / f".{sid}.{secrets.token_hex(8)}.tmp"
        descriptor = self._open_new(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                expires = self._ends_ms(session) / 1000
                if os.utime in os.supports_fd:
                    os.utime(handle.fileno(), (expires, expires))
                else:
                    os.utime(temporary, (expires, expires))
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return temporary

    def _write(self, sid: str, session: Record) -> None:
        # A rename replaces a symlink at the destination; it never writes through it.
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
