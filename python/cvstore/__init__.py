"""cvstore: a compressed vector store and semantic retrieval engine.

A binding over the C library libcvstore (through ctypes: nothing to compile
at install time).  Start with :func:`open`::

    import cvstore
    with cvstore.open("docs.cvs", create=True, dim=384) as db:
        db.put(["a", "b"], vectors, texts=["first passage", "second passage"])
        res = db.search(query_vector, k=5)
        print(res.ids[0], res.scores[0])

The library is found through CVSTORE_LIB (its path), the build tree of the
source checkout this package lives in, or the dynamic loader (an installed
libcvstore.so.0).

Errors.  Every failure raises a subclass of :class:`Error` (``.code`` the
library's CVS_E* code, ``.name`` its name, ``.message`` the detail, also
``str(e)``), each also a built-in exception where one fits, so code written
for files and dicts catches them:

    Error
      NotFound (KeyError)           no such record, codec, index or model file
        StoreNotFound (FileNotFoundError)   open() of a path with no store
      InvalidArgument (ValueError)  a bad argument; also "the store is closed"
        FileNotFound (FileNotFoundError)    import_file's file is not there
        PermissionDenied (PermissionError)  ... cannot be read
        IsADirectory (IsADirectoryError)    ... is a directory
      InvalidInput (ValueError)     a record or file the store refuses
      DimensionMismatch (ValueError)  vectors of another dimension
      AlreadyExists (FileExistsError)  open(create=True) over a store
      OutOfMemory (MemoryError)
      IoError (OSError)             the operating system failed, or an embedder
      FormatError                   not a cvstore store
      VersionMismatch               another on-disk format version
      Corrupt                       a stored value fails validation
      WrongPassphrase               an encrypted store's passphrase
      ReadOnly                      a write on a store opened read-only
      Busy                          map growth blocked by long snapshots
      Conflict                      a build overtaken by other builds
      UsedAfterFork (RuntimeError)  a Store used in a child of os.fork()
      LmdbError, FaissError, InternalError

Warnings (warnings.warn, so filters apply): :class:`WaitWarning` (a write
waits for another process's writer), :class:`UnknownKeyWarning` (an
imported JSONL record has a key that is no record field: it was ignored).
"""

try:
    import numpy as _numpy  # noqa: F401 - the one dependency, checked first
except ImportError as _e:
    # Said plainly: the usual cause is another python3 first on PATH (pyenv's)
    # where Debian's has python3-numpy (README, "Python").
    import sys as _sys
    raise ImportError(
        f"cvstore needs NumPy, which {_sys.executable} does not have: run it with Debian's "
        f"/usr/bin/python3 and python3-numpy (apt-get install python3-numpy), or install "
        f"numpy for this interpreter", name=_e.name) from _e

from ._errors import (AlreadyExists, Busy, Conflict, Corrupt, DimensionMismatch, Error, FaissError,
                      FileNotFound, FormatError, InternalError, InvalidArgument, InvalidInput,
                      IoError, IsADirectory, LmdbError, NotFound, OutOfMemory, PermissionDenied,
                      ReadOnly, StoreNotFound, UnknownKeyWarning, UsedAfterFork, VersionMismatch,
                      WaitWarning, WrongPassphrase)
from ._lib import lib_path
from ._store import Context, ContextItem, PutResult, Results, Store, open

try:
    from importlib import metadata as _metadata
    try:
        __version__ = _metadata.version("cvstore")
    except _metadata.PackageNotFoundError:
        __version__ = "0.1.0"
except ImportError:  # pragma: no cover
    __version__ = "0.1.0"

__all__ = ["open", "Store", "Results", "Context", "ContextItem", "PutResult", "lib_path",
           "Error", "NotFound", "InvalidArgument", "OutOfMemory", "IoError", "FormatError",
           "VersionMismatch", "DimensionMismatch", "InvalidInput", "AlreadyExists", "Corrupt",
           "LmdbError", "FaissError", "ReadOnly", "InternalError", "Busy", "WrongPassphrase",
           "Conflict", "UsedAfterFork", "FileNotFound", "PermissionDenied", "IsADirectory",
           "StoreNotFound", "WaitWarning", "UnknownKeyWarning", "__version__"]
