// mcp_client.mjs -- drives `cvstore mcp` with the official MCP TypeScript
// SDK (its Client over StdioClientTransport), then over a raw stdio pipe
// with malformed input.  Run by tests/cli_mcp.sh:
//   node tests/mcp_client.mjs CVSTORE SDK_PREFIX
// where SDK_PREFIX is the npm --prefix holding @modelcontextprotocol/sdk.
// The store is embedded by the built-in glove embedder over a tiny
// generated GloVe cache (16 dimensions, a few dozen words) in a temporary
// directory, so nothing depends on the real 117 MB download.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [cvstore, sdkPrefix] = process.argv.slice(2);
if (!cvstore || !sdkPrefix) {
  console.error('usage: node mcp_client.mjs CVSTORE SDK_PREFIX');
  process.exit(2);
}
const sdk = path.join(sdkPrefix, 'node_modules', '@modelcontextprotocol', 'sdk', 'dist', 'esm');
// Absolute imports: the SDK lives under the build directory, not next to
// this file, so bare specifiers would not resolve.
const { Client } = await import(pathToFileURL(path.join(sdk, 'client', 'index.js')).href);
const { StdioClientTransport } = await import(pathToFileURL(path.join(sdk, 'client', 'stdio.js')).href);

// Whatever happens, never hang the suite: 180 s, some 7 times the ~25 s
// the client takes alone and twice its time on a loaded 2-core machine
// (60 s timed out there); cli_mcp.sh's timeout and ctest's sit above it.
const watchdog = setTimeout(() => {
  console.error('mcp_client: timed out after 180 s');
  process.exit(1);
}, 180000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cvs-mcp-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- a tiny GloVe cache ---------------------------------------------------
const words = ('the a is of and to in where does live lives alice bob paris berlin likes ' +
  'coffee tea green blue colour favourite meeting monday friday works cat dog').split(' ');
const D = 16;
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const glove = path.join(tmp, 'glove');
fs.mkdirSync(glove);
fs.writeFileSync(path.join(glove, 'glove100.words'), words.join('\n') + '\n');
const fv = Buffer.alloc(words.length * (4 + 4 * D));
words.forEach((_, i) => {
  const o = i * (4 + 4 * D);
  fv.writeInt32LE(D, o);
  for (let d = 0; d < D; d++) fv.writeFloatLE(rnd(), o + 4 + 4 * d);
});
fs.writeFileSync(path.join(glove, 'glove100.fvecs'), fv);
const env = { ...process.env, CVSTORE_GLOVE_DIR: glove };
const db = path.join(tmp, 'mem.cvs');
execFileSync(cvstore, ['init', db, '--embedder', 'glove', '--dim', String(D)], { env, stdio: 'ignore' });

// ---- through the SDK ------------------------------------------------------
const client = new Client({ name: 'cvstore-test', version: '1.0.0' });
const transport = new StdioClientTransport({ command: cvstore, args: ['mcp', db], env, stderr: 'inherit' });
await client.connect(transport);
assert.equal(client.getServerVersion().name, 'cvstore');
assert.ok(client.getServerCapabilities().tools, 'tools capability');

const { tools } = await client.listTools();
const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
assert.deepEqual(Object.keys(byName).sort(), ['forget', 'list', 'recall', 'remember']);
for (const t of tools) {
  assert.equal(t.inputSchema.type, 'object', `${t.name} schema`);
  assert.equal(typeof t.description, 'string');
}
// text or texts: neither is required by the schema (the tool says which is missing)
assert.equal(byName.remember.inputSchema.required, undefined);
for (const p of ['text', 'texts', 'metadata', 'namespace', 'links', 'conversation', 'supersedes'])
  assert.ok(byName.remember.inputSchema.properties[p], `remember.${p}`);
assert.deepEqual(byName.recall.inputSchema.required, ['query']);
for (const p of ['query', 'token_budget', 'namespace', 'strategy', 'k'])
  assert.ok(byName.recall.inputSchema.properties[p], `recall.${p}`);
assert.deepEqual(byName.recall.inputSchema.properties.strategy.enum,
                 ['diverse', 'topk', 'mmr', 'hybrid', 'lexical', 'vector']);
assert.deepEqual(byName.recall.inputSchema.properties.retrieval.enum, ['hybrid', 'lexical', 'vector']);
for (const p of ['id', 'filter', 'namespace']) assert.ok(byName.forget.inputSchema.properties[p]);
for (const p of ['namespace', 'cursor', 'limit']) assert.ok(byName.list.inputSchema.properties[p]);

const call = async (name, args) => {
  const r = await client.callTool({ name, arguments: args });
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent);
  return r.structuredContent;
};

const a = await call('remember', { text: 'Alice lives in Paris', namespace: 'a', metadata: { who: 'alice' } });
assert.equal(a.status, 'added');
assert.match(a.id, /^m[0-9a-f]{16}$/);
const dup = await call('remember', { text: 'Alice lives in Paris', namespace: 'a' });
assert.equal(dup.status, 'duplicate');
assert.equal(dup.id, a.id);
const b = await call('remember', { text: 'Bob likes coffee and Alice', namespace: 'b' });
assert.equal(b.status, 'added');
const a2 = await call('remember', { text: 'Alice works in Berlin on monday', namespace: 'a',
                                    links: [a.id], conversation: 'c1' });
assert.equal(a2.status, 'added');
// Many at once: each as if remembered alone, in order.
const many = await call('remember', { texts: ['Carol likes tea', 'Dan likes coffee', 'Carol likes tea'],
                                      namespace: 'many' });
assert.equal(many.namespace, 'many');
assert.deepEqual(many.results.map((r) => r.status), ['added', 'added', 'duplicate']);
assert.equal(many.results[2].id, many.results[0].id);

let r = await call('recall', { query: 'where does alice live', namespace: 'a', token_budget: 100 });
assert.ok(r.memories.length >= 1 && r.memories.length <= 2);
assert.ok(r.memories.some((m) => m.id === a.id), 'recall finds the memory');
for (const m of r.memories) {
  assert.equal(m.namespace, 'a');
  assert.equal(typeof m.score, 'number');
  assert.deepEqual(m.path, [m.id]);
  assert.equal(m.hop, 0);
  assert.equal(m.via.length, 1);
  assert.equal(m.via[0].id, m.id);
}
assert.deepEqual(r.memories.find((m) => m.id === a.id).metadata, { who: 'alice' });
assert.ok(r.tokens <= 100);
r = await call('recall', { query: 'alice', namespace: 'b', strategy: 'lexical' });
assert.deepEqual(r.memories.map((m) => m.id), [b.id], 'namespace b sees only its own');
// A context set: the link from a2 to a is followed one hop, with its path.
for (const strategy of ['diverse', 'topk', 'mmr']) {
  r = await call('recall', { query: 'berlin', namespace: 'a', retrieval: 'lexical', hops: 1, strategy });
  assert.deepEqual(r.memories.map((m) => m.id), [a2.id, a.id], strategy);
  const hop = r.memories[1];
  assert.equal(hop.hop, 1);
  assert.deepEqual(hop.path, [a2.id, a.id]);
  assert.deepEqual(hop.via.map((v) => v.type), ['bm25', 'link']);
}

let l = await call('list', { namespace: 'a', limit: 1 });
assert.equal(l.memories.length, 1);
assert.equal(l.memories[0].id, a2.id, 'newest first');
assert.ok(l.next_cursor);
l = await call('list', { namespace: 'a', limit: 1, cursor: l.next_cursor });
assert.equal(l.memories[0].id, a.id);
assert.equal(l.next_cursor, undefined);

let f = await call('forget', { namespace: 'b', id: a.id });
assert.equal(f.forgotten, 0, 'forget in another namespace does nothing');
f = await call('forget', { namespace: 'a', id: a.id });
assert.equal(f.forgotten, 1);
r = await call('recall', { query: 'alice paris', namespace: 'a' });
assert.ok(!r.memories.some((m) => m.id === a.id), 'forgotten');
f = await call('forget', { namespace: 'a', filter: {} });
assert.equal(f.forgotten, 1);
l = await call('list', { namespace: 'b' });
assert.equal(l.memories.length, 1);

// Tool errors are results the model can read; an unknown tool is a
// JSON-RPC error.
let e = await client.callTool({ name: 'remember', arguments: { namespace: 'a' } });
assert.equal(e.isError, true);
assert.match(e.content[0].text, /text/);
e = await client.callTool({ name: 'recall', arguments: { query: 'x', strategy: 'psychic' } });
assert.equal(e.isError, true);
e = await client.callTool({ name: 'recall', arguments: { query: 'x', strategy: 'bm25' } });
assert.equal(e.isError, false, 'bm25 is lexical retrieval, as before');
e = await client.callTool({ name: 'recall', arguments: { query: 'x', hops: 9 } });
assert.equal(e.isError, true);
await assert.rejects(client.callTool({ name: 'nope', arguments: {} }), (err) => err.code === -32602);
assert.deepEqual(await client.ping(), {});

// A memory over the cap is refused with the reason, and nothing is stored.
e = await client.callTool({ name: 'remember', arguments: { text: 'coffee tea '.repeat(7000), namespace: 'c' } });
assert.equal(e.isError, true);
assert.match(e.content[0].text, /over the limit of 65536 bytes/);
assert.equal((await call('list', { namespace: 'c' })).memories.length, 0);
// Superseding the conversation's last memory (by subject) stores both.
const blue = await call('remember', { text: 'my favourite colour is blue', namespace: 'c',
                                      metadata: { subject: 'colour' }, conversation: 'c1' });
const green = await call('remember', { text: 'my favourite colour is green', namespace: 'c',
                                       metadata: { subject: 'colour' }, conversation: 'c1' });
assert.equal(green.status, 'added');
assert.equal(green.supersedes, blue.id);
assert.equal((await call('list', { namespace: 'c' })).memories.length, 2);
await client.close();

// ---- memories larger than a reply may carry ---------------------------------
// Written by another program (import), 3 MB each: every reply stays within
// the SDK's buffer; texts are cut to the cap and flagged, a list page that
// would be too large comes shorter and its cursor goes on without a gap.
const bigText = 'alice likes green tea '.repeat(140000);
fs.writeFileSync(path.join(tmp, 'big.jsonl'), [0, 1, 2, 3, 4].map((i) =>
  JSON.stringify({ id: `big${i}`, text: `${i} ${bigText}`, meta: { _ns: 'big' } })).join('\n') + '\n');
execFileSync(cvstore, ['import', db, path.join(tmp, 'big.jsonl'), '--quiet'], { env, stdio: 'ignore' });
const big = new Client({ name: 'cvstore-test-big', version: '1.0.0' });
await big.connect(new StdioClientTransport({ command: cvstore, env, stderr: 'inherit',
                                             args: ['mcp', db, '--max-memory-bytes', '1048576'] }));
const bigCall = async (name, args) => {
  const res = await big.callTool({ name, arguments: args });
  assert.equal(res.isError, false, `${name}: ${JSON.stringify(res.content).slice(0, 300)}`);
  return res.structuredContent;
};
const seen = [];
let page = { next_cursor: '' };
do {
  page = await bigCall('list', { namespace: 'big', limit: 5, ...(page.next_cursor ? { cursor: page.next_cursor } : {}) });
  assert.ok(page.memories.length >= 1 && page.memories.length < 5, `page of ${page.memories.length}`);
  for (const m of page.memories) {
    assert.equal(m.text_truncated, true);
    assert.equal(m.text_bytes, bigText.length + 2);
    assert.ok(Buffer.byteLength(m.text) <= 1048576);
    seen.push(m.id);
  }
} while (page.next_cursor);
assert.deepEqual(seen, ['big4', 'big3', 'big2', 'big1', 'big0']);
r = await bigCall('recall', { query: 'alice green tea', namespace: 'big', k: 5, retrieval: 'lexical' });
assert.ok(r.memories.length >= 1 && r.memories.length < 5);
assert.equal(r.truncated, true);
await big.close();

// ---- raw pipe: malformed input gets errors, EOF ends the server ------------
const raw = spawn(cvstore, ['mcp', db], { env, stdio: ['pipe', 'pipe', 'inherit'] });
const exited = new Promise((resolve) => raw.on('exit', (code, sig) => resolve({ code, sig })));
let out = '';
raw.stdout.on('data', (d) => (out += d));
raw.stdin.write('this is not json\n');
raw.stdin.write(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a])); // invalid UTF-8
raw.stdin.write('{"jsonrpc":"2.0","id":1,"method":"no/such/method"}\n');
raw.stdin.write('{"jsonrpc":"1.0","id":2,"method":"ping"}\n');
raw.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
raw.stdin.write('\n');
raw.stdin.write('{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2024-11-05",' +
                '"capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}\n');
raw.stdin.write('{"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}\n');
raw.stdin.write('{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"recall","arguments":[1]}}\n');
raw.stdin.write('[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n');
raw.stdin.write('{"jsonrpc":"2.0","id":6,"method":"ping"}\n');
raw.stdin.end();
const { code, sig } = await exited;
assert.equal(sig, null, 'no crash');
assert.equal(code, 0, 'EOF exits cleanly');
const lines = out.trim().split('\n').map((s) => JSON.parse(s));
const err = (i) => lines[i].error && lines[i].error.code;
assert.equal(lines.length, 9, out);
assert.equal(err(0), -32700);
assert.equal(lines[0].id, null);
assert.equal(err(1), -32700);
assert.equal(err(2), -32601);
assert.equal(lines[2].id, 1);
assert.equal(err(3), -32600);
assert.equal(lines[4].result.protocolVersion, '2024-11-05');
assert.equal(lines[5].result.protocolVersion, '2025-06-18');
assert.equal(err(6), -32602);
assert.equal(err(7), -32700);
assert.deepEqual(lines[8], { jsonrpc: '2.0', id: 6, result: {} });

clearTimeout(watchdog);
console.log('mcp_client: ok');
