"""malformed_inputs.py -- malformed input through every write path of a text
store must be a clear error and change nothing.

A glove text store (over a fake GloVe cache, tests/fake_glove.py) and an
encrypted one get records with titles, sentences, metadata and links, and
memories; then each case below feeds one malformed input through `cvstore
import` (JSONL records, given sentences among them), the library's put (the
Python binding), or `cvstore mcp` (one server for all its cases, which must
answer each bad line with an error and go on serving).  After every case
the store's export (every record, its vector, text, title, metadata, links,
sentences and times) and `cvstore stats --json` must be byte-identical to
before, `cvstore check` must pass, and the error must name the problem (a
piece of text each case gives).

    /usr/bin/python3 tests/malformed_inputs.py --cli build/cvstore
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
sys.path.insert(0, HERE)

PASSPHRASE = "malformed test passphrase"

GOOD = [
    {"id": "paris", "title": "Paris City", "text": "Paris City is the capital of France. "
     "The river Seine Valley flows through it.", "meta": {"n": 1},
     "sentences": ["Paris City is the capital of France.",
                   "The river Seine Valley flows through it."]},
    {"id": "seine", "title": "Seine Valley", "text": "The Seine Valley river flows to the sea "
     "past Paris City.", "links": [{"id": "paris", "type": "cites", "weight": 0.5}]},
    {"id": "loire", "title": "Loire River", "text": "The Loire River is the longest river in "
     "France. It flows west.", "meta": {"tag": "x"}},
]


class Failure(Exception):
    pass


def jl(*recs):
    """JSONL lines of recs (dicts or raw strings)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs)


def rec(**kw):
    r = {"id": "new1", "title": "New Thing", "text": "The new thing flows past the river."}
    r.update(kw)
    return {k: v for k, v in r.items() if v is not None}


V100 = [0.1] * 100

# (name, file bytes, a piece of the expected message); every file here must
# be refused whole: its good records are not written either.
IMPORTS = [
    ("sentences not an array", jl(rec(sentences="The new thing.")), "sentences"),
    ("a sentence not a string", jl(rec(sentences=["The new thing flows", 7])), "sentences"),
    ("a sentence not in the text", jl(rec(sentences=["Something else entirely."])),
     "not in the text"),
    ("sentences out of order", jl(rec(text="Alpha one. Beta two.",
                                      sentences=["Beta two.", "Alpha one."])), "sentence"),
    ("sentences overlapping", jl(rec(text="Alpha one beta two.",
                                     sentences=["Alpha one beta", "beta two."])), "sentence"),
    ("a sentence longer than the text", jl(rec(text="Short.",
                                               sentences=["Short. And more."])), "sentence"),
    ("sentences an object", jl(rec(sentences={"0": "The new thing."})), "sentences"),
    ("sentences nested arrays", jl(rec(sentences=[["The new thing flows"]])), "sentences"),
    ("sentences without text or vector in a vector-less record",
     jl(rec(text=None, title=None, sentences=[])), "neither"),
    ("invalid UTF-8 in a sentence",
     '{"id":"new1","text":"Caf\\u00e9 x.","sentences":["Caf\xff x."]}\n', "UTF-8"),
    ("no word of the vocabulary and no vector", jl(rec(title=None, text="qqqzzz xxyyzz")),
     "vocabulary"),
    ("a vector of the wrong dimension", jl(rec(vector=[0.1, 0.2])), "dimension"),
    ("a vector value beyond float32", jl(rec(vector=[1e39] + [0.1] * 99)), "float range"),
    ("NaN in a vector", '{"id":"new1","text":"x","vector":[NaN' + ",0.1" * 99 + "]}\n", "NaN"),
    ("a vector of strings", jl(rec(vector=["0.1"] * 100)), "vector"),
    ("a duplicate id", jl(rec(), rec()), "duplicate"),
    ("a link to an unknown id", jl(rec(links=["nowhere"])), "unknown id"),
    ("a link type of 300 bytes", jl(rec(links=[{"id": "paris", "type": "t" * 300}])), "type"),
    ("a link without an id", jl(rec(links=[{"type": "cites"}])), "link"),
    ("an empty id", jl(rec(id="")), "id"),
    ("an id of 600 bytes", jl(rec(id="i" * 600)), "id"),
    ("an id that is an object", jl(rec(id={"a": 1})), "id"),
    ("metadata an array", jl(rec(meta=[1, 2])), "meta"),
    ("a title that is a number", jl(rec(title=5)), "title"),
    ("text that is a number", jl(rec(text=5)), "text"),
    ("a record that is an array", jl(rec(), "[1, 2, 3]"), "not a JSON object"),
    ("a line cut short", jl(rec(id="new0")) + '{"id": "new1", "text": "cut', "premature end"),
    ("invalid UTF-8 in a text", '{"id":"new1","text":"bad \xc3\x28 byte"}\n', "UTF-8"),
    ("created_us negative", jl(rec(created_us=-5)), "created_us"),
    ("updated_us before created_us", jl(rec(created_us=2000000, updated_us=1000)), "before"),
    ("metadata nested 5000 deep", '{"id":"new1","text":"the river","meta":' + "[" * 5000 +
     "]" * 5000 + "}\n", "depth"),
    ("a bad record after 40 good ones",
     jl(*[rec(id=f"ok{i}") for i in range(40)], rec(id="ok40", vector=[1])), "line 41"),
]

# (name, put keyword arguments, a piece of the message)
PUTS = [
    ("sentences not in the text", dict(ids=["p1"], vectors=[V100], texts=["Alpha one."],
                                       sentences=[["Beta two."]]), "sentence"),
    ("overlapping sentences", dict(ids=["p1"], vectors=[V100], texts=["Alpha one beta two."],
                                   sentences=[["Alpha one beta", "beta two."]]), "sentence"),
    ("a vector of the wrong dimension", dict(ids=["p1"], vectors=[[0.1] * 7], texts=["x"]),
     "dimension"),
    ("a NaN in a vector", dict(ids=["p1"], vectors=[[float("nan")] + [0.1] * 99],
                               texts=["river"]), "not finite"),
    ("an infinite value in a vector", dict(ids=["p1"], vectors=[[float("inf")] + [0.1] * 99],
                                           texts=["river"]), "not finite"),
    ("a duplicate id in a batch", dict(ids=["p1", "p1"], vectors=[V100, V100],
                                       texts=["river", "sea"]), "duplicate"),
    ("a link to an unknown id", dict(ids=["p1"], vectors=[V100], texts=["river"],
                                     links=[["nowhere"]]), "unknown id"),
    ("metadata that is not JSON", dict(ids=["p1"], vectors=[V100], texts=["river"],
                                       metas=["{not json"]), "meta"),
    ("metadata that is a JSON array", dict(ids=["p1"], vectors=[V100], texts=["river"],
                                           metas=["[1]"]), "meta"),
    ("an empty id", dict(ids=[""], vectors=[V100], texts=["river"]), "id"),
    ("invalid UTF-8 text", dict(ids=["p1"], vectors=[V100], texts=[b"bad \xc3\x28"]), "UTF-8"),
    ("a good record then a bad one", dict(ids=["p1", "p2"], vectors=[V100, V100],
                                          texts=["river", "sea"], links=[None, ["nowhere"]]),
     "unknown id"),
]

# Every case names a piece its message must hold: "" would be in any message.
assert all(want for _, _, want in IMPORTS + PUTS), "a case without a message piece"

# (name, the line sent, what the reply must hold: "rpc" a JSON-RPC error,
# "tool" a result with isError)
MCP = [
    ("not JSON", "{not json", "rpc"),
    ("invalid UTF-8", b'{"jsonrpc":"2.0","id":1,"method":"ping","x":"\xff"}', "rpc"),
    ("an empty batch", "[]", "rpc"),
    ("remember without text", {"name": "remember", "arguments": {}}, "tool"),
    ("remember a number", {"name": "remember", "arguments": {"text": 5}}, "tool"),
    ("remember only spaces", {"name": "remember", "arguments": {"text": " \u3000 "}}, "rpc"),
    ("remember reserved metadata", {"name": "remember", "arguments": {
        "text": "The river is wide.", "metadata": {"_ns": "other"}}}, "tool"),
    ("remember metadata an array", {"name": "remember", "arguments": {
        "text": "The river is wide.", "metadata": [1]}}, "tool"),
    ("remember a link to an unknown id", {"name": "remember", "arguments": {
        "text": "The river is wide.", "links": ["nowhere"]}}, "tool"),
    ("remember a link that is a number", {"name": "remember", "arguments": {
        "text": "The river is wide.", "links": [5]}}, "tool"),
    ("remember superseding an unknown id", {"name": "remember", "arguments": {
        "text": "The river is wide.", "supersedes": "m0000000000000000"}}, "tool"),
    ("remember a NUL", {"name": "remember", "arguments": {"text": "river\u0000sea"}}, "rpc"),
    ("remember over the size cap", {"name": "remember", "arguments": {
        "text": "river " * 20000}}, "tool"),
    ("remember a namespace of 300 bytes", {"name": "remember", "arguments": {
        "text": "The river is wide.", "namespace": "n" * 300}}, "rpc"),
    ("arguments an array", {"name": "remember", "arguments": ["The river"]}, "rpc"),
    ("an unknown tool", {"name": "erase", "arguments": {}}, "rpc"),
    ("forget with a filter of a reserved member", {"name": "forget", "arguments": {
        "filter": {"_hash": "x"}}}, "tool"),
    ("forget with a filter that is a string", {"name": "forget", "arguments": {
        "filter": "all"}}, "tool"),
    ("forget with nothing", {"name": "forget", "arguments": {}}, "tool"),
    ("an id beyond 64 bits", '{"jsonrpc":"2.0","id":123456789012345678901234567890,'
     '"method":"tools/call","params":{"name":"forget","arguments":{"filter":{}}}}', "rpc"),
    ("nested 100000 deep", "[" * 100000 + "]" * 100000, "rpc"),
]


def run(cli, *args, inp=None):
    return subprocess.run([cli] + list(args), capture_output=True, input=inp)


def export(cli, path):
    """`cvstore export` of the store: every record whole."""
    e = run(cli, "export", path, "-o", "-", "--quiet")
    if e.returncode:
        raise Failure(f"export of {path}: {e.stderr.decode()[:500]}")
    return e.stdout


def dump(db):
    """The store's content through one open handle (an encrypted store's key
    is derived once, not per case): every record with its vector, links and
    given sentences, and the store's figures but for its file's size."""
    recs = [dict(r, vector=r["vector"].tobytes().hex()) for r in db.records(vector=True)]
    st = db.stats()
    for k in ("disk_bytes", "map_bytes"):
        st.pop(k)
    if st["index"]:
        st["index"].pop("disk_bytes")
    return json.dumps([recs, st], sort_keys=True)


def make_store(a, tmp, name, sealed):
    path = os.path.join(tmp, name)
    args = ["init", path, "--embedder", "glove"] + (["--encrypt"] if sealed else [])
    for argv in (args, ["import", path, os.path.join(tmp, "good.jsonl"), "--quiet"]):
        p = run(a.cli, *argv)
        if p.returncode:
            raise Failure(f"{' '.join(argv)}: {p.stderr.decode()}")
    return path


class McpServer:
    def __init__(self, cli, path):
        self.p = subprocess.Popen([cli, "mcp", path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.n = 0
        # A session begins with initialize (the server refuses calls before it).
        r = self.send(json.dumps({"jsonrpc": "2.0", "id": "init", "method": "initialize",
                                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                             "clientInfo": {"name": "malformed", "version": "1"}}}))
        if "result" not in r:
            raise Failure(f"mcp initialize: {str(r)[:400]}")

    def send(self, line):
        if isinstance(line, dict):
            self.n += 1
            line = json.dumps({"jsonrpc": "2.0", "id": self.n, "method": "tools/call",
                               "params": line})
        if isinstance(line, str):
            line = line.encode()
        self.p.stdin.write(line + b"\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline()
        if not reply:
            raise Failure("cvstore mcp closed its output")
        return json.loads(reply)

    def close(self):
        self.p.stdin.close()
        return self.p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--verbose", action="store_true", help="print each case's message")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cvs-malformed-")
    passed = 0
    try:
        import fake_glove
        good = os.path.join(tmp, "good.jsonl")
        with open(good, "w", encoding="utf-8") as f:
            f.write(jl(*GOOD))
        words = os.path.join(tmp, "words.jsonl")
        with open(words, "w", encoding="utf-8") as f:
            f.write(jl(*GOOD, rec(), {"text": "new thing one two alpha beta short and more sea "
                                      "wide else entirely something x"}))
        fake_glove.main(os.path.join(tmp, "glove"), [words])
        os.environ["CVSTORE_GLOVE_DIR"] = os.path.join(tmp, "glove")
        os.environ["CVSTORE_PASSPHRASE"] = PASSPHRASE
        os.environ.setdefault("CVSTORE_LIB", os.path.join(
            os.path.dirname(os.path.abspath(a.cli)), "libcvstore.so.0"))
        import cvstore
        import numpy as np
        for sealed in (False, True):
            kind = "encrypted" if sealed else "plain"
            path = make_store(a, tmp, kind, sealed)
            mcp = McpServer(a.cli, path)
            r = mcp.send({"name": "remember", "arguments": {"text": "The Loire River is long."}})
            if r.get("result", {}).get("isError", True):
                raise Failure(f"{kind}: a good remember failed: {r}")
            mcp.send({"name": "remember", "arguments": {"text": "The Seine Valley is green."}})
            exported = export(a.cli, path)
            db = cvstore.open(path, passphrase=PASSPHRASE if sealed else None)
            before = dump(db)

            def same(what):
                nonlocal passed
                if dump(db) != before:
                    raise Failure(f"{kind}: {what}: the store changed")
                passed += 1

            for name, content, want in IMPORTS:
                f = os.path.join(tmp, "bad.jsonl")
                with open(f, "wb") as out:  # a case's \xNN characters are those bytes
                    out.write(content.encode("latin-1") if any(
                        0x80 <= ord(c) <= 0xff for c in content) else content.encode())
                p = run(a.cli, "import", path, f, "--quiet")
                err = p.stderr.decode("utf-8", "replace")
                if p.returncode != 1 or want not in err or not err.strip() or \
                        "cvstore" not in err:
                    raise Failure(f"{kind}: import {name}: exit {p.returncode}, "
                                  f"expected 1 with {want!r}: {err[:400]!r}")
                same(f"import {name}")
                if a.verbose:
                    print(f"{kind} import {name}: {err.strip()[:200]}")
            for name, kw, want in PUTS:
                kw = dict(kw)
                ids, vecs = kw.pop("ids"), np.array(kw.pop("vectors"), dtype=np.float32)
                try:
                    db.put(ids, vecs, **kw)
                except cvstore.Error as e:
                    if want not in str(e) or not str(e):
                        raise Failure(f"{kind}: put {name}: {e!r} lacks {want!r}") from None
                    if a.verbose:
                        print(f"{kind} put {name}: {str(e)[:200]}")
                else:
                    raise Failure(f"{kind}: put {name}: accepted")
                same(f"put {name}")
            for name, line, want in MCP:
                r = mcp.send(line)
                if want == "rpc" and "error" not in r:
                    raise Failure(f"{kind}: mcp {name}: no JSON-RPC error: {str(r)[:400]}")
                if want == "tool" and not r.get("result", {}).get("isError"):
                    raise Failure(f"{kind}: mcp {name}: no tool error: {str(r)[:400]}")
                msg = r["error"]["message"] if "error" in r else \
                    r["result"]["content"][0]["text"]
                if not msg:
                    raise Failure(f"{kind}: mcp {name}: an error without a message")
                same(f"mcp {name}")
                if a.verbose:
                    print(f"{kind} mcp {name}: {msg[:200]}")
            r = mcp.send('{"jsonrpc":"2.0","id":"last","method":"ping"}')
            if r.get("id") != "last" or "result" not in r:
                raise Failure(f"{kind}: the server stopped answering: {r}")
            if mcp.close() != 0:
                raise Failure(f"{kind}: cvstore mcp did not exit 0 at EOF")
            db.close()
            if export(a.cli, path) != exported:
                raise Failure(f"{kind}: the export differs after the cases")
            p = run(a.cli, "check", path, "--quiet")
            if p.returncode:
                raise Failure(f"{kind}: check after the cases: {p.stdout.decode()[:500]}")
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ok - {passed} malformed inputs (import, put, MCP; plain and encrypted store) "
          f"each refused with a message, the store unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
