"""The Store: a cvstore store opened from Python, over libcvstore's C API.

How data crosses into C:
  - Vectors go as the address of a C-contiguous float32 NumPy array; an
    array already in that layout is not copied, anything else (float64,
    lists, strided views) is converted once for the whole batch.
  - A batch of records for cvs_put is one NumPy structured array laid out
    as an array of cvs_record, its pointer columns filled by vector
    arithmetic over one joined buffer per string field, so a put of n
    records does not build n ctypes objects.
  - Search results stay NumPy arrays (internal keys and scores); the
    external ids are looked up only when Results.ids is first read.

Every call into the library goes through a ctypes.CDLL, which releases the
GIL while C runs: threads sharing one Store search in parallel.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import inspect
import json
import math
import numbers
import operator
import os
import threading
import warnings
import weakref
from ctypes import byref, c_float, c_size_t, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import _lib as L
from ._errors import (DimensionMismatch, Error, InvalidArgument, InvalidInput, OutOfMemory,
                      ReadOnly, StoreNotFound, UnknownKeyWarning, UsedAfterFork, WaitWarning, error,
                      file_error)

lib = L.lib

_string_at = ctypes.string_at


def _addr(a: np.ndarray) -> int:
    """The address of an array's data.  ndarray.ctypes.data costs ~1.5 us a
    call; going through the buffer protocol costs a third of that (read-only
    and empty arrays take the slow way)."""
    try:
        return _addressof(_c_char.from_buffer(a))
    except (TypeError, ValueError):
        return a.ctypes.data


_addressof = ctypes.addressof
_c_char = ctypes.c_char
_byref = ctypes.byref


def _out_buffer(n: int):
    """Room for n int64 keys followed by n float32 scores, 8-byte aligned."""
    return (ctypes.c_int64 * ((n * 12 + 7) // 8))()


def _s(p, n) -> str:
    return _string_at(p, n).decode("utf-8") if p else None


def _floats(x, what: str) -> np.ndarray:
    """x as a float32 array, or InvalidArgument naming what: np.asarray(x,
    dtype=np.float32) dropped a complex vector's imaginary parts with only a
    NumPy warning, and turned numeric strings ("1.5") into numbers."""
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        return x
    try:
        a = np.asarray(x)
    except ValueError as e:  # ragged nesting
        raise InvalidArgument(f"{what}: not an array of numbers ({e})", L.EINVAL,
                              "CVS_EINVAL") from None
    if a.dtype.kind not in "biuf":
        raise InvalidArgument(f"{what}: numbers are wanted, not {a.dtype} values"
                              f"{' (complex)' if a.dtype.kind == 'c' else ''}", L.EINVAL,
                              "CVS_EINVAL")
    return a.astype(np.float32, copy=False)


def _enc(s, what: str) -> bytes:
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        raise TypeError(f"{what} must be str, not {type(s).__name__}")
    return s.encode("utf-8")


def _empty_note(b: bytes | None) -> str | None:
    """Why a question found nothing when the question is the reason (stop
    words only), in the library's words (cvs_text_empty_note), as
    `cvstore context` and MCP recall say it; else None."""
    note = ctypes.c_char_p()
    if not b or lib.cvs_text_empty_note(b, len(b), byref(note)) or not note.value:
        return None
    return note.value.decode("utf-8")


def _cstr(s, what: str = "argument") -> bytes | None:
    return None if s is None else _enc(s, what)


def _ns(namespace) -> str:
    """The namespace a memory call means: None or "" is the default
    namespace, "default", as the library takes a NULL or empty one
    (query/memory.c, ns_or_default); anything but a str is a TypeError
    naming the argument."""
    if namespace is None or namespace == "":
        return "default"
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be str, not {type(namespace).__name__}")
    return namespace


def _joined(strings: Sequence[bytes]):
    """One buffer holding every string, and (address, length) columns for it."""
    lens = np.fromiter((len(b) for b in strings), dtype=np.uintp, count=len(strings))
    buf = b"".join(strings)
    offs = np.zeros(len(strings), dtype=np.uintp)
    if len(strings) > 1:
        np.cumsum(lens[:-1], out=offs[1:])
    # A bytes object's data does not move while it is referenced; the
    # caller keeps buf alive for the duration of the C call.
    base = ctypes.cast(ctypes.c_char_p(buf), c_void_p).value or 0
    return buf, offs + np.uintp(base), lens


def _record_dtype() -> np.dtype:
    names, formats, offsets = [], [], []
    for name, ctype in L.cvs_record._fields_:
        names.append(name)
        offsets.append(getattr(L.cvs_record, name).offset)
        formats.append(np.int64 if ctype is ctypes.c_int64 else np.uintp)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": ctypes.sizeof(L.cvs_record)})


_RECORD = _record_dtype()


@dataclass
class PutResult:
    """What store.put did: records inserted and records updated (upserts)."""
    inserted: int
    updated: int


class Results:
    """Search results for q queries of k results each.

    ``keys`` and ``scores`` are (q, k) NumPy arrays: internal keys (padded
    with -1) and scores (Euclidean distance for l2 stores, similarity for ip
    and cosine, padded with NaN).  ``ids`` is a list of q lists of external
    ids, best first, without the padding; for results that carry no
    ``include`` fields it is looked up on first use, in a new snapshot (an
    id deleted in between reads as None; closing the store resolves the ids
    of the results still unread first).  ``texts``, ``titles`` and
    ``metas`` are there when asked for with include=, read in the search's
    own snapshot.
    """

    __slots__ = ("_buf", "_shape", "_keys", "_scores", "_ids", "_store", "texts", "titles",
                 "metas", "__weakref__")

    def __init__(self, store: "Store", buf, nq: int, k: int):
        # buf: the ctypes buffer the library wrote, nq*k int64 keys then
        # nq*k float32 scores; the NumPy views are made on first use.
        self._store = store
        self._buf = buf
        self._shape = (nq, k)
        self._keys = self._scores = None
        self._ids = None
        self.texts = self.titles = self.metas = None

    @property
    def keys(self) -> np.ndarray:
        """(q, k) int64 internal keys, best first, padded with -1."""
        if self._keys is None:
            self._keys = np.ndarray(self._shape, np.int64, self._buf)
        return self._keys

    @property
    def scores(self) -> np.ndarray:
        """(q, k) float32 scores (distance for l2, similarity for ip and
        cosine), padded with NaN."""
        if self._scores is None:
            n = self._shape[0] * self._shape[1]
            self._scores = np.ndarray(self._shape, np.float32, self._buf, n * 8)
        return self._scores

    @property
    def ids(self) -> list[list[str]]:
        """q lists of external ids, best first, without the padding;
        looked up on first use (an id deleted meanwhile reads as None).
        Raises UsedAfterFork when first read in a child of os.fork()."""
        if self._ids is None:
            self._resolve()
        return self._ids

    def _resolve(self) -> None:
        store = self._store
        while True:
            try:
                store._enter()
                break
            except Error:
                # A close() under way looks up the ids of every result not
                # read yet: wait for it to finish, or to be given up (an
                # interrupted close leaves the store open: enter again).
                with store._gate:
                    store._gate.wait_for(lambda: store._h is None or not store._closing)
                    closed = store._h is None
                if self._ids is not None:
                    return
                if closed:
                    raise
        try:
            self._resolve_open()
        finally:
            store._leave()

    def _resolve_open(self) -> None:
        """_resolve, by a caller that keeps the handle open (close())."""
        txn = self._store._txn()
        try:
            self._ids = _keys_to_ids(txn, self.keys)
        finally:
            lib.cvs_txn_end(txn)

    def __len__(self) -> int:
        return self._shape[0]

    def __getitem__(self, i: int) -> list[tuple[str, float]]:
        """The hits of query i as (id, score) pairs, best first."""
        return list(zip(self.ids[i], self.scores[i].tolist()))

    def __repr__(self) -> str:
        return f"<cvstore.Results {self._shape[0]} queries x {self._shape[1]}>"

    def __reduce__(self):
        # Pickled (a multiprocessing queue, a cache) as its values: the
        # arrays copied out of the library's buffer and the ids looked up
        # now, so the copy needs no store.
        return (_results_of, (self.keys.copy(), self.scores.copy(), self.ids, self.texts,
                              self.titles, self.metas))


def _results_of(keys, scores, ids, texts, titles, metas) -> Results:
    """A Results holding these values (an unpickled one): no store."""
    r = Results.__new__(Results)
    r._store = r._buf = None
    r._shape = keys.shape
    r._keys, r._scores, r._ids = keys, scores, ids
    r.texts, r.titles, r.metas = texts, titles, metas
    return r


def _keys_to_ids(txn, keys: np.ndarray) -> list[list[str]]:
    p, n = c_void_p(), c_size_t()
    pr, nr = byref(p), byref(n)
    key_id = lib.cvs_key_id
    out = []
    for row in keys.tolist():
        ids = []
        for key in row:
            if key < 0:
                break
            rc = key_id(txn, key, pr, nr)
            if rc == L.NOTFOUND:
                ids.append(None)
                continue
            if rc:
                raise error(rc)
            ids.append(_string_at(p.value, n.value).decode("utf-8"))
        out.append(ids)
    return out


@dataclass
class ContextItem:
    """One item of a context set: the record, its relevance, and the path
    that reached it (``via``: (id, how) pairs from the seed to this item)."""
    id: str
    score: float
    tokens: int
    hop: int
    via: list[tuple[str, str]]
    title: str | None
    text: str | None
    key: int
    sentences: list[int] | None = None
    """unit "sentence": the indexes of the record's sentences in ``text``
    (ascending; a sentence longer than the whole budget may be in ``text`` as
    the clauses of it that were chosen, listed once); None for unit
    "passage", where ``text`` is the whole text."""
    meta: dict | None = None
    """The record's metadata (as ``get`` gives it), None when it has none:
    what a citation needs, without a ``get`` per item."""


@dataclass
class Context:
    """A context set (cvs_context): ``items`` in the order chosen,
    ``tokens`` (their sum, within ``budget``), ``pool`` (candidates chosen
    from), ``seconds`` (time of the call).  ``str(ctx)`` is the text to put
    in a prompt: each item numbered, its title on the first line, then its
    text, items separated by a blank line."""
    items: list[ContextItem]
    tokens: int
    budget: int
    pool: int
    seconds: float
    note: str | None = None
    """Why the set is empty when the question is the reason (only stop
    words, which nothing reads), else None."""

    def __str__(self) -> str:
        parts = []
        for i, it in enumerate(self.items, 1):
            head = f"[{i}] {it.title}" if it.title else f"[{i}] {it.id}"
            parts.append(head + ("\n" + it.text if it.text else ""))
        return "\n\n".join(parts)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


def _json_default(o):
    """NumPy scalars and arrays in metadata and filters (a score, a count
    computed with NumPy) as the JSON numbers and lists they hold."""
    if isinstance(o, (np.generic, np.ndarray)):
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _dumps(o, what: str = "metadata") -> str:
    """o as JSON text.  NaN and infinities are not JSON: json.dumps wrote
    them as NaN / Infinity, which the library then refused as "invalid
    token" -- and NaN is how pandas gives a missing value, so the message
    says what to use instead.  json's other ValueErrors (a dict that holds
    itself: "Circular reference detected") keep their own words."""
    try:
        return json.dumps(o, ensure_ascii=False, default=_json_default, allow_nan=False)
    except ValueError as e:
        # json says "Out of range float values are not JSON compliant" (and,
        # from Python 3.13, the value after a colon) for NaN and infinities.
        if str(e).startswith("Out of range float"):
            msg = "NaN and infinity are not JSON values (use None for a missing value)"
        else:
            msg = f"cannot be written as JSON: {e}"
        raise InvalidInput(f"{what}: {msg}", L.EINPUT, "CVS_EINPUT") from None


def _progress_hook(progress, raised: list):
    """A C progress callback calling progress(phase, done, total), or a NULL
    one for None.  The C call cannot be stopped from a callback, so an
    exception progress raises (a KeyboardInterrupt included) is kept in
    raised, for the caller to raise once the call has returned; later
    reports are then not passed on.  Keep the result referenced for the
    call's duration."""
    if progress is None:
        return L.progress_fn()
    wants_bytes = _positional_params(progress) >= 5

    def on_progress(_ctx, phase, done, total, bd, bt):
        if raised:
            return
        try:
            if wants_bytes:
                progress(phase.decode("utf-8", "replace"), int(done), int(total), int(bd),
                         int(bt))
            else:
                progress(phase.decode("utf-8", "replace"), int(done), int(total))
        except BaseException as e:  # noqa: BLE001 - raised after the call
            raised.append(e)

    return L.progress_fn(on_progress)


def _positional_params(fn) -> int:
    """How many named positional parameters fn has (0 when it cannot be
    told): a progress function of five is also given the bytes.  Not one
    of *args, which code written for three arguments uses."""
    try:
        ps = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in ps)


def _parse_filter(flt):
    """A cvs_filter* for a filter given as a dict or as JSON text (None: none)."""
    if flt is None:
        return None
    text = flt if isinstance(flt, (str, bytes)) else _dumps(flt, "filter")
    b = _enc(text, "filter")
    h = c_void_p()
    rc = lib.cvs_filter_parse(b, len(b), byref(h))
    if rc:
        raise error(rc)
    return h


def _filter_text(flt) -> bytes | None:
    if flt is None:
        return None
    return _enc(flt if isinstance(flt, (str, bytes)) else _dumps(flt, "filter"), "filter")


_tls = threading.local()
_MODES = {"exact": L.SEARCH_EXACT, "codes": L.SEARCH_CODES, "ann": L.SEARCH_ANN}
# The most bytes of one search's results (nq x k x 12): a k beyond it is a
# typo or "all of them", refused by name rather than allocated.  1 GiB is
# 89 million results, far more than any caller reads at once; a larger
# answer is asked for in batches of queries.
_RESULTS_MAX_BYTES = 1 << 30
_get_ident = threading.get_ident


def _int_arg(what: str, v, lo: int) -> int:
    """v as an int of at least lo (NumPy integers too), else InvalidArgument:
    a negative count would wrap around in a size_t."""
    try:
        if isinstance(v, bool):
            raise TypeError
        n = operator.index(v)
    except TypeError:
        n = None
    if n is None or n < lo:
        raise InvalidArgument(f"{what} {v!r}: an integer from {lo}", L.EINVAL, "CVS_EINVAL")
    return n


_FLOAT_FIELDS = (ctypes.c_float, ctypes.c_double, ctypes.c_longdouble)


def _set_fields(o, what: str, **fields) -> None:
    """Sets the ctypes structure o's fields, refusing an integer its C field
    cannot hold: ctypes wraps it silently (a context budget of 2**64 + 5 was
    a budget of 5, hops=2**32 + 1 one hop).  Integer fields only: an int
    given for a float field (rrf_k=16777217) is rounded to the nearest float
    the field holds, as a Python float given for it is, and is in range
    unless it overflows to infinity (2**200 for a float32)."""
    types = dict(type(o)._fields_)
    for key, v in fields.items():
        setattr(o, key, v)
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            continue
        got = getattr(o, key)
        if (math.isinf(got) if issubclass(types[key], _FLOAT_FIELDS) else got != v):
            raise InvalidArgument(f"{what}: {key} {v!r} is out of range", L.EINVAL, "CVS_EINVAL")


def _opts(cls, what: str, **fields):
    """A ctypes options structure of these fields, set by _set_fields."""
    o = cls()
    _set_fields(o, what, **fields)
    return o


def _closed_error() -> Error:
    # A ValueError, as a closed file's is: code written for files catches it.
    return InvalidArgument("the store is closed", L.EINVAL, "CVS_EINVAL")


def _guarded(method):
    """Runs method as one call on the store's handle: close() waits for it
    to return before it closes the handle (see Store.close)."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        self._enter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self._leave()
    return call


class Store:
    """An open cvstore store (a cvs_db handle).

    Open one with :func:`cvstore.open`.  One Store may be shared by any
    number of threads: writes are serialized by the library, reads run in
    parallel (the GIL is released during every library call).  Use it as a
    context manager, or call :meth:`close`.

    Attributes: ``path``, ``dim``, ``metric`` ("l2", "ip", "cosine"),
    ``raw`` ("f32", "f16", "none"), ``readonly``.

    Every method raises, besides what its own text names: InvalidArgument
    ("the store is closed", a ValueError) once the Store is closed;
    UsedAfterFork in a child process of os.fork() (open the store again
    there); ReadOnly for a write on a Store opened readonly=True;
    OutOfMemory; IoError for a failure of the operating system; Corrupt
    for a stored value that fails validation (cvstore check lists them);
    Busy when the map must grow while this process holds snapshots for
    too long.  A method that embeds text (put of texts without vectors,
    search and context of text, embed, remember, recall, import_file of
    records without vectors) raises, besides: NotFound when a built-in
    embedder's model files are missing (the message names where it looked
    and the script that fetches them); InvalidArgument when the store has
    no embedder, or records an application's own model that is not
    attached (set_embedder, or open(embedder=...)); IoError when the
    embedder fails (an exception of your function, an unreachable
    service).  The classes are listed in the package's docstring
    (help(cvstore)).

    Closing is safe while other threads are inside calls on the Store:
    cvs_db_close under a running call would free what that call reads (the
    interpreter would die of a segmentation fault), so every method counts
    itself in and out of a gate (_enter, _leave), and close() lets the calls
    in flight finish, refusing new ones, before it closes the handle.
    """

    def __init__(self, handle: c_void_p, path: str, readonly: bool):
        self._h = handle.value
        self._pid = os.getpid()  # a child of a fork may not use it (close)
        self.path = path
        self.readonly = readonly
        self._embedder_ref = None
        self._wait_refs = []  # every wait notice's C thunk set (set_wait)
        self._has_index = None  # looked up by the first search with mode None
        # The gate: the threads inside a call on the handle, each with a
        # depth (a call may make others: put embeds), and whether close()
        # is waiting for them.
        self._gate = threading.Condition(threading.Lock())
        self._active: dict[int, int] = {}
        self._closing = False
        # Results whose ids are not looked up yet; close() looks them up.
        self._unresolved = weakref.WeakSet()
        info = self._info()
        self.dim = int(info.dim)
        self.metric = L.METRIC_NAME.get(info.metric, str(info.metric))
        self.raw = L.RAW_NAME.get(info.raw, str(info.raw))

    # ==== handle ====

    @property
    def _db(self) -> int:
        h = self._h
        if h is None:
            raise _closed_error()
        return h

    def _enter(self) -> None:
        """Counts this thread into a call on the handle; raises when the
        store is closed, or closing (unless this thread is inside a call
        already, which close() is waiting for)."""
        if self._pid != os.getpid():
            # A child of a fork: the gate's lock may have been held by a
            # thread of the parent at the fork, which the child does not
            # have, so it is not taken; the library refuses the call
            # (UsedAfterFork) and close() needs no count.
            return
        me = _get_ident()
        with self._gate:
            depth = self._active.get(me, 0)
            if self._h is None or (self._closing and not depth):
                raise _closed_error()
            self._active[me] = depth + 1

    def _leave(self) -> None:
        if self._pid != os.getpid():
            return
        me = _get_ident()
        with self._gate:
            depth = self._active[me] - 1
            if depth:
                self._active[me] = depth
            else:
                del self._active[me]
                if not self._active:
                    self._gate.notify_all()

    def close(self) -> None:
        """Closes the store (idempotent).  Calls running in other threads
        finish first (close waits for them); calls made once close() has
        begun raise InvalidArgument("the store is closed"), a ValueError.
        Closing from inside a call on this store (its embedder function)
        raises Error instead of waiting for itself.

        In a child process of os.fork() a Store its parent opened cannot
        be used (every call raises UsedAfterFork: open the store again in
        the child); close() there only lets go of it, at once: the calls
        it would wait for ran in the parent's threads, which the child
        does not have, and the library releases nothing of the parent's."""
        if self._pid != os.getpid():
            h, self._h = self._h, None
            if h is not None:
                lib.cvs_db_close(h)  # a no-op in the child (cvs_db_close)
            return
        with self._gate:
            if self._h is None:
                return
            if _get_ident() in self._active:
                raise Error("close() inside a call on the same store (from its embedder "
                            "function?)", L.EINVAL, "CVS_EINVAL")
            self._closing = True
            try:
                self._gate.wait_for(lambda: not self._active)
            except BaseException:  # interrupted: the store stays open
                self._closing = False
                self._gate.notify_all()  # Results._resolve waiting on the close
                raise
            # No call runs now and none can start: the results not read yet
            # (those of the calls just finished too) get their ids while the
            # handle is still open.
            for r in list(self._unresolved):
                if r._ids is None:
                    try:
                        r._resolve_open()
                    except Error:
                        pass
            h, self._h = self._h, None
            self._gate.notify_all()  # Results._resolve waiting for the ids
        lib.cvs_db_close(h)

    def __enter__(self) -> "Store":
        # As a closed file's `with` does: at once, not at the first call.
        if self._h is None:
            raise _closed_error()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # A Store is one library handle: a copy would close it a second time
    # (a double free: the interpreter died of a segmentation fault at
    # exit), and another process cannot use it (see close()).
    def __copy__(self):
        raise TypeError("a cvstore.Store cannot be copied: share the one Store (it is safe "
                        "to use from many threads)")

    def __deepcopy__(self, memo):
        self.__copy__()

    def __reduce_ex__(self, protocol):
        raise TypeError(f"a cvstore.Store cannot be pickled or sent to another process: "
                        f"open the store there with cvstore.open({self.path!r})")

    def __repr__(self) -> str:
        state = "closed" if self._h is None else f"dim {self.dim}, {self.metric}"
        return f"<cvstore.Store {self.path!r} ({state})>"

    def _check(self, rc: int) -> None:
        if rc:
            raise self._error(rc)

    def _error(self, rc: int) -> BaseException:
        e = error(rc, self._h)
        cause = getattr(_tls, "embed_exc", None)
        if cause is not None:
            _tls.embed_exc = None
            if isinstance(cause, (KeyboardInterrupt, SystemExit)):
                return cause  # an interrupt stays one, once the library has returned
            e.message += f" ({type(cause).__name__}: {cause})"
            e.args = (e.message,)
            e.__cause__ = cause
        return e

    def _txn(self) -> int:
        t = c_void_p()
        self._check(lib.cvs_txn_begin(self._db, byref(t)))
        return t.value

    def _info(self) -> L.cvs_info:
        info = L.cvs_info()
        self._check(lib.cvs_db_info(self._db, byref(info)))
        return info

    @_guarded
    def __len__(self) -> int:
        return int(self._info().count)

    def _index_info(self) -> L.cvs_index_info | None:
        ii = L.cvs_index_info()
        rc = lib.cvs_index_get_info(self._db, byref(ii))
        if rc == L.NOTFOUND:
            return None
        self._check(rc)
        self._has_index = True
        return ii

    # ==== vectors ====

    def _matrix(self, vectors, n: int | None = None) -> np.ndarray:
        """vectors as a C-contiguous float32 (n, dim) array, converted at most once."""
        a = _floats(vectors, "vectors")
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.ndim != 2 or a.shape[1] != self.dim:
            raise DimensionMismatch(f"vectors of shape {a.shape}: the store's dimension is "
                                    f"{self.dim}", L.EDIM, "CVS_EDIM")
        if n is not None and a.shape[0] != n:
            raise InvalidArgument(f"{a.shape[0]} vectors for {n} ids", L.EINVAL, "CVS_EINVAL")
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        return a

    @_guarded
    def embed(self, texts: str | Sequence[str]) -> np.ndarray:
        """The store's embedder's vectors for texts, an (n, dim) float32 array
        (one text: still (1, dim)).  Raises InvalidArgument when the store
        has no embedder, IoError when the embedder fails (its exception
        chained),
        InvalidInput for a text the built-in embedder cannot read (no word
        of its vocabulary)."""
        if isinstance(texts, (str, bytes)):
            texts = [texts]
        enc = [_enc(t, "text") for t in texts]
        out = np.empty((len(enc), self.dim), dtype=np.float32)
        if not enc:
            return out
        buf, ptrs, lens = _joined(enc)
        _tls.embed_exc = None
        rc = lib.cvs_embed_texts(self._db, ptrs.ctypes.data, lens.ctypes.data, len(enc),
                                 out.ctypes.data)
        del buf
        self._check(rc)
        return out

    @_guarded
    def fit_embedder(self, texts: Sequence[str]) -> None:
        """Installs the embedder's fixed state in the store before texts are
        embedded (cvs_embed_fit): for glove, the SIF common component, which
        is derived from the vocabulary alone, so that a text embeds the same
        in every store.  texts are not used (they once were a fitting
        sample); a store that has the component keeps it, and other
        embedders have nothing to install.  put() with texts and the
        importer do it by themselves: there is no need to call this.
        Raises InvalidArgument when the store has no embedder, NotFound
        when a built-in's model files are missing, ReadOnly on a read-only
        Store."""
        enc = [_enc(t, "text") for t in texts]
        if not enc:
            return
        buf, ptrs, lens = _joined(enc)
        rc = lib.cvs_embed_fit(self._db, ptrs.ctypes.data, lens.ctypes.data, len(enc))
        del buf
        self._check(rc)

    @_guarded
    def set_embedder(self, fn: Callable[[list[str]], Any] | str, *, name: str | None = None,
                     dim: int | None = None) -> None:
        """Makes fn the store's embedder: a function from a list of texts to an
        (n, dim) array of their vectors (an application's own model:
        sentence-transformers, an API client).  The library calls it through
        a C callback for put(texts=...), text searches, context and memory.

        name identifies the model and is recorded in the store the first time
        (default "python:" + the function's name); the store then refuses an
        embedder of another name or dimension, so its vectors and its queries
        come from one model.  A string fn names a built-in ("glove", "use",
        "minilm").

        An exception raised by fn fails the calling operation with IoError
        (its message names the exception, which is chained as __cause__);
        the process is never brought down by it.

        Raises DimensionMismatch when the embedder's dimension is not the
        store's (a built-in's is its own: glove 100, use 512, minilm 384),
        InvalidArgument when the store records another embedder, NotFound
        when a built-in's model files are missing.
        """
        if isinstance(fn, str):
            self._check(lib.cvs_db_set_embedder(self._db, fn.encode(), dim or 0,
                                                L.embed_fn(), None))
            self._embedder_ref = None
            return
        if not callable(fn):
            raise TypeError("set_embedder needs a callable or a built-in's name")
        d = self.dim

        def trampoline(_ctx, texts, lens, n, out):
            # Runs with the GIL held (ctypes takes it for callbacks); must not
            # let an exception escape into C.
            try:
                strs = [_string_at(texts[i], lens[i]).decode("utf-8") for i in range(n)]
                v = _floats(fn(strs), "the embedder's vectors")
                if v.shape != (n, d):
                    raise ValueError(f"embedder returned shape {v.shape}, expected ({n}, {d})")
                ctypes.memmove(out, np.ascontiguousarray(v).ctypes.data, n * d * 4)
                return 0
            except BaseException as e:  # noqa: BLE001 - reported through the return code
                _tls.embed_exc = e
                return 1  # not a CVS_E* code: the library reports "embedder failed"

        cb = L.embed_fn(trampoline)
        nm = name or ("python:" + getattr(fn, "__name__", type(fn).__name__))
        self._check(lib.cvs_db_set_embedder(self._db, nm.encode(), d, cb, None))
        # The library keeps the function pointer: the thunk must live as long
        # as the handle (or until the next set_embedder).
        self._embedder_ref = (cb, fn)

    @_guarded
    def set_wait(self, wait: Callable[[int | None, float, bool], Any] | str | None) -> None:
        """What happens when a write of this Store (put, delete, import_file,
        build, link, remember, ...) has to wait for another process's writer:
        a store has one write transaction at a time, and writes take turns
        (the other may be `cvstore import` or `build` running for minutes).

        "warn" (what :func:`cvstore.open` sets): once the wait passes 1
        second (CVS_WAIT_NOTICE_S), a :class:`cvstore.WaitWarning` saying
        which process holds the lock; warnings filters apply as to any
        warning.  A callable: called as wait(pid, waited_s, done) once the
        wait passes 1 second (done False; pid the other writer's process id,
        or None when unknown) and once more when it ends (done True,
        waited_s the whole wait), on the waiting thread; it must not call
        into this Store, and an exception it raises is reported by
        sys.unraisablehook and otherwise ignored (the write goes on).  None:
        waits silently (cvs_db_set_wait_fn with NULL).
        """
        if wait is None:
            lib.cvs_db_set_wait_fn(self._db, L.wait_fn(), None)
            return
        if wait == "warn":
            path = self.path

            def fn(pid, waited_s, done):
                if not done:
                    who = f"pid {pid}" if pid else "another process"
                    warnings.warn(f"cvstore: {path}: waiting for another writer ({who}) to "
                                  f"finish; writes take turns", WaitWarning, stacklevel=2)
        elif callable(wait):
            fn = wait
        else:
            raise InvalidArgument(f"wait {wait!r}: \"warn\", a callable or None", L.EINVAL,
                                  "CVS_EINVAL")

        def trampoline(_ctx, pid, waited_s, done):
            fn(int(pid) or None, float(waited_s), bool(done))

        cb = L.wait_fn(trampoline)
        # The library keeps the function pointer, and a write already waiting
        # on another thread may call the one it read before this call: every
        # thunk set lives as long as the handle (a few hundred bytes each).
        self._wait_refs.append((cb, fn))
        lib.cvs_db_set_wait_fn(self._db, cb, None)

    @_guarded
    def embedder(self) -> dict | None:
        """The embedder recorded in the store ({"name", "dim", "fitted",
        "common_component", "data_in_store", "fingerprint"}), or None.
        Raises Corrupt when the record of it is damaged."""
        info = L.cvs_embedder_info()
        rc = lib.cvs_db_embedder_info(self._db, byref(info))
        if rc == L.NOTFOUND:
            return None
        self._check(rc)
        name = info.name.decode()
        # common_component as `cvstore stats --json` words it (glove only).
        common = None if name != "glove" else (
            "fixed by the vocabulary" if info.fitted == 2 else
            "fitted on the first import" if info.fitted else "none (embeddings skip its removal)")
        return {"name": name, "dim": info.dim, "fitted": bool(info.fitted),
                "common_component": common, "data_in_store": bool(info.data_in_store),
                "fingerprint": bytes(info.fingerprint).hex() if info.has_fingerprint else None}

    # ==== records ====

    @_guarded
    def put(self, ids: str | Sequence[str], vectors=None, *,
            texts: Sequence[str | None] | None = None,
            titles: Sequence[str | None] | None = None,
            metas: Sequence[Mapping | None] | None = None,
            links: Sequence[Sequence | None] | None = None,
            sentences: Sequence[Sequence[str] | None] | None = None,
            created_us: Sequence[int | None] | None = None,
            updated_us: Sequence[int | None] | None = None) -> PutResult:
        """Upserts records by id, all in one transaction (all or none).

        ids: one id or a sequence of n ids.  vectors: an (n, dim) array-like
        (one vector for one id); float32 C-contiguous arrays go to C as they
        are, anything else is converted once.  Without vectors, the texts are
        embedded by the store's embedder.  texts, titles: strings or None per
        record; metas: dicts (JSON objects) or None (one str or dict where ids
        is one str; beside a list of ids, InvalidArgument); links: per record None or
        a list of ids, (id, type) / (id, type, weight) tuples or
        {"id", "type", "weight"} dicts; sentences: per record None (the
        library splits the text with ICU) or its sentences, strings found in
        its text in order, as get() and records() return them (so a copy of
        a store keeps them: "Dr. No is a film." stays one sentence).
        created_us, updated_us: per record None or its time in microseconds
        since 1970, as get() and records() return them, stored instead of
        the time of the put (cvs_put's CVS_PUT_TIMES), so a copy keeps its
        records' history; None (or leaving them out) is the put's time, and
        an update keeps its creation time.  A time that is not an integer
        in [0, 2**63) raises InvalidArgument, an update before the creation
        InvalidInput.  Vectors of another dimension than the store's raise
        DimensionMismatch; a record the store refuses (an id repeated in the
        batch, a value that is not finite, metadata that is not JSON)
        InvalidInput.
        """
        if isinstance(ids, (str, bytes)):
            ids = [ids]
            texts = None if texts is None else [texts] if isinstance(texts, str) else texts
            titles = None if titles is None else [titles] if isinstance(titles, str) else titles
            metas = None if metas is None else [metas] if isinstance(metas, Mapping) else metas
            created_us = None if created_us is None or isinstance(created_us, Sequence) \
                else [created_us]
            updated_us = None if updated_us is None or isinstance(updated_us, Sequence) \
                else [updated_us]
            if sentences is not None and (not sentences or isinstance(sentences[0], str)):
                sentences = [sentences]
            # the one record's links: ids, tuples or dicts (a list in it is
            # already the per-record list)
            if isinstance(links, (str, bytes)) or (
                    links is not None and (not links or
                                           isinstance(links[0], (str, bytes, tuple, Mapping)))):
                links = [[links] if isinstance(links, (str, bytes)) else links]
        else:
            # One str where a list of them is wanted would be read as its
            # characters, one per record: five ids and texts="hello" stored
            # "h", "e", "l", "l", "o" (a dict, as its keys); refused instead.
            for what, col in (("texts", texts), ("titles", titles), ("metas", metas)):
                if isinstance(col, (str, bytes, Mapping)):
                    raise InvalidArgument(f"put: {what} is one {type(col).__name__}; give a list "
                                          f"of one per id (ids is a list)", L.EINVAL,
                                          "CVS_EINVAL")
        idb = [_enc(i, "id") for i in ids]
        n = len(idb)
        for what, col in (("texts", texts), ("titles", titles), ("metas", metas),
                          ("links", links), ("sentences", sentences),
                          ("created_us", created_us), ("updated_us", updated_us)):
            if col is not None and len(col) != n:
                raise InvalidArgument(f"{len(col)} {what} for {n} ids", L.EINVAL, "CVS_EINVAL")
        if n == 0:
            return PutResult(0, 0)
        if vectors is None:
            if texts is None or any(t is None for t in texts):
                raise InvalidArgument("put: give vectors, or texts for the store's embedder "
                                      "to embed", L.EINVAL, "CVS_EINVAL")
            # A text of no words cannot be embedded: refused naming its
            # record, as import refuses its line, before the embedder
            # fails on it without the id (or, a sentence encoder, embeds
            # it).  Beside a vector any text is kept, as cvs_put keeps it.
            words = c_size_t()
            for i, t in enumerate(texts):
                tb = _enc(t, "text")
                self._check(lib.cvs_text_words(tb, len(tb), byref(words)))
                if not words.value:
                    raise InvalidInput(f'put: record "{idb[i].decode("utf-8", "replace")}": text '
                                       f"has no words (only spaces, punctuation or symbols): a "
                                       f"store with an embedder cannot embed it", L.EINPUT,
                                       "CVS_EINPUT")
            self.fit_embedder(texts)
            mat = self.embed(texts)
        else:
            mat = self._matrix(vectors, n)
        recs = np.zeros(n, dtype=_RECORD)
        keep = []
        buf, p, ln = _joined(idb)
        keep.append(buf)
        recs["id"], recs["id_len"] = p, ln
        recs["vector"] = np.uintp(mat.ctypes.data) + np.arange(n, dtype=np.uintp) * \
            np.uintp(4 * self.dim)
        for col, name in ((texts, "text"), (titles, "title")):
            if col is None:
                continue
            present = np.array([c is not None for c in col], dtype=bool)
            buf, p, ln = _joined([b"" if c is None else _enc(c, name) for c in col])
            keep.append(buf)
            recs[name] = np.where(present, p, 0)
            recs[name + "_len"] = ln
        if metas is not None:
            present = np.array([m is not None for m in metas], dtype=bool)
            enc = [b"" if m is None else _enc(m if isinstance(m, (str, bytes))
                                              else _dumps(m, f"metas[{i}]"), "meta")
                   for i, m in enumerate(metas)]
            buf, p, ln = _joined(enc)
            keep.append(buf)
            recs["meta"] = np.where(present, p, 0)
            recs["meta_len"] = ln
        if links is not None:
            for i, lk in enumerate(links):
                if isinstance(lk, (str, bytes)):
                    # read as its characters, each a link ("bb": two links
                    # to "b"), as a str in sentences would be
                    raise InvalidArgument(f"put: record {i}: links is a list of ids, not one "
                                          f"id ({lk!r}: links=[[{lk!r}]] for one record)",
                                          L.EINVAL, "CVS_EINVAL")
                if lk:
                    arr, refs = _links(lk)
                    keep.append((arr, refs))
                    recs["links"][i] = ctypes.addressof(arr)
                    recs["nlinks"][i] = len(arr)
        if sentences is not None:
            for i, ss in enumerate(sentences):
                if ss is None:
                    continue
                if texts is None or texts[i] is None:
                    raise InvalidArgument(f"put: record {i}: sentences need its text",
                                          L.EINVAL, "CVS_EINVAL")
                if isinstance(ss, str):
                    raise InvalidArgument(f"put: record {i}: sentences is a list of strings, "
                                          f"not one string", L.EINVAL, "CVS_EINVAL")
                offs = np.array(_sentence_offsets(_enc(texts[i], "text"), ss, i),
                                dtype=np.uint32)
                keep.append(offs)
                recs["sentences"][i] = offs.ctypes.data if len(offs) else 0
                recs["nsentences"][i] = len(offs) // 2
        flags = 0
        for col, name in ((created_us, "created_us"), (updated_us, "updated_us")):
            if col is None:
                continue
            flags = L.PUT_TIMES
            ts = [0 if t is None else _int_arg(f"put: {name}", t, 0) for t in col]
            if any(t >= 1 << 63 for t in ts):
                raise InvalidArgument(f"put: {name}: a time past 2**63 microseconds",
                                      L.EINVAL, "CVS_EINVAL")
            recs[name] = ts
        ins, upd = c_size_t(), c_size_t()
        rc = lib.cvs_put(self._db, recs.ctypes.data, n, flags, byref(ins), byref(upd))
        del keep
        self._check(rc)
        return PutResult(ins.value, upd.value)

    @_guarded
    def get(self, id: str, *, vector: bool = True) -> dict | None:
        """The record with this id as a dict (id, key, vector, text, title,
        meta, links, sentences, created_us, updated_us), or None when there
        is none.  sentences: the sentences it was put with (put's
        sentences=, JSONL "sentences"), None when its text was split by the
        library (ICU) or it has no text.  Raises TypeError for an id that
        is not a str, Corrupt when a stored value of it is damaged."""
        b = _enc(id, "id")
        rec = L.cvs_record()
        vec = np.empty(self.dim, dtype=np.float32) if vector else None
        txn = self._txn()
        try:
            rc = lib.cvs_get(txn, b, len(b), byref(rec), vec.ctypes.data if vector else None)
            if rc == L.NOTFOUND:
                return None
            self._check(rc)
            return _record_dict(rec, vec, txn, self._check)
        finally:
            lib.cvs_txn_end(txn)

    def __contains__(self, id: str) -> bool:
        return self.get(id, vector=False) is not None

    def _each_record(self, pick) -> list:
        """pick(rec) of every record, in insertion order, read in one
        snapshot (cvs_iter)."""
        txn = self._txn()
        it = c_void_p()
        out = []
        try:
            self._check(lib.cvs_iter_open(txn, byref(it)))
            rec = L.cvs_record()
            while (rc := lib.cvs_iter_next(it, byref(rec), None)) == 0:
                out.append(pick(rec))
            if rc != L.NOTFOUND:
                self._check(rc)
        finally:
            lib.cvs_iter_close(it)
            lib.cvs_txn_end(txn)
        return out

    def _keys(self) -> list[int]:
        """The internal keys of every record, in insertion order, read in one
        snapshot."""
        return self._each_record(lambda rec: rec.key)

    @_guarded
    def ids(self) -> list[str]:
        """Every record's id, in insertion order (one snapshot).  Raises
        Corrupt when a stored id is damaged."""
        return self._each_record(lambda rec: _s(rec.id, rec.id_len))

    def records(self, *, vector: bool = False, batch: int = 1000):
        """Every record as get() returns it (a dict), in insertion order: what
        `cvstore export` writes, for re-embedding a store with a new model,
        copying it, or reading it whole.  The records are listed when the
        iteration starts and read batch at a time, each batch in its own
        snapshot, so no snapshot is held between records and the loop may
        write to the store: a record deleted meanwhile is skipped, one updated
        is read as it is then, and records added after the start are not
        listed.  Once the store is closed the next record raises
        InvalidArgument("the store is closed")."""
        batch = _int_arg("records: batch", batch, 1)
        self._enter()
        try:
            keys = self._keys()
        finally:
            self._leave()
        for i in range(0, len(keys), batch):
            self._enter()
            try:
                got = self._read_keys(keys[i:i + batch], vector)
            finally:
                self._leave()
            for rec in got:
                # The batch was read while open; once the store is closed
                # (or closing) the loop stops at the next record, as any
                # call on it would.
                if self._h is None or self._closing:
                    raise _closed_error()
                yield rec

    def _read_keys(self, keys, vector: bool) -> list[dict]:
        out = []
        rec = L.cvs_record()
        txn = self._txn()
        try:
            for key in keys:
                vec = np.empty(self.dim, dtype=np.float32) if vector else None
                rc = lib.cvs_get_key(txn, key, byref(rec), vec.ctypes.data if vector else None)
                if rc == L.NOTFOUND:
                    continue
                self._check(rc)
                out.append(_record_dict(rec, vec, txn, self._check))
        finally:
            lib.cvs_txn_end(txn)
        return out

    @_guarded
    def delete(self, ids: str | Sequence[str]) -> int:
        """Deletes the records with these ids (one transaction); returns how
        many there were.  Ids not present are skipped.  Raises TypeError
        for ids that are not a str or a sequence of str, InvalidArgument
        for an empty or over-long id, ReadOnly on a read-only Store."""
        if isinstance(ids, (str, bytes)):
            ids = [ids]
        enc = [_enc(i, "id") for i in ids]
        if not enc:
            return 0
        buf, p, ln = _joined(enc)
        n = c_size_t()
        rc = lib.cvs_delete(self._db, p.ctypes.data, ln.ctypes.data, len(enc), byref(n))
        del buf
        self._check(rc)
        return n.value

    @_guarded
    def import_file(self, path: str | os.PathLike, *, format: str | None = None,
                    ids: str | os.PathLike | None = None, ids_as_text: bool = False,
                    batch: int = 0, link: bool | None = None,
                    progress: Callable[[str, int, int], Any] | None = None) -> dict:
        """Imports a vector or JSONL file as `cvstore import` does (cvs_import):
        the whole file is validated first, then written in batches of batch
        records (0: 10,000), upserted by id.  format: "fvecs", "bvecs",
        "npy" or "jsonl" (None: from the extension; "-" as path is standard
        input and needs it).  ids: a file of one id per line for a vector
        file (ids_as_text stores each as the record's text too).

        link: as `cvstore import`: None (the default) rebuilds the mention
        links of a text store (one with an embedder) and builds its kNN
        graph when it has none, so context() finds both after an import;
        True does that in any store (link()), False skips it.  Returns
        {"records", "inserted", "updated"}, and "link" with what link()
        reports when it ran.  A file of no records (empty, or blank lines
        only: the export of an empty store) imports nothing and returns
        records 0.  A JSONL key that is no record field ("metadata" for
        "meta") is ignored, never silently: each distinct one issues a
        cvstore.UnknownKeyWarning naming its first line and the field it
        likely meant, and the result adds "unknown_keys" (the names, the
        first 16) and "unknown_key_records" (records holding one).

        progress: called as progress(phase, done, total) while the import
        validates and writes (phases "validate", "write"; done and total
        records) and while the link it runs builds the kNN graph ("knn"),
        the reports `cvstore import` draws its bar from.  total is 0 when
        not known yet: a JSONL file's records are counted by its
        validation.  A function of five parameters, progress(phase, done,
        total, bytes_done, bytes_total), is also given the bytes of the
        file read, known for every file (a bar over a large JSONL file's
        validation is drawn from them).  It runs inside the
        import (a write may be open): it must not call the store.  An
        exception it raises is raised once the import has returned (the
        import is not interrupted).

        Raises FileNotFound (a FileNotFoundError and an InvalidArgument),
        PermissionDenied or IsADirectory when path or ids cannot be opened;
        InvalidInput or DimensionMismatch for a record the store refuses
        (nothing is written: the error names the line); InvalidArgument
        for a bad option; ReadOnly on a read-only Store; IoError when
        reading fails, the disk is full, or an embedder fails in the write
        pass (the batches committed stay, and the message says how many
        records: run the same import again)."""
        if batch < 0:
            raise InvalidArgument("batch must be 0 (the default) or more", L.EINVAL, "CVS_EINVAL")
        o = _opts(L.cvs_import_opts, "import_file", batch=int(batch),
                  ids_as_text=1 if ids_as_text else 0)
        if format is not None:
            if format not in L.FORMAT:
                raise InvalidArgument(f"format {format!r}: {', '.join(L.FORMAT)}", L.EINVAL,
                                      "CVS_EINVAL")
            o.format = L.FORMAT[format]
        if ids is not None:
            o.ids_path = os.fsencode(ids)
        elif ids_as_text:
            raise InvalidArgument("ids_as_text needs ids (a file of ids)", L.EINVAL, "CVS_EINVAL")
        st = L.cvs_import_stats()
        heard: list[tuple[str, str]] = []

        def on_unknown(_ctx, key, _line, _suggest, msg):
            heard.append((key.decode("utf-8", "replace"), msg.decode("utf-8", "replace")))

        o.warn = hook = L.import_warn_fn(on_unknown)
        try:
            self._with_progress(progress, o,
                                lambda: lib.cvs_import(self._db, os.fsencode(path), byref(o),
                                                       byref(st)))
        except InvalidArgument as e:
            f = file_error(e, path)
            raise (f if f is not e else file_error(e, ids)) from None
        except Error as e:
            # A write that failed after some batches (a full disk): those
            # stay committed, which the library's message alone does not say.
            n = st.inserted + st.updated
            if n:
                e.message = (f"{e.message}; the first {n} record{'s' if n != 1 else ''} of the "
                             f"file {'are' if n != 1 else 'is'} committed: the same import again, "
                             f"once the problem is fixed, completes it (records are upserted "
                             f"by id)")
                e.args = (e.message,)
            raise
        finally:
            o.warn = L.import_warn_fn()
            del hook
            # After the call, not inside the callback: a warning filter set
            # to "error" then raises here, where Python can, and every key
            # is still said when the import itself failed.
            for _key, msg in heard:
                warnings.warn(msg, UnknownKeyWarning, stacklevel=3)
        out = {"records": st.records, "inserted": st.inserted, "updated": st.updated}
        if st.unknown_key_records:
            out["unknown_keys"] = [k for k, _ in heard]
            out["unknown_key_records"] = st.unknown_key_records
        if st.records == 0:  # an empty file (an empty store's export): nothing changed
            return out
        if link is None and self.embedder() is not None:
            # A text store keeps its graph: mentions judged again against the
            # whole store, the kNN graph built once (puts keep it after).
            ki = L.cvs_knn_info()
            rc = lib.cvs_knn_get_info(self._db, byref(ki))
            if rc not in (0, L.NOTFOUND):
                self._check(rc)
            out["link"] = self.link(knn=rc == L.NOTFOUND, progress=progress)
        elif link:
            out["link"] = self.link(progress=progress)
        return out

    # ==== search ====

    @_guarded
    def search(self, queries, k: int = 10, *, mode: str | None = None,
               nprobe: int | None = None, rerank: int | None = None,
               filter: Mapping | str | None = None, include: Iterable[str] = (),
               threads: int | None = None, refine: int | None = None) -> Results:
        """Top-k search for one vector, a (q, dim) array of vectors, or text
        (a str or a list of str, embedded by the store's embedder).

        mode: "exact", "codes" (scan the compressed codes; rerank re-scores
        that many candidates with the raw vectors), "ann" (the index built by
        build(index=...); nprobe/rerank default to the store's, see tune()),
        or "bm25" (text queries only: lexical search).  None means "ann" when
        the store has an index, else "exact".  filter: a metadata filter as a
        dict or JSON ({"lang": "en"}, {"year": {"$gte": 2000}}, {"$ids":
        [...]}).  include: any of "text", "title", "meta" (a sequence, or
        one string, comma-separated as `--include`), read with the
        results.  threads: ANN batches' worker threads (0 = one per core).
        refine: "ann" over an ivfN,sq8 index: the best max(refine, k) of the
        SQ8 re-rank scored again exactly from the stored vectors (0 = none;
        None = the store's default, see tune()).

        The result is (q, k), padded with -1 past the store's records; a k
        whose (q, k) results would take over 1 GiB (12 bytes each) raises
        InvalidArgument naming k and the store's size.  Query vectors of
        another dimension than the store's raise DimensionMismatch; a mode
        the store cannot answer yet ("ann" before build(index=...), "codes"
        before a codec) or a malformed filter, InvalidArgument.
        """
        if queries is None or isinstance(queries, Mapping):
            # NumPy takes None for a NaN of shape (): "vectors of shape ()".
            raise TypeError(f"search: queries are text, a vector or a (q, dim) array, not "
                            f"{type(queries).__name__}")
        if isinstance(queries, (str, bytes)):
            queries = [queries]
        if isinstance(queries, (list, tuple)) and queries and isinstance(queries[0],
                                                                         (str, bytes)):
            if mode == "bm25":
                # BM25 ranks the whole store and re-scores nothing: these
                # would be ignored, so they are refused (as `search --bm25`).
                given = [n for n, v in (("filter", filter), ("nprobe", nprobe),
                                        ("rerank", rerank), ("threads", threads),
                                        ("refine", refine)) if v is not None]
                if given:
                    raise InvalidArgument(f"mode 'bm25' takes no {', '.join(given)}",
                                          L.EINVAL, "CVS_EINVAL")
                return self._text_search(queries, k, include)
            q = self.embed(queries)
        else:
            # One query is passed as it is (its address is the row's), not
            # reshaped: a fresh view would cost a buffer export per call.
            q = _floats(queries, "queries")
            if not (q.ndim in (1, 2) and q.shape[-1] == self.dim and q.flags.c_contiguous):
                q = self._matrix(q)
        if mode == "bm25":
            raise InvalidArgument("mode 'bm25' needs text queries", L.EINVAL, "CVS_EINVAL")
        nq = q.shape[0] if q.ndim == 2 else 1
        k = _int_arg("search: k", k, 1)
        if mode is None:
            if self._has_index is None:
                self._has_index = self._index_info() is not None
            flags = L.SEARCH_ANN if self._has_index else L.SEARCH_EXACT
        else:
            flags = _MODES.get(mode)
            if flags is None:
                raise InvalidArgument(f"mode {mode!r}: exact, codes, ann or bm25",
                                      L.EINVAL, "CVS_EINVAL")
        n = nq * k
        buf = self._results_buffer(nq, k)
        if not (filter is not None or nprobe or rerank is not None or threads or include
                or refine is not None):
            # The common case in one library call, without a snapshot of our own.
            rc = lib.cvs_search(self._db, _addr(q), nq, k, flags, buf, _byref(buf, n * 8))
            if rc:
                raise self._error(rc)
            res = Results(self, buf, nq, k)
            self._unresolved.add(res)
            return res
        for what, v in (("nprobe", nprobe), ("rerank", rerank), ("refine", refine),
                        ("threads", threads)):
            if v is not None:  # a negative one would wrap in a size_t (rerank -1: all)
                _int_arg(what, v, 0)
        sp = L.cvs_search_params(flags=flags)
        set_ = functools.partial(_set_fields, sp, "search")
        if flags == L.SEARCH_EXACT:
            if nprobe or rerank or refine:
                raise InvalidArgument("nprobe, rerank and refine need mode 'codes' or 'ann'",
                                      L.EINVAL, "CVS_EINVAL")
        elif flags == L.SEARCH_CODES:
            set_(rerank=rerank or 0)
        else:
            set_(nprobe=nprobe or 0)
            if rerank == 0:
                sp.flags |= L.SEARCH_NORERANK
            set_(rerank=rerank or 0, threads=threads or 0)
            if refine is not None:
                set_(refine=L.RERANK_NONE if refine == 0 else int(refine))
        flt = _parse_filter(filter)
        if flt is not None:
            sp.filter = flt.value
        try:
            txn = self._txn()
            try:
                rc = lib.cvs_txn_search_params(txn, _addr(q), nq, k, byref(sp), buf,
                                               _byref(buf, n * 8))
                if rc:
                    raise self._error(rc)
                res = Results(self, buf, nq, k)
                if include:
                    _fill_include(res, txn, include)
                else:
                    self._unresolved.add(res)
            finally:
                lib.cvs_txn_end(txn)
        finally:
            if flt is not None:
                lib.cvs_filter_free(flt)
        return res

    def _results_buffer(self, nq: int, k: int):
        """_out_buffer for nq x k results (12 bytes each: id key and score),
        or an error saying why: above _RESULTS_MAX_BYTES InvalidArgument
        naming k and the store's size, before any allocation (k=10**9 on a
        small store asked for gigabytes, which the machine may even grant,
        to return -1 padding), and OutOfMemory when a smaller one fails."""
        if nq * k * 12 > _RESULTS_MAX_BYTES:
            raise InvalidArgument(
                f"search: k {k} for {nq} quer{'y' if nq == 1 else 'ies'} needs "
                f"{nq * k * 12} bytes of results, over the bound of "
                f"{_RESULTS_MAX_BYTES >> 30} GiB; the store has {len(self)} records, and k "
                f"need not exceed that (results are padded to k)", L.EINVAL, "CVS_EINVAL")
        try:
            return _out_buffer(nq * k)
        except (MemoryError, OverflowError):
            pass
        raise OutOfMemory(f"search: no memory for {nq} x {k} results ({nq * k * 12} bytes); "
                          f"the store has {len(self)} records, and k need not exceed that",
                          L.ENOMEM, "CVS_ENOMEM")

    def _text_search(self, queries, k: int, include) -> Results:
        nq = len(queries)
        k = _int_arg("search: k", k, 1)
        buf = self._results_buffer(nq, k)
        txn = self._txn()
        try:
            for i, t in enumerate(queries):
                b = _enc(t, "query")
                self._check(lib.cvs_txn_text_search(txn, b, len(b), k, _byref(buf, i * k * 8),
                                                    _byref(buf, nq * k * 8 + i * k * 4)))
            res = Results(self, buf, nq, k)
            if include:
                _fill_include(res, txn, include)
            else:
                self._unresolved.add(res)
        finally:
            lib.cvs_txn_end(txn)
        return res

    # ==== compression and indexes ====

    def _with_progress(self, progress, opts, call) -> None:
        """Runs call() (a library call returning its code) with opts.progress
        calling progress (_progress_hook); raises what progress raised, then
        the call's error."""
        raised: list[BaseException] = []
        opts.progress = hook = _progress_hook(progress, raised)
        try:
            rc = call()
        finally:
            opts.progress = L.progress_fn()
            del hook
        if raised:
            raise raised[0]
        self._check(rc)

    @_guarded
    def build(self, codec: str | None = None, index: str | None = None, *, seed: int = 0,
              max_train: int = 0, anisotropic_eta: float = 0.0,
              progress: Callable[[str, int, int], Any] | None = None) -> dict:
        """Trains a codec (spec such as "pq32", "opq,pq16", "pca64,sq8") on a
        sample of the vectors and encodes every record, and/or builds an ANN
        index ("ivf", "ivf1024,residual", "faiss:HNSW32").  With neither (or
        "auto") the library chooses them from the store's size, dimension
        and raw mode (cvs_build_choose).  Returns {"codec": ..., "index":
        ...} as stats() reports them.  progress: as import_file's, with the
        build's phases ("sample", "coarse", "pq", "encode", ...).

        Raises InvalidArgument for a spec the library does not take (or a
        codec that does not fit the dimension: "pq3" of 4 dimensions), or
        a store too small to train on; ReadOnly on a read-only Store;
        FaissError for a FAISS index FAISS refuses; Conflict when other
        builds kept overtaking this one (nothing written: build again)."""
        o = _opts(L.cvs_build_opts, "build", seed=seed, max_train=max_train,
                  anisotropic_eta=anisotropic_eta, index=_cstr(index))
        self._has_index = None
        self._with_progress(progress, o, lambda: lib.cvs_build(self._db, _cstr(codec), byref(o)))
        st = self.stats()
        return {"codec": st["codec"], "index": st["index"]}

    @_guarded
    def tune(self, target_recall: float = 0.95, *, k: int = 10, sample: int = 0,
             seed: int = 0, rebuild: bool = False, queries=None,
             progress: Callable[[str, int, int], Any] | None = None) -> dict:
        """Measures recall of the ANN index on a sample of the store's own
        vectors and stores the cheapest nprobe/rerank reaching target_recall
        as the defaults (rebuild=True: also tries other IVF list counts and
        ",sq8" rows, rebuilding the index); returns {"nprobe", "rerank",
        "refine", "recall", "ms_per_query", "reached", "index", "rebuilds", "sample",
        "searches"} (searches: runs of the sample the tune made).
        queries: sample queries of the workload, a (q, dim) array (or text,
        embedded by the store's embedder), measured instead of the store's
        own vectors.  progress: as import_file's, while it measures and
        rebuilds.  Raises InvalidArgument for a store with no index (or a
        raw "none" store: no exact search to measure against), a
        target_recall outside (0, 1], or queries of another dimension;
        ReadOnly on a read-only Store."""
        k = _int_arg("tune: k", k, 0)  # 0: the library's default
        sample = _int_arg("tune: sample", sample, 0)
        o = _opts(L.cvs_tune_opts, "tune", target_recall=target_recall, k=k, sample=sample,
                  seed=seed, flags=L.TUNE_REBUILD if rebuild else 0)
        q = None
        if queries is not None:
            if isinstance(queries, (str, bytes)):
                queries = [queries]
            if isinstance(queries, (list, tuple)) and queries and isinstance(
                    queries[0], (str, bytes)):
                q = self.embed(queries)
            else:
                q = self._matrix(_floats(queries, "queries"))
            o.queries = _addr(q)
            o.nqueries = q.shape[0]
        r = L.cvs_tune_result()
        self._has_index = None
        self._with_progress(progress, o, lambda: lib.cvs_tune(self._db, byref(o), byref(r)))
        return {"nprobe": r.nprobe, "rerank": r.rerank, "refine": r.refine, "recall": r.recall,
                "ms_per_query": r.ms_per_query, "reached": bool(r.reached),
                "index": r.index.decode(), "rebuilds": r.rebuilds, "sample": r.sample,
                "searches": r.searches}

    @_guarded
    def link(self, *, mentions: bool = True, knn: bool = True, k: int = 16,
             ann: bool = False, progress: Callable[[str, int, int], Any] | None = None) -> dict:
        """Builds the graph context() walks: mention links from titles found
        in texts, and the kNN graph (k neighbours per record).  progress: as
        import_file's, while the kNN graph is built (phase "knn").  Raises
        ReadOnly on a read-only Store, InvalidArgument for a k of 0 or an
        ann=True without an index."""
        k = _int_arg("link: k", k, 1)
        if self.readonly and (mentions or knn):
            # Said as every other write says it (the library's mention
            # linker names its C function here).
            raise ReadOnly(f"{os.fsdecode(self.path)}: store opened read-only", L.ERDONLY,
                           "CVS_ERDONLY")
        out = {}
        if mentions:
            ls = L.cvs_link_stats()
            self._check(lib.cvs_link_mentions(self._db, byref(ls)))
            out["mentions"] = {"records": ls.records, "titles": ls.titles,
                               "sources": ls.sources, "links": ls.links}
        if knn:
            ko = _opts(L.cvs_knn_opts, "link", k=k, flags=L.SEARCH_ANN if ann else 0)
            ki = L.cvs_knn_info()
            self._with_progress(progress, ko,
                                lambda: lib.cvs_knn_build(self._db, byref(ko), byref(ki)))
            out["knn"] = {"k": ki.k, "records": ki.records, "recall": ki.recall}
        return out

    @_guarded
    def stats(self) -> dict:
        """The store's figures, as `cvstore stats --json` gives them (count,
        dim, metric, raw, format_version, encrypted, disk_bytes, map_bytes,
        codec, index, links_outdated), plus the embedder.  Raises Corrupt
        when the codec or index it describes is damaged."""
        info = self._info()
        out = {"path": self.path, "count": info.count, "dim": info.dim,
               "metric": L.METRIC_NAME.get(info.metric), "raw": L.RAW_NAME.get(info.raw),
               "format_version": info.format_version, "encrypted": bool(info.encrypted),
               "disk_bytes": info.disk_bytes, "map_bytes": info.map_bytes,
               "created_us": info.created_us, "codec": None, "index": None}
        ci = L.cvs_codec_info()
        rc = lib.cvs_codec_get_info(self._db, byref(ci))
        if rc == 0:
            out["codec"] = {"spec": ci.spec.decode(), "code_bytes": ci.code_bytes,
                            "param_bytes": ci.param_bytes, "generation": ci.generation,
                            "format": ci.format}
        elif rc != L.NOTFOUND:
            self._check(rc)
        ii = self._index_info()
        if ii is not None:
            out["index"] = {"spec": ii.spec.decode(), "count": ii.count, "nlist": ii.nlist,
                            "residual": bool(ii.residual), "nprobe": ii.nprobe,
                            "rerank": ii.rerank, "mem_bytes": ii.mem_bytes,
                            "mem_bytes_per_vector": ii.mem_bytes / ii.count if ii.count else 0.0,
                            "disk_bytes": ii.disk_bytes, "dirty": ii.dirty,
                            "refine": ii.refine}
        out["embedder"] = self.embedder()
        outdated = ctypes.c_int(0)
        self._check(lib.cvs_link_rule_outdated(self._db, byref(outdated)))
        out["links_outdated"] = bool(outdated.value)
        return out

    @_guarded
    def check(self, *, progress: Callable[[str, int, int], Any] | None = None) -> list[str]:
        """Verifies the store's invariants without changing anything; the
        problems found, one message each ([] for a healthy store).

        progress: called as progress(phase, done, total) as the check walks
        each of the store's databases (phase "check NAME": "check ids",
        "check vecs", "check postings", ...; done and total its entries), as
        `cvstore check` draws its bar (cvs_check_progress); a large store's
        check takes minutes.  An exception it raises is raised by check()
        once the check has returned (the walk is not interrupted)."""
        problems: list[str] = []
        raised: list[BaseException] = []

        def report(_ctx, msg):
            problems.append(msg.decode("utf-8", "replace"))

        cb = L.report_fn(report)
        pcb = _progress_hook(progress, raised)
        n = c_uint64()
        rc = lib.cvs_check_progress(self._db, cb, None, pcb, None, byref(n))
        if raised:
            raise raised[0]
        self._check(rc)
        if n.value and not problems:
            problems.append(f"{n.value} problems")
        return problems

    # ==== context sets ====

    @_guarded
    def context(self, question: str | None = None, *, vector=None, budget: int = 512,
                strategy: str | None = None, hops: int | None = None, unit: str | None = None,
                filter: Mapping | str | None = None, **opts) -> Context:
        """The context set for a question (cvs_context): hybrid BM25 + vector
        seeds, a walk of `hops` over links and kNN edges, and a selection by
        `strategy` ("diverse", "topk", "mmr", "bm25", "vector") whose tokens
        stay within `budget`.  `unit` "sentence" keeps only the sentences of
        each record that answer the question (each item's ``text`` is its
        chosen sentences joined by a space, ``sentences`` their indexes);
        "passage" (the default) whole records.  Other cvs_context_opts
        fields may be given by name (lexical_weight, seeds, depth, bridges,
        lambda_, ...).

        filter: a metadata filter as ``search`` takes it (a dict or JSON
        text, e.g. ``{"tenant": "acme"}``): every item matches it, and no
        seed or step of the walk lies outside it; none matching gives an
        empty set.  A malformed filter raises InvalidArgument naming the
        member.  Each item's ``meta`` is its record's metadata.

        vector: the question's vector (dim floats) instead of its embedding,
        as `cvstore context --query-vector` takes it: for a store without
        an embedder, or vectors made elsewhere; with no question the seeds
        are the vector's nearest records alone.  A question of no words
        (empty, spaces of any kind, punctuation, symbols) without a vector raises
        InvalidArgument rather than return an empty set; a vector of another
        dimension than the store's, DimensionMismatch."""
        if question is None and vector is None:
            raise InvalidArgument("context: give a question, a vector, or both", L.EINVAL,
                                  "CVS_EINVAL")
        budget = _int_arg("context: budget", budget, 1)
        o = L.cvs_context_opts()
        lib.cvs_context_opts_init(byref(o))
        _set_fields(o, "context", budget=budget)
        if strategy is not None:
            if strategy not in L.CONTEXT_STRATEGY:
                raise InvalidArgument(f"strategy {strategy!r}: one of "
                                      f"{', '.join(L.CONTEXT_STRATEGY)}", L.EINVAL, "CVS_EINVAL")
            o.strategy = L.CONTEXT_STRATEGY[strategy]
        if hops is not None:
            _set_fields(o, "context", hops=hops)
        if unit is not None:
            if unit not in L.CONTEXT_UNIT:
                raise InvalidArgument(f"unit {unit!r}: one of {', '.join(L.CONTEXT_UNIT)}",
                                      L.EINVAL, "CVS_EINVAL")
            o.unit = L.CONTEXT_UNIT[unit]
        names = {f for f, _ in L.cvs_context_opts._fields_} - {"filter"}
        for key, v in opts.items():
            if key == "fusion":
                if v not in L.FUSION:
                    raise InvalidArgument(f"fusion {v!r}: one of {', '.join(L.FUSION)}",
                                          L.EINVAL, "CVS_EINVAL")
                v = L.FUSION[v]
            elif key not in names:
                raise TypeError(f"context() got an unexpected option {key!r}")
            _set_fields(o, "context", **{key: v})
        b = None if question is None else _enc(question, "question")
        r = L.cvs_context_result()
        _tls.embed_exc = None
        q = None
        if vector is not None:
            q = self._matrix(vector)
            if q.shape[0] != 1:
                raise InvalidArgument(f"context: one vector, not {q.shape[0]}", L.EINVAL,
                                      "CVS_EINVAL")
        flt = _parse_filter(filter)
        try:
            o.filter = flt.value if flt is not None else None
            if q is None:
                self._check(lib.cvs_context(self._db, byref(o), b, len(b), byref(r)))
            else:
                txn = self._txn()
                try:
                    self._check(lib.cvs_txn_context(txn, byref(o), b, len(b) if b else 0,
                                                    q.ctypes.data, byref(r)))
                finally:
                    lib.cvs_txn_end(txn)
        finally:
            if flt is not None:
                lib.cvs_filter_free(flt)
        try:
            items = []
            for i in range(r.n):
                it = r.items[i]
                via = [(_s(it.via[s].id, it.via[s].id_len), it.via[s].type.decode())
                       for s in range(it.hop + 1)]
                sents = ([it.sentences[k] for k in range(it.nsentences)]
                         if it.sentences else None)
                meta = _s(it.meta, it.meta_len)
                items.append(ContextItem(_s(it.id, it.id_len), float(it.score), it.tokens,
                                         it.hop, via, _s(it.title, it.title_len),
                                         _s(it.text, it.text_len), it.key, sents,
                                         json.loads(meta) if meta is not None else None))
            note = ctypes.c_char_p()
            if lib.cvs_context_note(byref(r), b, len(b) if b else 0, byref(note)):
                note.value = None
            return Context(items, r.tokens, r.budget, r.pool, r.seconds,
                           note.value.decode("utf-8") if note.value else None)
        finally:
            lib.cvs_context_result_free(byref(r))

    # ==== memory (the MCP tools' operations) ====

    def _remember_opts(self, namespace, metadata, links, conversation, supersedes, near_dup,
                       max_bytes) -> tuple:
        """The cvs_mem_remember_opts of remember and remember_many, with the
        objects that must live as long as they (links' strings)."""
        ns = _ns(namespace)
        o = L.cvs_mem_remember_opts(ns=ns.encode(),
                                    conversation=_cstr(conversation, "conversation"),
                                    supersedes=_cstr(supersedes, "supersedes"), near_dup=near_dup or 0.0,
                                    max_bytes=max_bytes or 0)
        refs = []
        if metadata is not None:
            m = _enc(_dumps(metadata), "metadata")
            o.meta, o.meta_len = m, len(m)
            refs.append(m)
        if isinstance(links, (str, bytes)):
            links = [links]  # one id, not its characters
        if links:
            arr, lrefs = _links(links)
            o.links, o.nlinks = ctypes.cast(arr, ctypes.POINTER(L.cvs_link)), len(arr)
            refs += [arr, lrefs]
        return ns, o, refs

    @staticmethod
    def _remembered(out, ns: str) -> dict:
        r = {"id": out.id.decode(), "status": L.MEM_OUTCOME.get(out.outcome, "?"),
             "namespace": ns}
        if out.outcome == 3:
            r["similarity"] = float(out.similarity)
        if out.superseded:
            r["supersedes"] = out.superseded.decode()
        return r

    @_guarded
    def remember(self, text: str, *, namespace: str | None = None,
                 metadata: Mapping | None = None, links: Sequence | None = None,
                 conversation: str | None = None, supersedes: str | None = None,
                 near_dup: float | None = None, max_bytes: int | None = None) -> dict:
        """Stores a memory (MCP `remember`) in namespace (None or "": the
        default namespace, "default"): {"id", "status" ("added",
        "duplicate" or "merged"), "namespace"}, with "similarity" when merged
        and "supersedes" when it replaced an earlier memory.  A memory whose
        text plus metadata is over max_bytes (default: the library's
        CVS_MEM_MAX_BYTES, 64 KiB) raises InvalidInput, and so does a text
        of no words (empty, spaces of any kind, punctuation, symbols)."""
        ns, o, refs = self._remember_opts(namespace, metadata, links, conversation, supersedes,
                                          near_dup, max_bytes)
        b = _enc(text, "text")
        out = L.cvs_mem_remembered()
        _tls.embed_exc = None
        rc = lib.cvs_mem_remember(self._db, b, len(b), byref(o), byref(out))
        del refs
        self._check(rc)
        return self._remembered(out, ns)

    @_guarded
    def remember_many(self, texts: Sequence[str], *, namespace: str | None = None,
                      metadata: Mapping | None = None, links: Sequence | None = None,
                      conversation: str | None = None, supersedes: str | None = None,
                      near_dup: float | None = None, max_bytes: int | None = None) -> list:
        """Stores many memories with the same options (a conversation log, a
        notes file): a list of what remember returns, one per text, the
        same as remember called on each text in order would give (a later
        text may be a duplicate of, merge into or revise an earlier one),
        but embedded together and written in one transaction (with the
        minilm embedder about half the CPU time per text).  All or
        nothing: a bad text (empty, of no words, over max_bytes) raises
        InvalidInput naming its index ("text 3: ...") and nothing is
        stored; TypeError for a str passed as texts or an item that is not
        a str; InvalidArgument for more than 1000 texts (the library's
        CVS_MEM_REMEMBER_MAX: a batch's checks cost the square of its
        size; split it).  An empty list stores nothing and returns []."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("remember_many: texts must be a list of str, not one str "
                            "(remember takes one)")
        enc = [_enc(t, f"texts[{i}]") for i, t in enumerate(texts)]
        ns, o, refs = self._remember_opts(namespace, metadata, links, conversation, supersedes,
                                          near_dup, max_bytes)
        n = len(enc)
        arr = (ctypes.c_char_p * max(n, 1))(*enc)
        lens = (ctypes.c_size_t * max(n, 1))(*[len(b) for b in enc])
        outs = (L.cvs_mem_remembered * max(n, 1))()
        _tls.embed_exc = None
        rc = lib.cvs_mem_remember_many(self._db, arr, lens, n, byref(o), outs)
        del refs
        self._check(rc)
        return [self._remembered(outs[i], ns) for i in range(n)]

    @_guarded
    def recall(self, query: str, *, namespace: str | None = None, k: int = 10,
               token_budget: int = 0, strategy: str = "diverse", retrieval: str = "hybrid",
               hops: int = 0, half_life_seconds: float = 0.0,
               filter: Mapping | str | None = None, touch: bool = True,
               unit: str = "passage") -> dict:
        """The namespace's context set for a query (MCP `recall`; namespace
        None or "" is "default", as in every memory call); unit
        "sentence" keeps only each memory's sentences that answer the query:
        {"memories": [...], "tokens", "namespace"}; each memory has id, text,
        metadata, namespace, created_us, last_recalled_us, tokens, score,
        hop and via ([{"id", "type"}] from the direct hit), and conversation,
        supersedes, superseded_by when set.  A k above the memories that
        match (10**9, "all of them") returns every match; a query of no
        words (empty, spaces of any kind, punctuation, symbols) raises
        InvalidArgument."""
        ns = _ns(namespace)
        # No more memories come back than the store holds: a k beyond that
        # (10**9 for "all of them") asks for every match, as the library
        # takes it (it caps k at the memories that match).
        k = min(_int_arg("recall: k", k, 1), max(1, int(self._info().count)))
        token_budget = _int_arg("recall: token_budget", token_budget, 0)
        if strategy in L.MEM_RETRIEVAL:  # as MCP: strategy may name the rankings
            retrieval, strategy = strategy, "diverse"
        if strategy not in ("diverse", "topk", "mmr"):
            raise InvalidArgument("recall: strategy must be diverse, topk or mmr",
                                  L.EINVAL, "CVS_EINVAL")
        if retrieval not in L.MEM_RETRIEVAL:
            raise InvalidArgument("recall: retrieval must be hybrid, lexical or vector",
                                  L.EINVAL, "CVS_EINVAL")
        flt = _filter_text(filter)
        o = L.cvs_mem_recall_opts(ns=ns.encode(), strategy=L.MEM_RETRIEVAL[retrieval],
                                  selection=L.CONTEXT_STRATEGY[strategy],
                                  half_life_s=half_life_seconds, filter=flt,
                                  filter_len=len(flt) if flt else 0, no_touch=0 if touch else 1)
        _set_fields(o, "recall", k=k, token_budget=token_budget, hops=hops)
        if unit not in L.CONTEXT_UNIT:
            raise InvalidArgument("recall: unit must be passage or sentence", L.EINVAL,
                                  "CVS_EINVAL")
        o.unit = L.CONTEXT_UNIT[unit]
        b = _enc(query, "query")
        r = L.cvs_mem_items()
        _tls.embed_exc = None
        self._check(lib.cvs_mem_recall(self._db, b, len(b), byref(o), byref(r)))
        try:
            out = {"memories": _mem_items(r, True), "tokens": r.tokens, "namespace": ns}
            note = None if r.n else _empty_note(b)
            if note:
                out["note"] = note
            return out
        finally:
            lib.cvs_mem_items_free(byref(r))

    @_guarded
    def forget(self, id: str | None = None, *, filter: Mapping | str | None = None,
               namespace: str | None = None) -> int:
        """Deletes the memory id and/or the memories matching filter ({} for
        the whole namespace) from the namespace (None or "": "default")
        (MCP `forget`); the count.  Raises InvalidArgument for neither id
        nor filter, or a malformed filter; ReadOnly on a read-only Store."""
        if id is None and filter is None:
            raise InvalidArgument("forget: give an id or a filter", L.EINVAL, "CVS_EINVAL")
        ns = _ns(namespace)
        idb = _cstr(id, "id")
        flt = _filter_text(filter)
        n = c_size_t()
        self._check(lib.cvs_mem_forget(self._db, ns.encode(), idb, len(idb) if idb else 0,
                                       flt, len(flt) if flt else 0, byref(n)))
        return n.value

    @_guarded
    def list_memories(self, namespace: str | None = None, *, limit: int = 20,
                      cursor: str | None = None) -> dict:
        """A page of the namespace's memories (None or "": "default"),
        newest first (MCP `list`):
        {"memories": [...], "namespace", "next_cursor"} (next_cursor None
        after the last page).  Raises InvalidArgument for a bad cursor or
        limit."""
        ns = _ns(namespace)
        limit = _int_arg("list_memories: limit", limit, 1)
        r = L.cvs_mem_items()
        self._check(lib.cvs_mem_list(self._db, ns.encode(), _cstr(cursor, "cursor"), limit, byref(r)))
        try:
            return {"memories": _mem_items(r, False), "namespace": ns,
                    "next_cursor": r.cursor.decode() or None}
        finally:
            lib.cvs_mem_items_free(byref(r))


def _links(lk) -> tuple:
    """A ctypes array of cvs_link for a list of ids / tuples / dicts, and the
    bytes it points into (keep both alive during the call)."""
    arr = (L.cvs_link * len(lk))()
    refs = []
    for j, l in enumerate(lk):
        if isinstance(l, (str, bytes)):
            lid, typ, w = l, None, 1.0
        elif isinstance(l, Mapping):
            lid, typ, w = l["id"], l.get("type"), l.get("weight", 1.0)
        elif isinstance(l, (tuple, list)):
            lid, typ, w = (tuple(l) + (None, 1.0))[:3]
        else:  # an int id said "'int' object is not iterable"
            raise TypeError(f"links[{j}] must be an id (str), an (id, type, weight) tuple "
                            f"or a dict, not {type(l).__name__}")
        b = _enc(lid, "link id")
        t = _cstr(typ)
        refs.append((b, t))
        arr[j].id = ctypes.cast(ctypes.c_char_p(b), c_void_p)
        arr[j].id_len = len(b)
        arr[j].type = t
        arr[j].weight = 1.0 if w is None else float(w)
    return arr, refs


def _given_sentences(txn, rec: L.cvs_record, check) -> list[str] | None:
    """The sentences the record was put with (cvs_txn_sentences, given), as
    strings of its text, or None when its text was split by ICU or it has
    none.  A failing read (a damaged or undecryptable record) raises through
    check, the store's _check: it must not read as "split by ICU"."""
    n, given = c_size_t(), ctypes.c_int()
    check(lib.cvs_txn_sentences(txn, rec.key, None, 0, byref(n), byref(given)))
    if not given.value or not n.value or not rec.text:
        return None
    pairs = np.empty(2 * n.value, dtype=np.uint32)
    check(lib.cvs_txn_sentences(txn, rec.key, pairs.ctypes.data, n.value, byref(n),
                                byref(given)))
    text = ctypes.string_at(rec.text, rec.text_len)
    return [text[a:b].decode() for a, b in pairs.reshape(-1, 2).tolist()]


def _sentence_offsets(text: bytes, sents, i: int) -> list[int]:
    """Byte offsets (start, end) into text of each sentence of sents, found
    in order (each after the one before): the record's given sentences."""
    out, pos = [], 0
    for s in sents:
        b = _enc(s, "sentence")
        at = text.find(b, pos)
        if not b or at < 0:
            raise InvalidInput(f"put: record {i}: sentence {s!r} is not in its text (after "
                               f"the sentence before it)", L.EINPUT, "CVS_EINPUT")
        out += [at, at + len(b)]
        pos = at + len(b)
    return out


def _record_dict(rec: L.cvs_record, vec, txn=None, check=None) -> dict:
    links = []
    for i in range(rec.nlinks):
        lk = rec.links[i]
        links.append({"id": _s(lk.id, lk.id_len),
                      "type": lk.type.decode() if lk.type else None,
                      "weight": float(lk.weight)})
    meta = _s(rec.meta, rec.meta_len)
    return {"id": _s(rec.id, rec.id_len), "key": rec.key, "vector": vec,
            "text": _s(rec.text, rec.text_len), "title": _s(rec.title, rec.title_len),
            "meta": json.loads(meta) if meta else None, "links": links,
            "sentences": _given_sentences(txn, rec, check) if txn else None,
            "created_us": rec.created_us, "updated_us": rec.updated_us}


def _fill_include(res: Results, txn, include) -> None:
    if isinstance(include, str):  # "text" or "text,title", as the CLI's --include
        include = [f.strip() for f in include.split(",")]
    include = set(include)
    bad = include - {"text", "title", "meta"}
    if bad:
        raise InvalidArgument(f"include: unknown field(s) {sorted(bad)}; text, title, meta",
                              L.EINVAL, "CVS_EINVAL")
    ids, texts, titles, metas = [], [], [], []
    rec = L.cvs_record()
    for row in res.keys.tolist():
        ri, rt, rti, rm = [], [], [], []
        for key in row:
            if key < 0:
                break
            rc = lib.cvs_get_key(txn, key, byref(rec), None)
            if rc:
                raise error(rc)
            ri.append(_s(rec.id, rec.id_len))
            rt.append(_s(rec.text, rec.text_len))
            rti.append(_s(rec.title, rec.title_len))
            m = _s(rec.meta, rec.meta_len)
            rm.append(json.loads(m) if m else None)
        ids.append(ri)
        texts.append(rt)
        titles.append(rti)
        metas.append(rm)
    res._ids = ids
    if "text" in include:
        res.texts = texts
    if "title" in include:
        res.titles = titles
    if "meta" in include:
        res.metas = metas


def _mem_items(r: L.cvs_mem_items, with_score: bool) -> list[dict]:
    out = []
    for i in range(r.n):
        it = r.items[i]
        d = {"id": _s(it.id, it.id_len), "text": _s(it.text, it.text_len),
             "metadata": json.loads(it.meta) if it.meta else {},
             "namespace": it.ns.decode() if it.ns else None,
             "created_us": it.created_us, "last_recalled_us": it.recalled_us or None,
             "tokens": it.tokens}
        if with_score:
            d["score"] = float(it.score)
        for name in ("conversation", "supersedes", "superseded_by"):
            v = getattr(it, name)
            if v:
                d[name] = v.decode()
        if it.npath:
            d["hop"] = it.npath - 1
            d["via"] = [{"id": it.path[s].decode(), "type": it.path_types[s].decode()}
                        for s in range(it.npath)]
        out.append(d)
    return out


def open(path: str | os.PathLike, *, create: bool = False, dim: int | None = None,
         metric: str = "cosine", raw: str = "f32", embedder: str | Callable | None = None,
         passphrase: str | bytes | None = None, readonly: bool = False,
         embedder_name: str | None = None,
         wait: Callable[[int | None, float, bool], Any] | str | None = "warn") -> Store:
    """Opens the store in directory path, or creates it (create=True; then
    dim is required, except with embedder="glove", "use" or "minilm", whose
    dimension is their own: 100, 512, 384).  Given on an open, dim is
    checked: a store of another dimension raises DimensionMismatch.

    metric: "cosine" (vectors normalized at insert), "l2" or "ip".  raw: how
    raw vectors are kept, "f32", "f16" or "none" (codes only once a codec is
    built).  embedder: None, "glove" (the built-in SIF-GloVe, whose files
    cvs_glove_dir names), "use" (the built-in Universal Sentence Encoder
    lite, whose file cvs_use_dir names), "minilm" (the built-in
    all-MiniLM-L6-v2, whose files cvs_minilm_dir names), or a callable texts -> (n, dim) array (see
    Store.set_embedder; embedder_name names it); a create whose embedder
    cannot be attached (NotFound: no model yet) leaves no store behind.
    passphrase: create an
    encrypted store, or open one (WrongPassphrase when wrong or missing).
    Opening an existing store without passphrase= falls back to the
    environment variable CVSTORE_PASSPHRASE, as the command line does, so a
    program and the CLI run in one environment open the same stores; an
    explicit passphrase= wins over it, and a store of plain text ignores it.
    A create never reads it (the CLI's init encrypts only when asked with
    --encrypt; here, only with passphrase=).  The passphrase is never put
    into a message or a repr.
    wait: what a write does while another process's writer holds the store
    (Store.set_wait): "warn" (the default) issues a cvstore.WaitWarning
    once the wait passes a second, a callable wait(pid, waited_s, done) is
    called instead, None waits silently.

    Raises DimensionMismatch when dim is given and the store's is another,
    StoreNotFound (a NotFound and a FileNotFoundError) when there
    is no store at path (and create is False), FileNotFound (an
    InvalidArgument and a FileNotFoundError) when the directory to create
    it in is not there,
    AlreadyExists when creating over one, InvalidArgument when this process
    has the store open already (LMDB allows one handle per process: share
    the Store between threads).
    """
    p = os.fsencode(os.fspath(path))
    if create and readonly:
        # A create writes: it made the store all the same, and returned a
        # handle that could not write.
        raise InvalidArgument("open: create=True and readonly=True exclude each other",
                              L.EINVAL, "CVS_EINVAL")
    with _open_lock:
        _check_not_open(p)
        return _open_locked(p, create, dim, metric, raw, embedder, passphrase, readonly,
                            embedder_name, wait)


# LMDB must not have one environment open twice in a process: closing either
# handle drops the other's locks.  The library leaves that to the caller
# ("one cvs_db handle per process per store"); from Python, a second open()
# of a store is an easy mistake, so open() refuses it while the first Store
# is open.  Keyed by the directory's device and inode, so other spellings of
# the path are the same store.
_open_lock = threading.Lock()
_open_stores: "dict[tuple[int, int], weakref.ref]" = {}


def _after_fork_in_child() -> None:
    # Another thread of the parent may have held the lock at the fork: the
    # child, which does not have that thread, gets a free one.
    global _open_lock
    _open_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _store_key(p: bytes):
    try:
        st = os.stat(p)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _check_not_open(p: bytes) -> None:
    key = _store_key(p)
    ref = _open_stores.get(key) if key else None
    other = ref() if ref else None
    # A Store of the parent process (this is a child of a fork) is no
    # handle of this one's: the child opens its own.
    if other is not None and other._h is not None and other._pid == os.getpid():
        raise InvalidArgument(f"{os.fsdecode(p)}: this store is open already in this process "
                              f"({other!r}); share that Store between threads, or close it "
                              "first", L.EINVAL, "CVS_EINVAL")


def _open_locked(p, create, dim, metric, raw, embedder, passphrase, readonly, embedder_name,
                 wait):
    h = c_void_p()
    pw = _enc(passphrase, "passphrase") if passphrase is not None else None
    from_env = False
    if pw is None and not create:
        # The CLI's fallback (cli/common.c:cli_passphrase): the variable's
        # bytes as they are, an empty one as none.
        pw = os.environb.get(b"CVSTORE_PASSPHRASE") or None
        from_env = pw is not None
    existed = True
    if create:
        if metric not in L.METRIC:
            raise InvalidArgument(f"metric {metric!r}: cosine, l2 or ip", L.EINVAL, "CVS_EINVAL")
        if raw not in L.RAW:
            raise InvalidArgument(f"raw {raw!r}: f32, f16 or none", L.EINVAL, "CVS_EINVAL")
        if dim is None:
            if embedder == "glove":
                dim = 100
            elif embedder == "use":
                dim = 512
            elif embedder == "minilm":
                dim = 384
            else:
                raise InvalidArgument("create: dim is required", L.EINVAL, "CVS_EINVAL")
        # Checked here: ctypes wraps an int into the uint32 field (2**32 + 3
        # made a store of 3 dimensions, True one of 1).
        try:
            d = None if isinstance(dim, bool) else operator.index(dim)
        except TypeError:
            d = None
        if d is None or not 1 <= d <= L.MAX_DIM:
            raise InvalidArgument(f"create: dim {dim!r}: an integer from 1 to {L.MAX_DIM}",
                                  L.EINVAL, "CVS_EINVAL")
        o = L.cvs_create_opts(dim=d, metric=L.METRIC[metric], raw=L.RAW[raw])
        # Made here, exclusively, so that a failure below removes only a
        # directory this call made (the library's create claims the
        # store's files with O_EXCL and removes what it made itself):
        # another process's store, created between a check and the
        # create, is never touched.  Any other error is the library's to
        # name.
        try:
            os.mkdir(p, 0o700)
            existed = False
        except OSError:
            existed = True
        if pw is not None:
            rc = lib.cvs_db_create_encrypted(p, byref(o), pw, len(pw), byref(h))
        else:
            rc = lib.cvs_db_create(p, byref(o), byref(h))
    else:
        o = L.cvs_open_opts(flags=L.OPEN_RDONLY if readonly else 0, passphrase=pw,
                            passphrase_len=len(pw) if pw else 0)
        rc = lib.cvs_db_open_opts(p, byref(o), byref(h))
    if rc:
        e = error(rc, None)
        if create and not existed and rc != L.EEXIST:
            # A create that failed (a full disk) leaves no empty directory.
            with contextlib.suppress(OSError):
                os.rmdir(p)
        if rc == L.EKEY and pw is None:
            # The library's hint names the CLI's ways to give one.
            e.message = (f"{os.fsdecode(p)}: the store is encrypted: open it with "
                         f"passphrase=... (or set CVSTORE_PASSPHRASE)")
            e.args = (e.message,)
        elif rc == L.EKEY and from_env:
            # Say where the wrong one came from: the caller gave none.
            e.message = (f"{os.fsdecode(p)}: the passphrase in CVSTORE_PASSPHRASE does not "
                         f"open this store; pass passphrase=... to give another")
            e.args = (e.message,)
        elif rc == L.ERDONLY and not create and not readonly:
            # A read-only file system: the CLI's reads and MCP open such a
            # store read-only by themselves; a Store is opened for writing.
            # Another user's store is not read that way: a reader writes
            # lock.mdb too.
            e.message = (f"{e.message}: this user may not write the store"
                         if e.message.endswith("Permission denied") else
                         f"{e.message}: the store cannot be written there; "
                         f"cvstore.open(path, readonly=True) reads it")
            e.args = (e.message,)
        elif rc == L.NOTFOUND and not create:
            # The library's hint names the CLI's `cvstore init`.  Also a
            # FileNotFoundError: Python code opening files catches that.
            e = StoreNotFound(f"{os.fsdecode(p)}: no store there (create one with "
                              f"cvstore.open(path, create=True, dim=...))", e.code, e.name)
            e._set_os(errno.ENOENT, os.fsdecode(p))
        elif rc == L.EINVAL and create:
            # A directory to create it in that is not there: os.mkdir's
            # FileNotFoundError too.
            parent = os.path.dirname(os.path.abspath(p)) or b"/"
            if not os.path.isdir(parent):
                e = file_error(e, parent)
        raise e
    store = Store(h, os.fsdecode(p), readonly)
    key = _store_key(p)
    if key:
        _open_stores[key] = weakref.ref(store)
    try:
        if not create and dim is not None and dim != store.dim:
            # dim= names what the caller expects (the README's idiom passes
            # it on every open, create=not os.path.exists(path)): a store of
            # another dimension is refused here, by name, not at the first
            # put or search with a message about vectors.
            raise DimensionMismatch(f"{os.fsdecode(p)}: the store holds {store.dim}-dimensional "
                                    f"vectors, not dim={dim!r} (a store's dimension is set "
                                    f"when it is created)", L.EDIM, "CVS_EDIM")
        if wait is not None and not readonly:
            store.set_wait(wait)
        if embedder is not None:
            store.set_embedder(embedder, name=embedder_name)
    except BaseException:
        store.close()
        if create:
            # As `cvstore init --embedder` does: a store made here whose
            # embedder cannot be attached (no model yet) is removed, so
            # that the same call works once the model is there (it raised
            # AlreadyExists).  It holds nothing; a directory that was
            # there before stays.
            for f in (b"data.mdb", b"lock.mdb"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(p, f))
            if not existed:
                with contextlib.suppress(OSError):
                    os.rmdir(p)
        raise
    return store
