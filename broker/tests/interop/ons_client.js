// Drives RingMQ with the npm `ali-ons` client (pure JavaScript, RocketMQ
// remoting protocol), for broker/tests/interop/ons.rs. Prints one JSON
// object on stdout.
//
//   node ons_client.js produce <namesrv> <topic> <prefix>
//   node ons_client.js consume <namesrv> <topic> <group> <tags> <count> <timeout_s>
'use strict';

const httpclient = require('urllib');
const { Producer, Consumer, Message } = require('ali-ons');

// Logs go to stderr: stdout carries the JSON result only.
const logger = {
  info() {}, debug() {}, log() {},
  warn(...a) { console.error('[warn]', ...a); },
  error(...a) { console.error('[error]', ...a); },
};

const common = ns => ({
  httpclient,
  logger,
  accessKeyId: 'ringmq',
  accessKeySecret: 'ringmq',
  nameSrv: [ ns ],
});

async function produce(ns, topic, prefix) {
  const p = new Producer({ ...common(ns), producerGroup: 'ons-pg-' + prefix });
  await p.ready();
  const sent = [];
  const one = async (tag, body, extra) => {
    const m = new Message(topic, tag, body);
    m.keys = [ 'k-' + body ];
    if (extra) extra(m);
    const before = Date.now();
    const r = await p.send(m);
    sent.push({ body, tag, status: r.sendStatus, id: r.msgId, queue: r.messageQueue.queueId, broker: r.messageQueue.brokerName, before_ms: before });
  };
  for (let i = 0; i < 6; i++) await one(i % 2 === 0 ? 'TA' : 'TB', `${prefix}-sync-${i}`);
  // ali-ons 3.12 maps a sharding key to a queue id (md5 % queue ids) and
  // ignores the key when that id is 0: pick a key that maps elsewhere.
  const crypto = require('crypto');
  let key = 0;
  while (crypto.createHash('md5').update('order-' + key).digest().readUInt32BE() % 4 === 0) key++;
  for (let i = 0; i < 4; i++) await one('TA', `${prefix}-order-${i}`, m => { m.shardingKey = 'order-' + key; });
  await one('TA', `${prefix}-delay`, m => { m.delayTimeLevel = 2; });
  await one('TA', `${prefix}-retry`);
  await p.close();
  console.log(JSON.stringify({ sent }));
}

async function consume(ns, topic, group, tags, count, timeoutS) {
  const c = new Consumer({
    ...common(ns),
    consumerGroup: group,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    persistent: true,
  });
  const got = [];
  c.subscribe(topic, tags, async msg => {
    const body = msg.body.toString();
    got.push({ body, tag: msg.tags, reconsume: msg.reconsumeTimes, at_ms: Date.now() });
    // The first delivery of a `-retry` message is handed back.
    if (body.endsWith('-retry') && msg.reconsumeTimes === 0) return Consumer.ACTION_RETRY;
  });
  c.on('error', err => console.error('[consumer error]', err && err.message));
  await c.ready();
  const deadline = Date.now() + timeoutS * 1000;
  while (got.length < count && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 100));
  }
  // Time for a duplicate to show.
  await new Promise(r => setTimeout(r, 2000));
  await c.close();
  console.log(JSON.stringify({ got }));
}

const [ cmd, ...args ] = process.argv.slice(2);
const run = cmd === 'produce'
  ? produce(args[0], args[1], args[2])
  : consume(args[0], args[1], args[2], args[3], Number(args[4]), Number(args[5]));
run.then(() => process.exit(0), err => { console.error(err); process.exit(1); });
