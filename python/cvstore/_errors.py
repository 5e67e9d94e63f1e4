"""Exceptions named after the library's CVS_E* codes (include/cvstore.h).

Every failing call raises the subclass of Error for its code, carrying
cvs_strerror's name of the code (``.name``), the code (``.code``) and
cvs_errmsg's detail of the failure (``.message``; also ``str(e)``).
"""

from __future__ import annotations

import errno as _errno
import os as _os

from . import _lib as L


class Error(Exception):
    """A cvstore call failed; ``code`` is the CVS_E* value, ``message`` the detail."""

    code: int = 0

    def __init__(self, message: str, code: int | None = None, name: str = ""):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.name = name


class NotFound(Error, KeyError):
    """CVS_NOTFOUND: no such store, record, codec, index or file."""
    code = L.NOTFOUND

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class InvalidArgument(Error, ValueError):
    """CVS_EINVAL: a bad argument (a malformed filter, spec, option, ...)."""
    code = L.EINVAL


class OutOfMemory(Error, MemoryError):
    """CVS_ENOMEM."""
    code = L.ENOMEM


class IoError(Error, OSError):
    """CVS_EIO: an operating-system I/O failure, or an embedder that failed."""
    code = L.EIO


class FormatError(Error):
    """CVS_EFORMAT: not a cvstore store, or its meta record is damaged."""
    code = L.EFORMAT


class VersionMismatch(Error):
    """CVS_EVERSION: a store written by another on-disk format version."""
    code = L.EVERSION


class DimensionMismatch(Error, ValueError):
    """CVS_EDIM: vectors of another dimension than the store's."""
    code = L.EDIM


class InvalidInput(Error, ValueError):
    """CVS_EINPUT: malformed input (a record, its meta, a file being imported)."""
    code = L.EINPUT


class AlreadyExists(Error, FileExistsError):
    """CVS_EEXIST: a store already exists at that path."""
    code = L.EEXIST


class Corrupt(Error):
    """CVS_ECORRUPT: a stored value fails validation."""
    code = L.ECORRUPT


class LmdbError(Error):
    """CVS_ELMDB: an unexpected LMDB failure."""
    code = L.ELMDB


class FaissError(Error):
    """CVS_EFAISS: a FAISS failure."""
    code = L.EFAISS


class ReadOnly(Error):
    """CVS_ERDONLY: a write on a store opened read-only."""
    code = L.ERDONLY


class InternalError(Error):
    """CVS_EINTERNAL: a bug in cvstore."""
    code = L.EINTERNAL


class Busy(Error):
    """CVS_EBUSY: the map must grow while this process holds snapshots too long."""
    code = L.EBUSY


class WrongPassphrase(Error):
    """CVS_EKEY: an encrypted store's passphrase is missing or wrong."""
    code = L.EKEY


class Conflict(Error):
    """CVS_ECONFLICT: a FAISS build kept being overtaken by later builds' writes."""
    code = L.ECONFLICT


class _FileError:
    """What the file errors below share: the OSError half's errno,
    strerror and filename are set (as open() sets them), and str() stays
    cvstore's message (OSError's own would read "[Errno 2] ...")."""

    def _set_os(self, err: int, filename) -> None:
        self.errno = err
        self.strerror = _os.strerror(err)
        self.filename = filename

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Pickled whole (a multiprocessing worker's error reaches its
        # parent so): OSError's own pickling keeps only args.
        return (_file_error_of, (type(self), self.message, self.code, self.name, self.errno,
                                 self.filename))


def _file_error_of(cls, message, code, name, err, filename):
    e = cls(message, code, name)
    e._set_os(err, filename)
    return e


class FileNotFound(_FileError, InvalidArgument, FileNotFoundError):
    """A file given to a call (import_file's path or ids file) does not
    exist: CVS_EINVAL as the library reports it (so InvalidArgument and
    ValueError), and a FileNotFoundError (errno ENOENT, filename set), so
    code written for files catches it."""


class PermissionDenied(_FileError, InvalidArgument, PermissionError):
    """A file given to a call cannot be read (EACCES): InvalidArgument and
    PermissionError."""


class IsADirectory(_FileError, InvalidArgument, IsADirectoryError):
    """A file given to a call is a directory (EISDIR): InvalidArgument and
    IsADirectoryError."""


class StoreNotFound(_FileError, NotFound, FileNotFoundError):
    """open() of a path that holds no store (the directory, or its
    data.mdb, is not there): NotFound (CVS_NOTFOUND, a KeyError) and
    FileNotFoundError (errno ENOENT, filename the path)."""


class UsedAfterFork(Error, RuntimeError):
    """CVS_EFORK: a Store was used in a child process of os.fork()
    (multiprocessing's default start method on Linux, gunicorn's workers,
    PyTorch's DataLoader workers) after its parent opened it.  LMDB handles
    do not survive a fork: open the store again in the child (close() of
    the inherited Store is harmless there; the parent's Store is
    untouched)."""
    code = L.EFORK


class UnknownKeyWarning(UserWarning):
    """import_file read a JSONL record with a key that is no record field
    (docs/FORMAT.md, "JSONL records"): the key was ignored.  Issued once per
    distinct key, naming its first line and the field it likely meant
    ("metadata" for "meta")."""


class WaitWarning(UserWarning):
    """A write of this process is waiting for another process's writer
    (cvs_db_set_wait_fn): a store has one write transaction at a time, and
    writes take turns.  Issued by the default wait notice of
    :func:`cvstore.open` (``wait="warn"``)."""


_BY_CODE = {c.code: c for c in (NotFound, InvalidArgument, OutOfMemory, IoError, FormatError,
                                VersionMismatch, DimensionMismatch, InvalidInput, AlreadyExists,
                                Corrupt, LmdbError, FaissError, ReadOnly, InternalError, Busy,
                                WrongPassphrase, Conflict, UsedAfterFork)}

_BY_ERRNO = {_errno.ENOENT: FileNotFound, _errno.ENOTDIR: FileNotFound,
             _errno.EACCES: PermissionDenied, _errno.EISDIR: IsADirectory}


def file_error(e: Error, path) -> Error:
    """e, or for an InvalidArgument about a file that cannot be opened
    (missing, unreadable, a directory) the same error as an instance of
    FileNotFound, PermissionDenied or IsADirectory, so that it is also the
    OSError Python code expects.  The library gives those CVS_EINVAL (the
    caller's mistake) without the errno; opening the file here finds it."""
    if type(e) is not InvalidArgument or path is None or _os.fsencode(path) == b"-":
        return e
    try:
        fd = _os.open(path, _os.O_RDONLY)
    except OSError as oe:
        cls = _BY_ERRNO.get(oe.errno)
        if cls is None:
            return e
        f = cls(e.message, e.code, e.name)
        f._set_os(oe.errno, _os.fsdecode(path))
        return f
    try:
        if _os.path.isdir(path):
            f = IsADirectory(e.message, e.code, e.name)
            f._set_os(_errno.EISDIR, _os.fsdecode(path))
            return f
    finally:
        _os.close(fd)
    return e


def error(rc: int, db=None, prefix: str = "") -> Error:
    """The exception for return code rc, with the calling thread's detail."""
    name = L.lib.cvs_strerror(rc).decode("utf-8", "replace")
    detail = (L.lib.cvs_errmsg(db) or b"").decode("utf-8", "replace") or name
    cls = _BY_CODE.get(rc, Error)
    e = cls(prefix + detail, rc, name)
    return e


def check(rc: int, db=None) -> None:
    """Raises the exception for rc unless it is CVS_OK."""
    if rc:
        raise error(rc, db)
