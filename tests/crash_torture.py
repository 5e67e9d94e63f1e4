"""crash_torture.py -- kill -9 a writer at random moments and check what it
acknowledged.

A child process (this file with --child) runs a random mix of writes on a
store until it is killed: `cvstore import` of JSONL records with titles,
metadata, links and (some) given sentences, in small batches; puts and
deletes through the Python binding (cvs_put, cvs_delete); `cvstore delete`;
`cvstore link`; `cvstore build` of a codec with an IVF (SQ8 rows, RaBitQ
codes), graph (qg) or FAISS index; and,
in text stores, MCP `remember` (new memories, rewordings that merge,
revisions that supersede) and `forget` through one `cvstore mcp` on a pipe.
Before each call it logs what it is about to do, after the call returns it
logs the acknowledgement (with MCP's reply), each line fsync'd.

The parent kills the child's whole process group (the CLI commands and the
MCP server with it) with SIGKILL at a moment drawn uniformly over
[0, --duration] seconds (--writers N: N such children write the store side
by side, each with its own ids and MCP namespace, and are killed
together), then checks the store:

  * it opens, and `cvstore check` (every invariant of docs/FORMAT.md:
    BM25 postings equal to the texts, the sentence table matching every
    text, the kNN rows naming live records, the IVF lists, the seals of an
    encrypted store, ...) finds nothing;
  * every acknowledged write reads back as written: each record's text,
    title, metadata, explicit links (those whose target still exists),
    given sentences and vector (byte-identical in the l2 store; in cosine
    stores the given vector normalized, or the embedding of title + "\\n"
    + text for an imported record without one), each acknowledged delete
    and forget is gone, each remembered or merged memory holds its text;
    the one call in flight at the kill may have landed or not, record by
    record, and nothing else may differ;
  * BM25 finds each of a sample of records by the word only its text has;
  * in a text store, the mention links equal those a full `cvstore link`
    computes on a copy of the store;
  * work continues: a further import succeeds.

Three stores take turns: a glove text store, an encrypted glove text store
(both over a fake GloVe cache of the corpus' words, tests/fake_glove.py)
and an 8-d l2 vector store with text; --use adds a store of the `use`
embedder (its model from the cache scripts/fetch-use.sh fills).  Records come from a generated corpus,
or from a JSONL file of passages with "title", "text" and "sentences"
(--corpus: HotpotQA's for a long run; the suite never reads /work/shared).

    /usr/bin/python3 tests/crash_torture.py --cli build/cvstore [--kills 20]
        [--duration 2.5] [--seed 1] [--corpus FILE.jsonl] [--keep DIR] [--use]

Exit 0 when every round passed and every call the writers made succeeded
(they make only calls that should), 1 with the first failure described.  The
Python binding is this checkout's (python/), its library $CVSTORE_LIB or
the build directory beside --cli.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
sys.path.insert(0, HERE)

PASSPHRASE = "torture test passphrase"
KINDS = ("text", "sealed", "vec")
VEC_DIM = 8
TEXT_DIM = {"text": 100, "sealed": 100, "use": 512}


def vec_dim(kind):
    """The dimension of every record's vector (the vector store), or 0:
    records carry one now and then, of TEXT_DIM[kind]."""
    return VEC_DIM if kind == "vec" else 0

# ==== The corpus ====

SYLL = ["ka", "lo", "mi", "ren", "tau", "vo", "shi", "pel", "dor", "ane", "bru", "cys",
        "fen", "gal", "hox", "jun", "kri", "lum", "nor", "pax", "qui", "ros", "sul", "tem"]


def make_vocab(rng, n=400):
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLL) for _ in range(rng.randint(2, 3))))
    return sorted(words)


class Corpus:
    """Titles (two words, so that no one-word title falls under link.c's
    frequency rule, judged per put), sentences of vocabulary words, and a
    unique word per record version for the BM25 check."""

    def __init__(self, seed, path=None):
        rng = random.Random(seed)
        self.vocab = make_vocab(rng)
        self.titles = [f"{rng.choice(self.vocab)} {rng.choice(self.vocab)}".title()
                       for _ in range(60)]
        self.passages = []
        if path:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    p = json.loads(line)
                    # link.c judges a one-word title (or a one-word form cut
                    # before " (" or ", ") found in over 1% of the records
                    # against the store at the put, a full link run against
                    # the whole store (README, "Text"): not compared here.
                    t = p.get("title") or ""
                    if p.get("sentences") and len(t.split()) > 1 and " (" not in t \
                            and ", " not in t:
                        self.passages.append(p)
            self.titles = [p["title"] for p in self.passages[:2000]]

    def sentence(self, rng):
        words = [rng.choice(self.vocab) for _ in range(rng.randint(4, 10))]
        if rng.random() < 0.5:
            words.insert(rng.randrange(len(words)), rng.choice(self.titles))
        return " ".join(words).capitalize() + "."

    def record(self, rng, rid, uniq, existing, kind):
        """One JSONL record (a dict) with id rid; uniq is its unique word."""
        if self.passages:
            p = rng.choice(self.passages)
            title, sents = p["title"], list(p["sentences"])
            sents = [s.strip() for s in sents if s.strip()] or ["Empty."]
        else:
            title = rng.choice(self.titles)
            sents = [self.sentence(rng) for _ in range(rng.randint(1, 4))]
        sents[-1] = sents[-1] + f" {uniq}"
        r = {"id": rid, "title": title, "text": " ".join(sents),
             "meta": {"n": rng.randint(0, 10**6), "tag": rng.choice(["a", "b", "c"])}}
        if rng.random() < 0.4:
            r["sentences"] = sents
        if existing and rng.random() < 0.5:
            r["links"] = [{"id": t, "type": rng.choice(["cites", "next"]),
                           "weight": rng.choice([0.5, 1.0, 2.0])}
                          for t in sorted(rng.sample(existing, min(len(existing),
                                                                   rng.randint(1, 2))))]
        if vec_dim(kind):
            r["vector"] = [round(rng.uniform(-1, 1), 4) for _ in range(vec_dim(kind))]
        elif rng.random() < 0.2:
            r["vector"] = [round(rng.uniform(-1, 1), 4) for _ in range(TEXT_DIM[kind])]
        return r


# ==== The child: writes until killed ====

class Log:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, obj):
        os.write(self.fd, (json.dumps(obj) + "\n").encode())
        os.fsync(self.fd)


class Mcp:
    def __init__(self, cli, store, ns):
        self.p = subprocess.Popen([cli, "mcp", store, "--namespace", ns], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.n = 0
        self.call_raw("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                     "clientInfo": {"name": "torture", "version": "1"}})

    def call_raw(self, method, params):
        self.n += 1
        self.p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": self.n, "method": method,
                                       "params": params}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("cvstore mcp closed its output")
        return json.loads(line)

    def tool(self, name, args):
        r = self.call_raw("tools/call", {"name": name, "arguments": args})
        if "error" in r:
            raise RuntimeError(f"{name}: {r['error']}")
        res = r["result"]
        if res.get("isError"):
            raise RuntimeError(f"{name}: {res['content'][0]['text']}")
        return res["structuredContent"]


def child(a):
    import numpy as np
    import cvstore
    rng = random.Random(a.seed)
    corpus = Corpus(a.corpus_seed, a.corpus)
    kind = a.kind
    log = Log(a.log)
    db = cvstore.open(a.store, passphrase=PASSPHRASE if kind == "sealed" else None)
    # Writers side by side each keep to their own ids and namespace.
    mcp = Mcp(a.cli, a.store, a.namespace) if kind != "vec" else None
    ids = set(i for i in db.ids() if i.startswith(a.prefix))
    mems = {r["id"]: r["text"] for r in db.records()
            if r["id"].startswith("m") and (r["meta"] or {}).get("_ns") == a.namespace}
    seq = 0
    vdim = vec_dim(kind)
    ops = ["import"] * 4 + ["put"] * 4 + ["delete"] * 2 + ["cli_delete", "link", "build"]
    if mcp:
        ops += ["remember"] * 4 + ["forget"]
    while True:
        seq += 1
        op = rng.choice(ops)
        uniq = lambda: f"zq{a.round}x{seq}x{rng.randrange(10**6)}"
        pool = sorted(ids)

        def new_id():
            return f"{a.prefix}{rng.randrange(a.id_space)}"
        if op in ("import", "put"):
            n = rng.randint(1, 12 if op == "import" else 4)
            recs, seen = [], set()
            for _ in range(n):
                rid = new_id()
                if rid in seen:
                    continue
                seen.add(rid)
                recs.append(corpus.record(rng, rid, uniq(), [i for i in pool if i not in seen],
                                          kind))
            if op == "put" and not all("vector" in r for r in recs):
                for r in recs:  # the binding embeds texts alone; keep it simple
                    r["vector"] = [round(rng.uniform(-1, 1), 4) for _ in range(db.dim)]
            log.write({"begin": seq, "op": op, "recs": recs})
            if op == "import":
                f = a.log.replace(".jsonl", "-import.jsonl")  # each writer its own
                with open(f, "w", encoding="utf-8") as out:
                    for r in recs:
                        out.write(json.dumps(r) + "\n")
                cmd = [a.cli, "import", a.store, f, "--quiet", "--batch", str(rng.randint(1, 5))]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode:
                    log.write({"fail": seq, "msg": p.stderr.strip()})
                    continue
            else:
                vecs = np.array([r["vector"] for r in recs], dtype=np.float32)
                try:
                    db.put([r["id"] for r in recs], vecs, texts=[r["text"] for r in recs],
                           titles=[r["title"] for r in recs], metas=[r["meta"] for r in recs],
                           links=[r.get("links") for r in recs],
                           sentences=[r.get("sentences") for r in recs])
                except cvstore.Error as e:
                    log.write({"fail": seq, "msg": str(e)})
                    continue
            ids.update(r["id"] for r in recs)
            log.write({"ack": seq})
        elif op in ("delete", "cli_delete"):
            victims = rng.sample(pool, min(len(pool), rng.randint(1, 3))) + [new_id()]
            log.write({"begin": seq, "op": "delete", "ids": victims})
            if op == "delete":
                try:
                    db.delete(victims)
                except cvstore.Error as e:
                    log.write({"fail": seq, "msg": str(e)})
                    continue
            else:
                p = subprocess.run([a.cli, "delete", a.store] + victims, capture_output=True,
                                   text=True)
                if p.returncode not in (0,) and "not found" not in p.stderr:
                    log.write({"fail": seq, "msg": p.stderr.strip()})
                    continue
            ids.difference_update(victims)
            log.write({"ack": seq})
        elif op in ("link", "build"):
            if op == "link":
                cmd = [a.cli, "link", a.store, "--quiet"]
            else:
                # every kind of index the writes then keep: IVF lists (with
                # SQ8 rows), RaBitQ codes, the graph index, FAISS's marks
                spec = rng.choice([("pq4" if vdim else "sq8", "ivf2"),
                                   ("pq4" if vdim else "pca32,sq8", "ivf4,sq8"),
                                   ("rabitq4", "ivf2"),
                                   (f"opq,pq{(vdim or TEXT_DIM[kind]) // 2}x4", "qg"),
                                   ("sq8", "faiss:Flat"), ("sq8", "faiss:IVF2,Flat")])
                cmd = [a.cli, "build", a.store, "--quiet", "--codec", spec[0], "--index", spec[1]]
            log.write({"begin": seq, "op": op})
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode:
                log.write({"fail": seq, "msg": " ".join(cmd[1:]) + ": " + p.stderr.strip()})
                continue
            log.write({"ack": seq})
        elif op == "remember":
            args = {"metadata": {"tag": rng.choice(["x", "y"])}}
            how = rng.random() if mems else 1
            if how < 0.45:  # a rewording (merged), or a changed fact (superseding)
                old = rng.choice(sorted(mems))
                words = mems[old].rstrip(".").split()
                if how < 0.25:
                    words.insert(rng.randrange(1, len(words) + 1), rng.choice(words[1:] or words))
                else:
                    words[rng.randrange(1, len(words))] = rng.choice(corpus.vocab)
                args["text"] = " ".join(words) + "."
            else:
                args["text"] = corpus.sentence(rng)
                if mems and how < 0.55:
                    args["supersedes"] = rng.choice(sorted(mems))
                elif how < 0.65:
                    args["metadata"]["subject"] = rng.choice(["home", "work"])
            log.write({"begin": seq, "op": "remember", "args": args})
            try:
                r = mcp.tool("remember", args)
            except RuntimeError as e:
                log.write({"fail": seq, "msg": str(e)})
                continue
            if r["status"] != "duplicate":
                mems[r["id"]] = args["text"]
            log.write({"ack": seq, "reply": r})
        elif op == "forget":
            if not mems:
                continue
            victim = rng.choice(sorted(mems))
            log.write({"begin": seq, "op": "forget", "id": victim})
            try:
                mcp.tool("forget", {"id": victim})
            except RuntimeError as e:
                log.write({"fail": seq, "msg": str(e)})
                continue
            mems.pop(victim, None)
            log.write({"ack": seq})


# ==== The parent: the model of what was acknowledged ====

class Failure(Exception):
    pass


def run(cli, *args, ok=(0,)):
    p = subprocess.run([cli] + list(args), capture_output=True, text=True)
    if p.returncode not in ok:
        raise Failure(f"cvstore {' '.join(args)}: exit {p.returncode}: "
                      f"{(p.stderr or p.stdout).strip()[:2000]}")
    return p


class Store:
    """One store and the model of its acknowledged state: records[id] is the
    record as last acknowledged (a JSONL dict), absent ids are absent; mems
    [id] the text of a memory."""

    def __init__(self, kind, path):
        self.kind, self.path = kind, path
        self.records, self.mems = {}, {}

    def apply(self, entry, ack):
        op = entry["op"]
        if op in ("import", "put"):
            for r in entry["recs"]:
                self.records[r["id"]] = r
        elif op == "delete":
            gone = set(entry["ids"])
            for i in gone:
                self.records.pop(i, None)
            self.drop_links(gone)
        elif op == "remember":
            if ack["reply"]["status"] != "duplicate":
                self.mems[ack["reply"]["id"]] = entry["args"]["text"]
        elif op == "forget":
            self.mems.pop(entry["id"], None)

    def drop_links(self, gone):
        for r in self.records.values():
            if r.get("links"):
                r["links"] = [lk for lk in r["links"] if lk["id"] not in gone]


def read_log(path):
    """(acknowledged entries in order as (begin, ack), the entry in flight
    or None, the failed entries)."""
    begun, done, failed = {}, [], []
    inflight = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for line in lines:
        if not line:
            continue
        try:
            e = json.loads(line)
        except ValueError:  # a line cut by the kill: nothing was acknowledged by it
            continue
        if "begin" in e:
            begun[e["begin"]] = e
            inflight = e
        elif "ack" in e:
            done.append((begun[e["ack"]], e))
            inflight = None
        elif "fail" in e:
            failed.append((begun[e["fail"]], e))
            inflight = None
    return done, inflight, failed


def record_matches(st, db, want, got, present):
    """None when got (a get() dict) is what want (a JSONL dict) asked for,
    else why not."""
    import numpy as np
    for f in ("text", "title"):
        if got[f] != want[f]:
            return f"{f} {got[f]!r} != {want[f]!r}"
    if got["meta"] != want["meta"]:
        return f"meta {got['meta']} != {want['meta']}"
    exp = [(lk["id"], lk["type"], float(lk["weight"])) for lk in want.get("links") or []
           if lk["id"] in present]
    have = [(lk["id"], lk["type"], lk["weight"]) for lk in got["links"]
            if lk["type"] != "mentions"]
    if sorted(exp) != sorted(have):
        return f"links {sorted(have)} != {sorted(exp)}"
    if (got["sentences"] or None) != (want.get("sentences") or None):
        return f"sentences {got['sentences']} != {want.get('sentences')}"
    v = got["vector"]
    if "vector" in want:
        x = np.array(want["vector"], dtype=np.float32)
        if st.kind == "vec":
            if x.tobytes() != v.tobytes():
                return f"vector {v} != {x}"
            return None
    else:
        x = db.embed([want["title"] + "\n" + want["text"]])[0]
    x = x / np.linalg.norm(x)  # a cosine store keeps unit vectors
    # batched and single embeddings round apart; use's transformer more
    if not np.allclose(v, x, atol=1e-4 if st.kind == "use" else 2e-5):
        return f"vector differs by {float(np.abs(v - x).max())}"
    return None


def verify(a, st, inflights, rng, cvstore):
    """Checks the store after a kill against the model; adopts what the
    calls in flight did (one per writer; each record either as before the
    call or as it asked, a delete whole or not at all)."""
    run(a.cli, "check", st.path, "--quiet")
    db = cvstore.open(st.path, passphrase=PASSPHRASE if st.kind == "sealed" else None)
    try:
        recs = {r["id"]: r for r in db.records(vector=True)}
        present = set(recs)
        fly_recs = {r["id"]: r for f in inflights for r in f.get("recs", [])}
        fly_forget = {f["id"] for f in inflights if f["op"] == "forget"}
        fly_texts = {f["args"]["text"] for f in inflights if f["op"] == "remember"}
        for f in inflights:
            # a delete landed or not, for every id together
            if f["op"] == "delete" and not (set(f["ids"]) & present & set(st.records)):
                st.apply(f, None)
        # records
        for rid in sorted(set(st.records) | set(fly_recs) | {i for i in present
                                                             if not i.startswith("m")}):
            want, got = st.records.get(rid), recs.get(rid)
            if rid in fly_recs:
                if got is not None and record_matches(st, db, fly_recs[rid], got, present) is None:
                    st.records[rid] = fly_recs[rid]
                    continue
            if want is None and got is not None:
                raise Failure(f"{st.kind}: record {rid} is in the store, never acknowledged")
            if want is not None and got is None:
                raise Failure(f"{st.kind}: acknowledged record {rid} is lost")
            if want is not None:
                why = record_matches(st, db, want, got, present)
                if why:
                    raise Failure(f"{st.kind}: record {rid}: {why}")
        # memories
        have = {i: r["text"] for i, r in recs.items() if i.startswith("m")}
        for mid, text in list(st.mems.items()):
            if mid not in have:
                if mid in fly_forget:
                    del st.mems[mid]
                    continue
                raise Failure(f"{st.kind}: acknowledged memory {mid} is lost")
            if have[mid] != text:
                if have[mid] in fly_texts:
                    st.mems[mid] = have[mid]
                    continue
                raise Failure(f"{st.kind}: memory {mid} holds {have[mid]!r}, not {text!r}")
        for mid in set(have) - set(st.mems):
            if have[mid] in fly_texts:
                st.mems[mid] = have[mid]
            else:
                raise Failure(f"{st.kind}: memory {mid} ({have[mid]!r}) was never acknowledged")
        # a revision and the memory it replaced were written together
        for mid, r in recs.items():
            for lk in r["links"]:
                old = recs.get(lk["id"])
                if lk["type"] == "supersedes" and old and \
                        "_superseded_by" not in (old["meta"] or {}):
                    raise Failure(f"{st.kind}: memory {mid} supersedes {lk['id']}, which does "
                                  f"not say so")
        # BM25 finds a sample of records by their unique word
        for rid in rng.sample(sorted(st.records), min(15, len(st.records))):
            word = st.records[rid]["text"].split()[-1]
            res = db.search(word, k=3, mode="bm25")
            if rid not in res.ids[0]:
                raise Failure(f"{st.kind}: BM25 does not find {rid} by {word!r}: {res.ids[0]}")
        mentions = {i: sorted(lk["id"] for lk in r["links"] if lk["type"] == "mentions")
                    for i, r in recs.items()}
    finally:
        db.close()
    if st.kind != "vec":  # mention links: what a full link run gives
        cp = st.path + ".linkcopy"
        shutil.rmtree(cp, ignore_errors=True)
        shutil.copytree(st.path, cp)
        run(a.cli, "link", cp, "--no-knn", "--quiet")
        db = cvstore.open(cp, passphrase=PASSPHRASE if st.kind == "sealed" else None)
        try:
            for r in db.records():
                full = sorted(lk["id"] for lk in r["links"] if lk["type"] == "mentions")
                if full != mentions.get(r["id"]):
                    raise Failure(f"{st.kind}: {r['id']}'s mention links "
                                  f"{mentions.get(r['id'])} != a full link's {full}")
        finally:
            db.close()
        shutil.rmtree(cp)


def continue_work(a, st, corpus, rng, tmp, rnd):
    """A further import succeeds on the store as the kill left it."""
    recs = [corpus.record(rng, f"c{rnd}x{i}", f"zc{rnd}x{i}", sorted(st.records), st.kind)
            for i in range(3)]
    f = os.path.join(tmp, "more.jsonl")
    with open(f, "w", encoding="utf-8") as out:
        for r in recs:
            out.write(json.dumps(r) + "\n")
    run(a.cli, "import", st.path, f, "--quiet")
    for r in recs:
        st.records[r["id"]] = r


def parent(a):
    rng = random.Random(a.seed)
    tmp = a.keep or tempfile.mkdtemp(prefix="cvs-torture-")
    os.makedirs(tmp, exist_ok=True)
    corpus = Corpus(a.seed, a.corpus)
    # a GloVe cache of the corpus' words (fake_glove.py's layout)
    import fake_glove
    words = os.path.join(tmp, "words.jsonl")
    with open(words, "w", encoding="utf-8") as f:
        f.write(json.dumps({"title": " ".join(corpus.titles), "text": " ".join(corpus.vocab)})
                + "\n")
        for p in corpus.passages:
            f.write(json.dumps({"title": p["title"], "text": p["text"]}) + "\n")
    glove = os.path.join(tmp, "glove")
    if not os.path.exists(glove):
        fake_glove.main(glove, [words])
    os.environ["CVSTORE_GLOVE_DIR"] = glove
    os.environ["CVSTORE_PASSPHRASE"] = PASSPHRASE
    os.environ.setdefault("CVSTORE_LIB", os.path.join(os.path.dirname(os.path.abspath(a.cli)),
                                                      "libcvstore.so.0"))
    import cvstore
    stores = {}
    kinds = KINDS + (("use",) if a.use else ())
    for kind in kinds:
        path = os.path.join(tmp, kind)
        shutil.rmtree(path, ignore_errors=True)
        if kind == "vec":
            run(a.cli, "init", path, "--dim", str(VEC_DIM), "--metric", "l2")
        else:
            run(a.cli, "init", path, "--embedder", "use" if kind == "use" else "glove",
                *(["--encrypt"] if kind == "sealed" else []))
        st = stores[kind] = Store(kind, path)
        recs = [corpus.record(rng, f"d{i}", f"zs{i}", [f"d{j}" for j in range(i)], kind)
                for i in range(40)]
        f = os.path.join(tmp, "seed.jsonl")
        with open(f, "w", encoding="utf-8") as out:
            for r in recs:
                out.write(json.dumps(r) + "\n")
        run(a.cli, "import", path, f, "--quiet")
        for r in recs:
            st.records[r["id"]] = r
    stats = {"kills": 0, "acked": {}, "inflight": {}, "failed": []}
    t0 = time.time()
    for rnd in range(a.kills):
        st = stores[kinds[rnd % len(kinds)]]
        children, wait = [], rng.uniform(0, a.duration)
        for w in range(a.writers):
            log = os.path.join(tmp, f"log-{rnd}-{w}.jsonl")
            if os.path.exists(log):  # a kept directory of an earlier run
                os.unlink(log)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--cli", a.cli,
                   "--kind", st.kind, "--store", st.path, "--log", log, "--seed",
                   str(rng.randrange(1 << 30)), "--corpus-seed", str(a.seed), "--round",
                   str(rnd), "--id-space", str(a.id_space), "--prefix", "de"[w % 2] + "x" * (w // 2),
                   "--namespace", "default" if w == 0 else f"w{w}"] + \
                (["--corpus", a.corpus] if a.corpus else [])
            err = open(os.path.join(tmp, f"child-{rnd}-{w}.err"), "w")
            children.append((subprocess.Popen(cmd, start_new_session=True, stderr=err), err, log))
        time.sleep(wait)
        for p, _, _ in children:  # all at once, as a crash would
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        inflights = []
        for p, err, log in children:
            p.wait()
            err.close()
            if p.returncode != -signal.SIGKILL:
                msg = open(err.name).read()[-3000:]
                raise Failure(f"round {rnd}: a child ended by itself ({p.returncode}): {msg}")
            done, inflight, failed = read_log(log) if os.path.exists(log) else ([], None, [])
            for entry, ack in done:
                st.apply(entry, ack)
                op = entry["op"]
                if op == "remember":
                    op += " " + ack["reply"]["status"] + (" superseding" if
                                                           "supersedes" in ack["reply"] else "")
                stats["acked"][op] = stats["acked"].get(op, 0) + 1
            for entry, fl in failed:  # checked below: a failed write changed nothing
                stats["failed"].append(f"{st.kind} {entry['op']}: {fl['msg'][:300]}")
            if inflight:
                inflights.append(inflight)
                stats["inflight"][inflight["op"]] = stats["inflight"].get(inflight["op"], 0) + 1
        stats["kills"] += 1
        # a process the kill left behind (none should be) would still write
        time.sleep(0.05)
        fly = [f["op"] for f in inflights]
        try:
            verify(a, st, inflights, rng, cvstore)
            continue_work(a, st, corpus, rng, tmp, rnd)
        except Failure as e:
            raise Failure(f"round {rnd} ({st.kind}, killed after {wait:.2f} s, in flight: "
                          f"{fly}): {e}; store kept in {tmp}") from None
        if a.verbose:
            print(f"round {rnd} {st.kind}: killed at {wait:.2f} s, in flight {fly}", flush=True)
    took = time.time() - t0
    print(f"{stats['kills']} kills in {took:.1f} s; acknowledged calls {stats['acked']}; "
          f"in flight at the kill {stats['inflight']}; "
          f"records {[len(s.records) for s in stores.values()]}, "
          f"memories {[len(s.mems) for s in stores.values()]}")
    if stats["failed"]:  # the writers call only what should succeed
        raise Failure(f"{len(stats['failed'])} calls failed (changing nothing, as checked): " +
                      "; ".join(sorted(set(stats["failed"]))))
    if not a.keep:
        shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--duration", type=float, default=2.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus")
    ap.add_argument("--keep")
    ap.add_argument("--id-space", type=int, default=120)
    ap.add_argument("--writers", type=int, default=1,
                    help="children writing the store side by side, killed together")
    ap.add_argument("--prefix", default="d")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--use", action="store_true",
                    help="a fourth store, of the `use` embedder (its model cache must be there)")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--kind")
    ap.add_argument("--store")
    ap.add_argument("--log")
    ap.add_argument("--corpus-seed", type=int)
    ap.add_argument("--round", type=int)
    a = ap.parse_args()
    if a.child:
        child(a)
        return 0
    try:
        parent(a)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
