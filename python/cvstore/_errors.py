"""Exceptions named after the library's CVS_E* codes (include/cvstore.h).

Every failing call raises the subclass of Error for its code, carrying
cvs_strerror's name of the code (``.name``), the code (``.code``) and
cvs_errmsg's detail of the failure (``.message``; also ``str(e)``).
"""

from __future__ import annotations

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


class WaitWarning(UserWarning):
    """A write of this process is waiting for another process's writer
    (cvs_db_set_wait_fn): a store has one write transaction at a time, and
    writes take turns.  Issued by the default wait notice of
    :func:`cvstore.open` (``wait="warn"``)."""


_BY_CODE = {c.code: c for c in (NotFound, InvalidArgument, OutOfMemory, IoError, FormatError,
                                VersionMismatch, DimensionMismatch, InvalidInput, AlreadyExists,
                                Corrupt, LmdbError, FaissError, ReadOnly, InternalError, Busy,
                                WrongPassphrase, Conflict)}


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
