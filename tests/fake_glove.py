"""fake_glove.py -- a GloVe cache in the layout of scripts/fetch-glove.sh
(glove100.words, glove100.fvecs) for the words of some JSONL records, so a
shell test can make `--embedder glove` stores without the real vectors.

    python3 tests/fake_glove.py OUT_DIR FILE.jsonl [FILE.jsonl ...]

The words are the runs of [a-z0-9] of each record's lower-cased title and
text, most frequent first (ties in word order); each gets 100 numbers of a
fixed linear congruential sequence, so every run writes the same files.
"""
import json
import os
import re
import struct
import sys
from collections import Counter


def main(out, paths):
    count = Counter()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                text = (r.get("title") or "") + " " + (r.get("text") or "")
                count.update(re.findall(r"[a-z0-9]+", text.lower()))
    words = sorted(count, key=lambda w: (-count[w], w))
    os.makedirs(out)
    with open(os.path.join(out, "glove100.words"), "w") as f:
        f.write("\n".join(words) + "\n")
    s = 7
    with open(os.path.join(out, "glove100.fvecs"), "wb") as f:
        for _ in words:
            f.write(struct.pack("<i", 100))
            for _ in range(100):
                s = (s * 1103515245 + 12345) % 2**31
                f.write(struct.pack("<f", s / 2**31 - 0.5))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
