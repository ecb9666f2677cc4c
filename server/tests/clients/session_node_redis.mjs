// The client-compatibility session for node-redis (driven by server/tests/clients.rs,
// which copies this file next to the node_modules it installed). Same environment
// and output as session.py.
import { createClient } from 'redis';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

const ports = process.env.DYNAMO_PORTS.split(',').map(Number);
const authPort = Number(process.env.DYNAMO_AUTH_PORT);
const [user, password] = [process.env.DYNAMO_USER, process.env.DYNAMO_PASSWORD];
const version = JSON.parse(readFileSync(new URL('./node_modules/redis/package.json', import.meta.url))).version;
const check = (name) => console.log(`check ${name} ok`);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function connect({ socket = {}, ...options }) {
  const client = createClient({ ...options, socket: { host: '127.0.0.1', reconnectStrategy: 100, ...socket } });
  client.on('error', () => {}); // reconnects on its own; errors reach the commands
  await client.connect();
  return client;
}

async function expectError(promise, text) {
  const found = (error) => text.split('|').some((t) => String(error).toLowerCase().includes(t.toLowerCase()));
  await assert.rejects(promise, (error) => found(error) || assert.fail(`${text} not in ${error}`));
}

console.log(`version node-redis ${version}`);
// Default options: node-redis 6 sends HELLO 3, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS.
const [one, two, three] = await Promise.all(ports.map((port) => connect({ socket: { port } })));
assert.equal(await one.ping(), 'PONG');
check('connect-default');

assert.equal(await one.set('js:k', 'v'), 'OK');
assert.equal(await two.get('js:k'), 'v');
assert.equal(await one.get('js:missing'), null);
check('set-get');

// Concurrent commands are pipelined on the connection; execAsPipeline sends a batch.
const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => one.set(`js:p${i}`, String(i))));
assert.deepEqual(replies, Array(50).fill('OK'));
const batch = one.multi();
for (let i = 0; i < 50; i++) batch.get(`js:p${i}`);
assert.deepEqual(await batch.execAsPipeline(), Array.from({ length: 50 }, (_, i) => String(i)));
await expectError(one.multi().set('js:t', '1').exec(), 'no transactions|EXECABORT');
assert.equal(await one.get('js:t'), null); // nothing of a transaction runs
check('pipeline');

assert.equal(await one.mSet({ 'js:a': '1', 'js:b': '22' }), 'OK');
assert.deepEqual(await two.mGet(['js:a', 'js:b', 'js:none']), ['1', '22', null]);
assert.equal(await three.exists(['js:a', 'js:b', 'js:none']), 2);
assert.equal(await one.append('js:b', '33'), 4);
assert.equal(await two.strLen('js:b'), 4);
assert.equal(await one.getDel('js:b'), '2233');
assert.equal(await one.type('js:b'), 'none');
assert.equal(await one.del(['js:a', 'js:b', 'js:none']), 1);
check('mset-mget');

await one.sendCommand(['VSET', 'js:s', '', 'left']);
await two.sendCommand(['VSET', 'js:s', '', 'right']);
const [context, values] = await three.sendCommand(['VGET', 'js:s']);
assert.deepEqual(values.map(String).sort(), ['left', 'right']);
const shown = await one.get('js:s');
assert.ok(['left', 'right'].includes(shown));
assert.equal(await two.get('js:s'), shown);
await one.sendCommand(['VSET', 'js:s', String(context), 'merged']);
assert.equal(await three.get('js:s'), 'merged');
check('siblings');

const resp2 = await connect({ socket: { port: ports[2] }, RESP: 2 });
assert.equal(await resp2.set('js:r2', 'x'), 'OK');
assert.deepEqual(await resp2.mGet(['js:r2', 'js:missing']), ['x', null]);
check('resp2');

// HELLO 3 without credentials is refused as Redis refuses it: the connect fails.
await expectError(connect({ socket: { port: authPort, reconnectStrategy: false } }), 'authenticat');
await expectError(connect({ socket: { port: authPort, reconnectStrategy: false }, username: user, password: 'wrong' }), 'invalid username-password pair');
const secured = await connect({ socket: { port: authPort }, username: user, password });
assert.equal(await secured.set('js:auth', 'yes'), 'OK');
assert.equal(await secured.get('js:auth'), 'yes');
check('auth');

assert.equal(await one.set('js:before', 'kept'), 'OK');
console.log('restart');
assert.equal((await lines.next()).value, 'restarted');
const deadline = Date.now() + 20000;
for (;;) { // bounded by the deadline
  try {
    assert.equal(await one.get('js:before'), 'kept');
    break;
  } catch (error) {
    if (Date.now() > deadline) throw error;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
check('reconnect');
console.log('done');
process.exit(0);
