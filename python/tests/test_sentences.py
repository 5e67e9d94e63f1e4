"""Context sets of unit sentence from Python: store.context(..., unit=...)."""

import pytest

import cvstore
from conftest import DIM, hash_embed

PASSAGES = {
    "vale": ("Quentin Vale", "Quentin Vale was a composer of operas. He was born in "
             "Brindlemoor in 1870. His best known work is Zorblat. He died in 1931."),
    "brindlemoor": ("Brindlemoor", "Brindlemoor is a market town in the north. The river "
                    "Wendle flows through Brindlemoor on its way to the sea. The town hall "
                    "dates from 1790."),
    "farm": ("Farming", "Farming is the growing of crops. Sheep are kept on the hills. "
             "Weather decides the harvest."),
}


@pytest.fixture
def db(path):
    s = cvstore.open(path, create=True, dim=DIM, embedder=hash_embed,
                     embedder_name="test:hash")
    ids = list(PASSAGES)
    s.put(ids, titles=[PASSAGES[i][0] for i in ids], texts=[PASSAGES[i][1] for i in ids])
    yield s
    s.close()


def test_context_unit_sentence(db):
    q = "Which river flows through the birthplace of Quentin Vale?"
    whole = db.context(q, budget=200, unit="passage")
    assert all(it.sentences is None for it in whole.items)
    ctx = db.context(q, budget=40, unit="sentence")
    assert 0 < ctx.tokens <= 40
    assert sum(it.tokens for it in ctx.items) == ctx.tokens
    by_id = {it.id: it for it in ctx.items}
    assert "river Wendle flows through Brindlemoor" in by_id["brindlemoor"].text
    for it in ctx.items:
        assert it.sentences and it.sentences == sorted(it.sentences)
        # the text is the chosen sentences of the record, in order, joined by a space
        full = PASSAGES[it.id][1]
        assert all(part in full for part in it.text.split(". "))
        assert it.tokens == (len(it.title.encode()) + len(it.text.encode()) + 3) // 4
        assert len(it.text) < len(full)
    with pytest.raises(cvstore.InvalidArgument):
        db.context(q, unit="word")


def test_recall_unit_sentence(path):
    with cvstore.open(path, create=True, dim=DIM, embedder=hash_embed,
                      embedder_name="test:hash") as s:
        long = ("The deploy key lives in the vault under ops/deploy. Rotate it every "
                "ninety days. The staging cluster uses a separate key. Ask Dana for access "
                "to the vault.")
        s.remember(long)
        s.remember("Lunch is at noon on Fridays.")
        whole = s.recall("where does the deploy key live", k=1, touch=False)
        part = s.recall("where does the deploy key live", k=1, touch=False, unit="sentence",
                        token_budget=20)
        assert whole["memories"][0]["text"] == long
        got = part["memories"][0]["text"]
        assert "deploy key lives in the vault" in got and len(got) < len(long)
        assert part["tokens"] <= 20
        with pytest.raises(cvstore.InvalidArgument):
            s.recall("x", unit="word")
