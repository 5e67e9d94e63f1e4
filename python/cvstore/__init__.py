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
libcvstore.so.0).  Errors raise subclasses of :class:`Error` named after the
library's codes (NotFound, InvalidInput, WrongPassphrase, Corrupt, ...).
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
