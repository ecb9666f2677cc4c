// The client-compatibility session for ioredis (driven by server/tests/clients.rs,
// which copies this file next to the node_modules it installed). Same environment
// and output as session.py. ioredis speaks RESP2 only.
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

const ports = process.env.DYNAMO_PORTS.split(',').map(Number);
const authPort = Number(process.env.DYNAMO_AUTH_PORT);
const [user, password] = [process.env.DYNAMO_USER, process.env.DYNAMO_PASSWORD];
const version = JSON.parse(readFileSync(new URL('./node_modules/ioredis/package.json', import.meta.url))).version;
const check = (name) => console.log(`check ${name} ok`);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function connect(options) {
  const client = new Redis({ host: '127.0.0.1', ...options });
  client.on('error', () => {}); // reconnects on its own; errors reach the commands
  return client;
}

async function expectError(promise, text) {
  const found = (error) => text.split('|').some((t) => String(error).toLowerCase().includes(t.toLowerCase()));
  await assert.rejects(promise, (error) => found(error) || assert.fail(`${text} not in ${error}`));
}

console.log(`version ioredis ${version}`);
// Default options: ioredis checks INFO (loading:0) before it is ready.
const [one, two, three] = ports.map((port) => connect({ port }));
assert.equal(await one.ping(), 'PONG');
check('connect-default');

assert.equal(await one.set('io:k', 'v'), 'OK');
assert.equal(await two.get('io:k'), 'v');
assert.equal(await one.get('io:missing'), null);
check('set-get');

const pipeline = one.pipeline();
for (let i = 0; i < 50; i++) pipeline.set(`io:p${i}`, String(i)).get(`io:p${i}`);
const replies = await pipeline.exec();
assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => [[null, 'OK'], [null, String(i)]]).flat());
await expectError(one.multi().set('io:t', '1').exec(), 'no transactions|EXECABORT');
assert.equal(await one.get('io:t'), null); // nothing of a transaction runs
check('pipeline');

assert.equal(await one.mset({ 'io:a': '1', 'io:b': '22' }), 'OK');
assert.deepEqual(await two.mget('io:a', 'io:b', 'io:none'), ['1', '22', null]);
assert.equal(await three.exists('io:a', 'io:b', 'io:none'), 2);
assert.equal(await one.append('io:b', '33'), 4);
assert.equal(await two.strlen('io:b'), 4);
assert.equal(await one.getdel('io:b'), '2233');
assert.equal(await one.type('io:b'), 'none');
assert.equal(await one.del('io:a', 'io:b', 'io:none'), 1);
check('mset-mget');

await one.call('VSET', 'io:s', '', 'left');
await two.call('VSET', 'io:s', '', 'right');
const [context, values] = await three.call('VGET', 'io:s');
assert.deepEqual([...values].sort(), ['left', 'right']);
const shown = await one.get('io:s');
assert.ok(['left', 'right'].includes(shown));
assert.equal(await two.get('io:s'), shown);
await one.call('VSET', 'io:s', context, 'merged');
assert.equal(await three.get('io:s'), 'merged');
check('siblings');

const anonymous = connect({ port: authPort, enableReadyCheck: false, retryStrategy: () => null });
await expectError(anonymous.get('io:k'), 'authenticat');
const wrong = connect({ port: authPort, username: user, password: 'wrong', retryStrategy: () => null, maxRetriesPerRequest: 0 });
await expectError(wrong.ping(), 'invalid username-password pair');
const secured = connect({ port: authPort, username: user, password });
assert.equal(await secured.set('io:auth', 'yes'), 'OK');
assert.equal(await secured.get('io:auth'), 'yes');
check('auth');

assert.equal(await one.set('io:before', 'kept'), 'OK');
console.log('restart');
assert.equal((await lines.next()).value, 'restarted');
const deadline = Date.now() + 20000;
for (;;) { // bounded by the deadline
  try {
    assert.equal(await one.get('io:before'), 'kept');
    break;
  } catch (error) {
    if (Date.now() > deadline) throw error;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
check('reconnect');
console.log('done');
process.exit(0);
