/*
 * faiss_util.h -- glue between FAISS's C API and cvstore's error state.
 * Internal.  Every cvstore file calls FAISS only through the C headers
 * <faiss/c_api/...> (implemented by libfaiss_c or by index/faiss_c_shim.cpp)
 * and passes each return code through cvs__faiss_err, because FAISS keeps its
 * message in a thread-local slot that the next failing FAISS call overwrites.
 */
#ifndef CVS_FAISS_UTIL_H
#define CVS_FAISS_UTIL_H

/* Maps a faiss_* return code to ours: 0 stays CVS_OK (and the message is
 * left alone); a failure becomes CVS_EFAISS -- or CVS_ENOMEM when FAISS ran
 * out of memory -- with "what: <faiss_get_last_error()>" in cvs_errmsg.
 * what says what we were doing ("training IVF1024,PQ16np"); NULL omits it.
 * Meant to wrap the call:  rc = cvs__faiss_err(faiss_Index_add(...), "..."); */
int cvs__faiss_err(int faiss_rc, const char *what);

#endif
