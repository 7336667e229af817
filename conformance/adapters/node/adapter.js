// Conformance adapter for the Node SDK (@evervault/sdk, version pinned in package.json).
// Run by the suite as `node conformance/adapters/node/adapter.js` after `npm ci` in this
// directory; speaks the JSON-lines protocol of conformance/README.md on stdin/stdout.
'use strict';

const readline = require('readline');

const CURVES = { secp256k1: 'secp256k1', p256: 'prime256v1' };
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

class Unsupported extends Error {
  constructor(message) {
    super(message);
    this.name = 'unsupported';
  }
}

// --- the protocol's value encoding ($bytes, $int, $set) ----------------------------------

function fromWire(node) {
  if (Array.isArray(node)) return node.map(fromWire);
  if (node === null || typeof node !== 'object') return node;
  const keys = Object.keys(node);
  if (keys.length === 1) {
    if (keys[0] === '$bytes') return Buffer.from(node.$bytes, 'base64');
    if (keys[0] === '$int') return BigInt(node.$int); // the natural JS type beyond 2^53
    if (keys[0] === '$set') throw new Unsupported('JavaScript SDK values have no set type');
  }
  const out = {};
  for (const key of keys) out[key] = fromWire(node[key]);
  return out;
}

function toWire(value) {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (typeof value === 'bigint') {
    return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : { $int: value.toString() };
  }
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = toWire(item);
    return out;
  }
  return value === undefined ? null : value;
}

// --- operations ------------------------------------------------------------------------------

let client = null;

function sdk() {
  if (client === null) throw new Error('configure first');
  return client;
}

const operations = {
  configure(args) {
    process.env.EV_API_URL = args.api_url; // read by the SDK's config when it is first loaded
    const Evervault = require('@evervault/sdk');
    const { version } = require('@evervault/sdk/package.json');
    client = new Evervault(args.app_id, args.api_key, { curve: CURVES[args.curve] });
    return {
      sdk: '@evervault/sdk (npm)',
      version,
      language: `node ${process.versions.node}`,
      capabilities: ['encrypt_many'],
    };
  },
  encrypt: (args) => sdk().encrypt(fromWire(args.value), args.role ?? null),
  encrypt_file: (args) => sdk().encrypt(fromWire(args.data)),
  encrypt_many: async (args) => {
    const values = args.values.map(fromWire);
    const results = new Array(values.length);
    let next = 0;
    const worker = async () => {
      while (next < values.length) {
        const index = next++;
        results[index] = await sdk().encrypt(values[index], args.role ?? null);
      }
    };
    await Promise.all(Array.from({ length: args.concurrency || 8 }, worker));
    return results;
  },
  decrypt: (args) => sdk().decrypt(fromWire(args.value)),
  create_client_side_decrypt_token: (args) => {
    const expiry = args.expiry == null ? null : new Date(args.expiry * 1000);
    return sdk().createClientSideDecryptToken(fromWire(args.payload), expiry);
  },
  create_run_token: (args) => sdk().createRunToken(args.function_name, fromWire(args.payload)),
  run: (args) => sdk().run(args.function_name, fromWire(args.payload)),
};

async function answer(request) {
  const operation = Object.prototype.hasOwnProperty.call(operations, request.op)
    ? operations[request.op]
    : null;
  try {
    if (operation === null) throw new Error(`unknown op ${JSON.stringify(request.op)}`);
    const result = await operation(request.args || {});
    return { id: request.id, ok: true, result: toWire(result) };
  } catch (error) {
    const type = error instanceof Unsupported ? 'unsupported' : (error && error.constructor && error.constructor.name) || 'Error';
    return { id: request.id, ok: false, error: { type, message: String(error && error.message) } };
  }
}

async function main() {
  const answers = process.stdout;
  console.log = console.error; // stray logs must not corrupt the protocol
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const reply = await answer(JSON.parse(line));
    await new Promise((resolve) => answers.write(JSON.stringify(reply) + '\n', resolve));
  }
  process.exit(0); // the SDK's key-rotation timers would otherwise keep the process alive
}

main();
