"""A store written from Python is read by the cvstore binary, and a store
the binary changed is read back from Python."""

import json
import subprocess

import numpy as np
import pytest

import cvstore
from conftest import CLI, fake_glove


def cli(*args, ok=True):
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def test_round_trip(path, tmp_path, rng):
    x = rng.standard_normal((40, 8)).astype(np.float32)
    ids = [f"doc{i}" for i in range(40)]
    with cvstore.open(path, create=True, dim=8, metric="ip") as db:
        db.put(ids, x, texts=[f"passage {i}" for i in range(40)],
               titles=[f"Title {i}" for i in range(40)],
               metas=[{"n": i, "tag": "é"} for i in range(40)],
               links=[[f"doc{i - 1}"] if i else None for i in range(40)])
        py = db.search(x[:3], k=5)
        py_ids, py_scores = py.ids, py.scores

    got = json.loads(cli("get", path, "doc7", "--json", "--vector").stdout)
    assert got["id"] == "doc7" and got["text"] == "passage 7" and got["title"] == "Title 7"
    assert got["meta"] == {"n": 7, "tag": "é"} and got["links"] == ["doc6"]
    np.testing.assert_allclose(got["vector"], x[7], rtol=1e-6)
    for i in range(3):
        v = ",".join(repr(float(f)) for f in x[i])
        out = json.loads(cli("search", path, "--query-vector", v, "-k", "5", "--json").stdout)
        assert [h["id"] for h in out["results"]] == py_ids[i]
        np.testing.assert_allclose([h["score"] for h in out["results"]], py_scores[i],
                                   rtol=1e-5)
    stats = json.loads(cli("stats", path, "--json").stdout)
    assert stats["count"] == 40 and stats["metric"] == "ip" and stats["dim"] == 8
    cli("check", path)

    # The binary writes; Python reads.
    f = tmp_path / "more.jsonl"
    f.write_text(json.dumps({"id": "cli1", "vector": [1.0] * 8, "text": "from the CLI",
                             "meta": {"src": "cli"}, "links": ["doc0"]}) + "\n")
    cli("import", path, str(f), "--quiet")
    cli("delete", path, "doc39")
    cli("build", path, "--codec", "pq4", "--index", "ivf4")
    with cvstore.open(path) as db:
        assert len(db) == 40
        assert db.get("doc39") is None
        g = db.get("cli1")
        assert g["text"] == "from the CLI" and g["meta"] == {"src": "cli"}
        assert g["links"][0]["id"] == "doc0"
        st = db.stats()
        assert st["codec"]["spec"].startswith("pq4") and st["index"]["spec"] == "ivf4"
        assert db.search(x[5], k=1, mode="exact").ids == [["doc5"]]
        assert db.check() == []


def test_encrypted_store_needs_the_passphrase_in_the_cli_too(tmp_path):
    path = str(tmp_path / "e.cvs")
    with cvstore.open(path, create=True, dim=2, passphrase="pw") as db:
        db.put("a", [1, 0], texts="sealed")
    p = cli("get", path, "a", ok=False)
    assert p.returncode != 0  # no passphrase given
    with cvstore.open(path, passphrase="pw") as db:
        assert db.get("a")["text"] == "sealed"


def test_a_store_of_an_applications_model_in_the_cli_and_mcp(tmp_path):
    """A store embedded by a Python function, taken to the command line and
    to `cvstore mcp`: neither can run the function.  Each says so in its own
    terms -- the CLI how to attach the model or to give vectors instead,
    MCP (whose tools all embed) which store to serve instead -- never a C
    function's name; a query by vector still works in the CLI."""
    from conftest import hash_embed
    path = str(tmp_path / "app.cvs")
    with cvstore.open(path, create=True, dim=64, embedder=hash_embed,
                      embedder_name="app:hash") as db:
        db.put(["a", "b"], texts=["the cat sat", "dogs run"])
        v = db.embed(["cat"])[0]
    for args in (("search", path, "--text", "cat", "-k", "1"),
                 ("context", path, "--text", "cat")):
        p = cli(*args, ok=False)
        assert p.returncode == 1, p.stderr
        assert "an application's own model" in p.stderr and "cvs_" not in p.stderr, p.stderr
        assert 'embedder_name="app:hash"' in p.stderr and "--query-vector" in p.stderr, p.stderr
    out = cli("search", path, "--query-vector", ",".join(repr(float(f)) for f in v), "-k", "1",
              "--json").stdout
    assert json.loads(out)["results"][0]["id"] == "a"
    init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                  "clientInfo": {"name": "t", "version": "1"}}})
    p = subprocess.run([CLI, "mcp", path], input=init + "\n", capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and p.stdout == "", (p.returncode, p.stdout)
    assert "'app:hash', an application's own model" in p.stderr, p.stderr
    assert "--embedder minilm" in p.stderr and "--query-vector" not in p.stderr, p.stderr


def test_stats_keys_match_python(tmp_path, monkeypatch):
    """`cvstore stats --json` and stats() describe one store with the same
    keys, but for the time of creation (an ISO string in the CLI, as `get
    --json` gives times; microseconds in Python, as get() gives them) and
    the embedder's copy of the vocabulary (vocabulary_in_store in the CLI,
    data_in_store in Python: both names are public) and Python's "fitted",
    which common_component says in words.  The fingerprint of a
    built-in embedder's data is in both."""
    words = tmp_path / "glove"
    fake_glove(words)
    monkeypatch.setenv("CVSTORE_GLOVE_DIR", str(words))
    path = str(tmp_path / "g.cvs")
    with cvstore.open(path, create=True, embedder="glove") as db:
        db.put([f"d{i}" for i in range(40)], texts=["cat dog" if i % 2 else "dog" for i in range(40)])
        db.build(codec="sq8", index="ivf2")
        py = db.stats()
    out = json.loads(cli("stats", path, "--json").stdout)
    renamed = {"created": "created_us"}
    assert {renamed.get(k, k) for k in out} == set(py)
    assert set(out["index"]) == set(py["index"]) and set(out["codec"]) == set(py["codec"])
    emb = {"vocabulary_in_store": "data_in_store"}
    assert {emb.get(k, k) for k in out["embedder"]} | {"fitted"} == set(py["embedder"])
    fp = py["embedder"]["fingerprint"]
    assert fp and len(fp) == 64 and out["embedder"]["fingerprint"] == fp
    assert out["embedder"]["common_component"] == py["embedder"]["common_component"]
    assert out["index"]["mem_bytes_per_vector"] == pytest.approx(
        py["index"]["mem_bytes_per_vector"])
