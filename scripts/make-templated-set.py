#!/usr/bin/env python3
"""make-templated-set.py -- a templated multi-hop QA set built from passages.

Writes a folder in the layout of multihop-qa/hotpotqa (corpus.jsonl,
corpus.tsv, queries.jsonl, queries.tsv, qrels.tsv, SOURCE.md) whose
questions have the form of 2WikiMultihopQA's (Ho et al., COLING 2020,
"Constructing A Multi-hop QA Dataset for Comprehensive Evaluation of
Reasoning Steps"): comparison, inference, compositional and
bridge_comparison questions filled from templates.  2Wiki fills its
templates from Wikidata triples and checks them against Wikipedia intro
paragraphs; we have no Wikidata here, so the facts are read from the
passages' own text by plain patterns, and a question is kept only when
every fact it needs was read unambiguously:

  film    "X is a 1958 American drama film directed by D" (D a person
          passage's title), the year is the release year
  work    "X is a song / single / album by P", "a novel / book by A",
          "written by A", "performed by P", "recorded by P" (P, A a
          person passage's title)
  person  "D (born 12 May 1930 in Z)", "D (April 1, 1954 - August 5, 1992)"
          (birth and death dates; the birth place after "born ... in"),
          "was an American actor" (nationality: the adjective right after
          "is/was a(n)" in the first sentence, from a fixed list)
  parent  "D ... was the son/daughter of P" (P a person passage's title)

A name is resolved only by an exact match with a passage title (its
parenthesised disambiguation such as "(film)" dropped); a name that two
passages with different texts carry is ambiguous and never used.

Question types (2Wiki's names) and their gold passages:
  comparison         "Which film came out first, X or Y?", "Who was born
                     first, A or B?", "Who died first, A or B?", "Are A and
                     B of the same nationality?": the 2 passages compared
  compositional      "What is the date of birth of the director of film X?",
                     "When did the director of film X die?", "Where was the
                     director of film X born?", "What nationality is the
                     director of film X?" (and the performer of a song, the
                     author of a book): the work's passage and the person's
  inference          "Who is the paternal grandfather of X?": X's passage
                     and the father's (he says whose son he is)
  bridge_comparison  "Which film has the director born first, X or Y?",
                     "Which film has the director who died first, X or Y?":
                     both films and both directors, 4 passages

Corpus: the gold passages of every question plus, per question, the
passages most similar to the question by unigram+bigram tf-idf (cosine)
among all source passages, as HotpotQA's distractor setting picks them, up
to 10 passages a question (2Wiki gives every question 10); pooled and
de-duplicated; ids 0..N-1 in first-seen order.  Everything is
deterministic given --seed (pairing and sampling use random.Random(seed)).

Usage: scripts/make-templated-set.py [--seed N] [--out DIR]
         [--source FILE ...] [--per-template N] [--context N]
Default sources: $CVSTORE_DATA (else ../shared/data beside the source tree)
/multihop-qa/{hotpotqa,musique}.
"""
import argparse
import collections
import hashlib
import json
import math
import os
import random
import re
import sys

MONTHS = {m: i + 1 for i, m in enumerate(
    "January February March April May June July August September October November December".split())}
NATIONALITIES = (
    "American British English Scottish Welsh Irish Canadian Australian French German Italian "
    "Spanish Portuguese Dutch Belgian Swiss Austrian Swedish Norwegian Danish Finnish Icelandic "
    "Polish Czech Slovak Hungarian Romanian Bulgarian Greek Turkish Russian Soviet Ukrainian "
    "Serbian Croatian Slovenian Japanese Chinese Korean Indian Pakistani Filipino Indonesian "
    "Thai Vietnamese Mexican Brazilian Argentine Argentinian Chilean Colombian Cuban Egyptian "
    "Nigerian Israeli Iranian Lebanese Estonian Latvian Lithuanian Georgian Armenian").split()
NAT_RE = "|".join(sorted(NATIONALITIES + ["South Korean", "South African", "New Zealand",
                                          "Hong Kong", "Puerto Rican"], key=len, reverse=True))

DATE_DMY = r"(\d{1,2}) (%s),? (\d{3,4})" % "|".join(MONTHS)
DATE_MDY = r"(%s) (\d{1,2}),? (\d{3,4})" % "|".join(MONTHS)


def parse_date(s):
    """A full date (day month year, either order) as ((y, m, d), text), or a
    bare year as ((y, None, None), text); None when s holds neither alone."""
    s = s.strip()
    m = re.fullmatch(DATE_DMY, s)
    if m:
        return (int(m.group(3)), MONTHS[m.group(2)], int(m.group(1))), s
    m = re.fullmatch(DATE_MDY, s)
    if m:
        return (int(m.group(3)), MONTHS[m.group(1)], int(m.group(2))), s
    m = re.fullmatch(r"(\d{3,4})", s)
    if m:
        return (int(m.group(1)), None, None), s
    return None


def earlier(a, b):
    """-1 when date a is before b, 1 when after, None when the two cannot be
    ordered unambiguously (same year and one lacks the day)."""
    if a[0] != b[0]:
        return -1 if a[0] < b[0] else 1
    if a[1] is None or b[1] is None or a == b:
        return None
    return -1 if a < b else 1


def label(title):
    """The name a question uses: the title without "(1955 film)" and such."""
    return re.sub(r"\s*\([^)]*\)$", "", title).strip()


def first_sentence(text):
    # a full stop after a lower-case word or a digit and before a capital
    m = re.search(r"(?<=[a-z0-9\)])\.\s+(?=[A-Z])", text)
    return text[:m.start() + 1] if m else text


def load(paths):
    seen, out = set(), []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                p = json.loads(line)
                key = (p["title"], " ".join(p["text"].split()))
                if key in seen:
                    continue
                seen.add(key)
                out.append({"title": p["title"], "text": " ".join(p["text"].split())})
    return out


def person_facts(p):
    """Birth, death, birth place and nationality read from a person
    passage's opening, or None when it does not open like one."""
    t = p["text"][:400]
    m = re.match(r"[^()]{1,120}?\(([^()]*)\)", t)
    if not m:
        return None
    par = m.group(1)
    f = {}
    # the dates: "born DATE [in PLACE]" or "DATE - DATE" (any dash)
    b = re.search(r"\bborn (%s|%s|\d{4})(?: in ([A-Z][^;,()]*(?:, [A-Z][^;,()]*)?))?" %
                  (DATE_DMY, DATE_MDY), par)
    r = re.search(r"(%s|%s|\d{4})\s*[\u2013\u2014-]\s*(%s|%s|\d{4})" %
                  (DATE_DMY, DATE_MDY, DATE_DMY, DATE_MDY), par)
    if r and not b:
        d1, d2 = parse_date(r.group(1)), parse_date(r.group(8))
        if d1 and d2 and d1[0][0] < d2[0][0] <= d1[0][0] + 110:
            f["birth"], f["death"] = d1, d2
    elif b and not r:
        d1 = parse_date(b.group(1))
        if d1:
            f["birth"] = d1
        if b.group(8):
            f["birthplace"] = b.group(8).strip()
    if not f:
        return None
    rest = t[m.end():]
    s = first_sentence(rest)
    n = re.search(r"\b(?:is|was) (?:an?|the) (?:former |retired |late )?(%s) [a-z]" % NAT_RE, s)
    if n:
        f["nationality"] = n.group(1)
    if "birthplace" not in f:
        bp = re.search(r"\bwas born in ([A-Z][\w'.-]*(?: [A-Z][\w'.-]*)*(?:, [A-Z][\w'.-]*(?: [A-Z][\w'.-]*)*)?)[,.]",
                       p["text"][:600])
        if bp:
            f["birthplace"] = bp.group(1)
    # his or hers: the inference template asks for a paternal grandfather
    he = len(re.findall(r"\b(?:He|he|his|His|him)\b", p["text"]))
    she = len(re.findall(r"\b(?:She|she|her|Her)\b", p["text"]))
    f["male"] = he >= 2 and she == 0
    return f


class Names:
    """Exact matches of passage labels in running text: the longest label
    that a position starts with, ending at a word boundary."""

    def __init__(self, labels):
        self.by_first = collections.defaultdict(list)
        for lab in labels:
            self.by_first[lab.split()[0]].append(lab)
        for v in self.by_first.values():
            v.sort(key=len, reverse=True)

    def at(self, s):
        w = s.split()
        if not w:
            return None
        for lab in self.by_first.get(w[0], ()):
            if s.startswith(lab) and (len(s) == len(lab) or not (s[len(lab)].isalnum())):
                return lab
        return None


WORK_PATTERNS = [
    # (kind, regex over the first sentence; the name starts where it ends)
    ("film", r"\b(?:is|was) an? (?:[\w'-]+,? ){0,2}?(?:(\d{4}) )?(?:[\w'-]+,? ){0,6}?film directed by "),
    ("song", r"\b(?:is|was) an? (?:(\d{4}) )?(?:[a-z-]+ ){0,3}(?:song|single) (?:(?:written and )?(?:performed|recorded|released) )?by "),
    ("album", r"\b(?:is|was) an? (?:(\d{4}) )?(?:[a-z-]+ ){0,3}album (?:(?:recorded|released) )?by "),
    ("book", r"\b(?:is|was) an? (?:(\d{4}) )?(?:[a-z-]+ ){0,3}(?:novel|book) (?:written )?by "),
]
ROLE = {"film": "director", "song": "performer", "album": "performer", "book": "author"}
WORK_WORD = {"film": "film", "song": "song", "album": "album", "book": "book"}


def tfidf_index(passages):
    def grams(s):
        w = re.findall(r"[a-z0-9]+", s.lower())
        return w + [a + " " + b for a, b in zip(w, w[1:])]
    df = collections.Counter()
    post = collections.defaultdict(list)
    for i, p in enumerate(passages):
        tf = collections.Counter(grams(p["title"] + " " + p["text"]))
        for g, c in tf.items():
            post[g].append((i, 1 + math.log(c)))
            df[g] += 1
    n = len(passages)
    idf = {g: math.log(n / d) for g, d in df.items()}
    norm = [0.0] * n
    for g, lst in post.items():
        for i, tf in lst:
            norm[i] += (tf * idf[g]) ** 2
    return grams, post, idf, [math.sqrt(x) or 1.0 for x in norm]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_source_md(a, sources, qs, order, counts, tcounts):
    """SOURCE.md: how this folder was made, enough to make it again."""
    ngold = collections.Counter(len(q["gold_idx"]) for q in qs)
    with open(os.path.join(a.out, "SOURCE.md"), "w", encoding="utf-8") as f:
        f.write("# A templated multi-hop QA set (2WikiMultihopQA's question types)\n\n")
        f.write("Made by cvstore's `scripts/make-templated-set.py --seed %d --per-template %d "
                "--context %d` from:\n\n" % (a.seed, a.per_template, a.context))
        f.write("| source | sha256 |\n|---|---|\n")
        for src in sources:
            f.write("| %s | %s |\n" % (os.path.normpath(src), sha256(src)))
        f.write("\n%d questions, %d passages; gold passages per question: %s.\n\n" %
                (len(qs), len(order),
                 ", ".join("%d (%d)" % (k, v) for k, v in sorted(ngold.items()))))
        f.write("| type | questions |\n|---|---:|\n")
        for k, v in sorted(counts.items()):
            f.write("| %s | %d |\n" % (k, v))
        f.write("\n| template | questions |\n|---|---:|\n")
        for k, v in sorted(tcounts.items()):
            f.write("| %s | %d |\n" % (k, v))
        f.write("\nNo passage was written for this set: the passages are the sources' own, and "
                "every fact a question needs\n(release year, director, performer, author, dates "
                "of birth and death, birth place, nationality, parent)\nwas read from them by the "
                "plain patterns the script's docstring lists; a name in a passage counts\nonly "
                "when it equals the label (title without its parenthesis) of exactly one person "
                "passage.\nEach question's gold passages (qrels.tsv, gold_ids; gold_ids_hop_order "
                "in the order the\nquestion uses them) are the ones those facts were read from; "
                "its answer is the value read\n(a date as the passage writes it, a label, yes or "
                "no).  The corpus pools the gold passages and\neach question's tf-idf neighbours "
                "(context_ids), up to %d a question, de-duplicated.\nThe question ids are sha1 "
                "of seed and question.  Licences: those of the sources.\n" % a.context)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.environ.get("CVSTORE_DATA") or os.path.join(here, "..", "..", "shared", "data")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--out", default="templated")
    ap.add_argument("--source", action="append",
                    help="a corpus.jsonl ({id, title, text} a line); repeatable")
    ap.add_argument("--per-template", type=int, default=40,
                    help="at most this many questions of one template (default 40)")
    ap.add_argument("--context", type=int, default=10,
                    help="passages per question pooled into the corpus: the gold ones and "
                    "the question's tf-idf neighbours (default 10)")
    a = ap.parse_args()
    sources = a.source or [os.path.join(data, "multihop-qa", s, "corpus.jsonl")
                           for s in ("hotpotqa", "musique")]
    rng = random.Random(a.seed)
    passages = load(sources)

    # Names in running text resolve only to a label one passage alone
    # carries (its disambiguation dropped): "directed by John Smith" with
    # two John Smith passages says nothing.  The subject of a question may
    # have namesakes, as 2Wiki's do ("Deliver Us from Evil" the 1973 film
    # and the 2014 one): its gold passage is the one the fact was read from.
    by_label = collections.defaultdict(list)
    for i, p in enumerate(passages):
        by_label[label(p["title"])].append(i)
    L = [label(p["title"]) for p in passages]

    persons = {}                              # passage -> facts
    for i, p in enumerate(passages):
        f = person_facts(p)
        if f:
            persons[i] = f
    target = {lab: v[0] for lab, v in by_label.items()
              if len(v) == 1 and len(lab) > 2 and v[0] in persons}
    names = Names(target)

    works = collections.defaultdict(dict)     # kind -> passage -> (year, person passage)
    parent = {}                               # passage -> parent's passage
    for i, p in enumerate(passages):
        s = first_sentence(p["text"][:500])
        for kind, rx in WORK_PATTERNS:
            m = re.search(rx, s)
            if not m:
                continue
            # the person may follow a descriptor: "by American singer Beyonce"
            rest = s[m.end():]
            who = None
            for k in range(4):
                who = names.at(rest)
                if who or not re.match(r"[A-Za-z-]+ ", rest):
                    break
                rest = rest.split(" ", 1)[1]
            if who and target[who] != i:
                works[kind][i] = (int(m.group(1)) if m.group(1) else None, target[who])
            break
        if i in persons:
            m = re.search(r"\b(?:son|daughter) of (?:the )?(?:King |Queen |Emperor |Prince |Lord |Sir )?",
                          p["text"][:600])
            if m:
                who = names.at(p["text"][m.end():m.end() + 120])
                if who and target[who] != i:
                    parent[i] = target[who]

    qs = []

    def add(qtype, template, question, answer, gold, slots):
        gold = list(dict.fromkeys(gold))
        qs.append({"type": qtype, "template": template, "question": question,
                   "answer": answer, "gold_idx": gold, "slots": slots})

    def pairs(items, n):
        """n random pairs of items with different labels, each item in at
        most two."""
        items = sorted(items)
        rng.shuffle(items)
        use = collections.Counter()
        out, tries = [], 0
        while len(out) < n and tries < 20 * n and len(items) > 1:
            tries += 1
            x, y = rng.sample(items, 2)
            if use[x] >= 2 or use[y] >= 2 or L[x] == L[y] or (x, y) in out or (y, x) in out:
                continue
            out.append((x, y))
            use[x] += 1
            use[y] += 1
        return out

    cap = a.per_template
    # -- comparison
    films = {i: w for i, w in works["film"].items() if w[0]}
    n = 0
    for x, y in pairs(films, cap * 3):
        if films[x][0] != films[y][0] and n < cap:
            add("comparison", "film-first", "Which film came out first, %s or %s?" % (L[x], L[y]),
                L[x] if films[x][0] < films[y][0] else L[y], [x, y], [L[x], L[y]])
            n += 1
    for key, tpl, text in (("birth", "born-first", "Who was born first, %s or %s?"),
                           ("death", "died-first", "Who died first, %s or %s?")):
        have = {i for i, f in persons.items() if key in f}
        n = 0
        for x, y in pairs(have, cap * 3):
            e = earlier(persons[x][key][0], persons[y][key][0])
            if e is None or n >= cap:
                continue
            add("comparison", tpl, text % (L[x], L[y]), L[x] if e < 0 else L[y], [x, y],
                [L[x], L[y]])
            n += 1
    have = {i for i, f in persons.items() if "nationality" in f}
    n = 0
    for x, y in pairs(have, cap * 3):
        if n >= cap // 2:
            break
        same = persons[x]["nationality"] == persons[y]["nationality"]
        add("comparison", "same-nationality",
            "Are %s and %s of the same nationality?" % (L[x], L[y]), "yes" if same else "no",
            [x, y], [L[x], L[y]])
        n += 1
    # -- compositional: a fact of the person behind a work
    comp = [("birth", "What is the date of birth of the %s of %s %s?"),
            ("death", "When did the %s of %s %s die?"),
            ("birthplace", "Where was the %s of %s %s born?"),
            ("nationality", "What nationality is the %s of %s %s?")]
    for key, text in comp:
        cands = sorted((kind, i) for kind in works for i, w in works[kind].items()
                       if key in persons[w[1]])
        rng.shuffle(cands)
        for kind, i in cands[:cap]:
            who = works[kind][i][1]
            v = persons[who][key]
            add("compositional", "%s-of-%s" % (key, ROLE[kind]),
                text % (ROLE[kind], WORK_WORD[kind], L[i]), v[1] if isinstance(v, tuple) else v,
                [i, who], [L[i]])
    # -- inference: the father's father
    cands = sorted(i for i, p in parent.items() if persons[p]["male"] and p in parent)
    rng.shuffle(cands)
    for i in cands[:cap]:
        p = parent[i]
        add("inference", "paternal-grandfather", "Who is the paternal grandfather of %s?" % L[i],
            L[parent[p]], [i, p], [L[i]])
    # -- bridge comparison: two films through their directors
    for key, tpl, text in (("birth", "director-born-first",
                            "Which film has the director born first, %s or %s?"),
                           ("death", "director-died-first",
                            "Which film has the director who died first, %s or %s?")):
        have = {i for i, w in works["film"].items() if key in persons[w[1]]}
        n = 0
        for x, y in pairs(have, cap * 3):
            dx, dy = works["film"][x][1], works["film"][y][1]
            if dx == dy or n >= cap:
                continue
            e = earlier(persons[dx][key][0], persons[dy][key][0])
            if e is None:
                continue
            add("bridge_comparison", tpl, text % (L[x], L[y]), L[x] if e < 0 else L[y],
                [x, y, dx, dy], [L[x], L[y]])
            n += 1

    # Distractors: tf-idf neighbours (unigrams and bigrams, cosine), as
    # HotpotQA's distractor setting picks them, up to --context passages
    # with the gold ones (2Wiki gives every question 10).  Taken in turn
    # from two rankings: of the whole question, and of the names it was
    # filled with.  The whole question alone ranks by its template words
    # ("film", "director born"), the same for every question of a
    # template: the pool would repeat a few passages (3.5 a question with
    # the defaults, against 7.9 in 2Wiki's 164-question sample).
    grams, post, idf, norm = tfidf_index(passages)

    def ranking(text, skip):
        score = collections.Counter()
        # In a fixed order: a set of str iterates in the order of its
        # hashes, which PYTHONHASHSEED draws anew each run, and floats
        # summed in another order may differ in the last bit, enough to
        # swap two passages of equal score (the tie rule is by index).
        for g in sorted(set(grams(text))):
            w = idf.get(g, 0)
            for i, tf in post[g]:
                score[i] += w * w * tf / norm[i]
        return [i for i, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))
                if i not in skip]

    for q in qs:
        gold = set(q["gold_idx"])
        want = max(0, a.context - len(gold))
        r1, r2 = ranking(q["question"], gold), ranking(" ".join(q["slots"]), gold)
        out = []
        for x, y in zip(r1 + [None] * want, r2 + [None] * want):
            for i in (x, y):
                if i is not None and i not in out and len(out) < want:
                    out.append(i)
            if len(out) >= want:
                break
        q["distractor_idx"] = out

    # Pool, renumber, write.
    os.makedirs(a.out, exist_ok=True)
    newid = {}
    order = []
    for q in qs:
        for i in q["gold_idx"] + q["distractor_idx"]:
            if i not in newid:
                newid[i] = len(order)
                order.append(i)
    with open(os.path.join(a.out, "corpus.jsonl"), "w", encoding="utf-8") as f, \
            open(os.path.join(a.out, "corpus.tsv"), "w", encoding="utf-8") as g:
        for n, i in enumerate(order):
            p = passages[i]
            f.write(json.dumps({"id": n, "title": p["title"], "text": p["text"]},
                               ensure_ascii=False) + "\n")
            g.write("%d\t%s\t%s\n" % (n, p["title"].replace("\t", " "), p["text"].replace("\t", " ")))
    counts = collections.Counter()
    tcounts = collections.Counter()
    with open(os.path.join(a.out, "queries.jsonl"), "w", encoding="utf-8") as f, \
            open(os.path.join(a.out, "queries.tsv"), "w", encoding="utf-8") as g, \
            open(os.path.join(a.out, "qrels.tsv"), "w", encoding="utf-8") as r:
        r.write("query-id\tcorpus-id\tscore\n")
        for n, q in enumerate(qs):
            # A hash for an id, as HotpotQA's and 2Wiki's are: the bench's
            # halves take the top bit of FNV-1a-64(id), which ids differing
            # only in their last digits ("tpl-0001", "tpl-0002") all share.
            qid = hashlib.sha1(("%d:%s" % (a.seed, q["question"])).encode()).hexdigest()[:24]
            gold = sorted(newid[i] for i in q["gold_idx"])
            f.write(json.dumps({"id": qid, "question": q["question"], "answer": q["answer"],
                                "type": q["type"], "template": q["template"],
                                "num_gold": len(gold), "gold_ids": gold,
                                "gold_ids_hop_order": [newid[i] for i in q["gold_idx"]],
                                "context_ids": sorted(gold + [newid[i] for i in q["distractor_idx"]])},
                               ensure_ascii=False) + "\n")
            g.write("%d\t%s\t%s\n" % (n, qid, q["question"]))
            for c in gold:
                r.write("%s\t%d\t1\n" % (qid, c))
            counts[q["type"]] += 1
            tcounts[q["template"]] += 1
    write_source_md(a, sources, qs, order, counts, tcounts)
    print("%d questions over %d passages (%d source passages; %d persons (%d named uniquely), "
          "%s works, %d parents)" % (len(qs), len(order), len(passages), len(persons), len(target),
           "/".join("%s %d" % (k, len(works[k])) for k in sorted(works)), len(parent)),
          file=sys.stderr)
    for k, v in sorted(counts.items()):
        print("  %-18s %d" % (k, v), file=sys.stderr)
    for k, v in sorted(tcounts.items()):
        print("    %-28s %d" % (k, v), file=sys.stderr)


if __name__ == "__main__":
    main()
