import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Class, Type } from './constants.js';
import { decode, emptyMessage, encode, readName, type Message } from './message.js';
import { addressOfReverseName, formatIPv6, ipv6Bytes, reverseName } from './ip.js';
import { ErrorCodes, TwillError } from '../../util/errors.js';

function sample(): Message {
  const m = emptyMessage(0x1234);
  m.qr = true;
  m.aa = true;
  m.rd = true;
  m.questions.push({ name: 'web.default.svc.cluster.local.', type: Type.SRV, class: Class.IN });
  m.answers.push(
    { name: 'web.default.svc.cluster.local.', type: Type.A, class: 1, ttl: 5, data: '10.95.0.10' },
    { name: 'web.default.svc.cluster.local.', type: Type.AAAA, class: 1, ttl: 5, data: '2001:db8::a' },
    {
      name: '_http._tcp.web.default.svc.cluster.local.',
      type: Type.SRV,
      class: 1,
      ttl: 5,
      data: { priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local.' },
    },
    { name: 'x.cluster.local.', type: Type.TXT, class: 1, ttl: 5, data: ['1.1.0', ''] },
    { name: 'x.cluster.local.', type: Type.CNAME, class: 1, ttl: 5, data: 'example.org.' },
    { name: 'w\\.eird\\000.cluster.local.', type: 99, class: 1, ttl: 5, data: Buffer.from([1, 2, 3]) },
  );
  m.authority.push({
    name: 'cluster.local.',
    type: Type.SOA,
    class: 1,
    ttl: 5,
    data: {
      mname: 'ns.dns.cluster.local.',
      rname: 'hostmaster.cluster.local.',
      serial: 1,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: 5,
    },
  });
  m.edns = {
    udpSize: 1232,
    extRcode: 0,
    version: 0,
    dnssecOk: true,
    options: [{ code: 10, data: Buffer.alloc(8, 7) }],
  };
  return m;
}

test('a message survives encode and decode, names compressed', () => {
  const m = sample();
  const wire = encode(m);
  const back = decode(wire);
  assert.deepEqual(back, m);
  // Compression: "cluster.local" is spelt out once and pointed at thereafter.
  assert.equal(wire.toString('latin1').split('cluster').length - 1, 2); // question + SRV target (never compressed)
});

test('compression is case-insensitive, so owners take the case of the question they point at', () => {
  const m = sample();
  m.questions[0].name = 'WEB.default.svc.cluster.local.';
  const back = decode(encode(m));
  assert.equal(back.answers[0].name, 'WEB.default.svc.cluster.local.');
});

test('an rcode above 15 travels in the OPT record', () => {
  const m = sample();
  m.rcode = 16;
  const back = decode(encode(m));
  assert.equal(back.rcode, 16);
  assert.equal(back.edns?.extRcode, 1);
});

test('decompression refuses loops and forward pointers', () => {
  // Header with one question whose name is a pointer to itself.
  const self = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assert.throws(
    () => decode(self),
    (e: unknown) => e instanceof TwillError && e.code === ErrorCodes.DnsMalformed,
  );
  // Two labels pointing at each other.
  const buf = Buffer.from([1, 97, 0xc0, 4, 1, 98, 0xc0, 0]);
  assert.throws(() => readName(buf, 0), /does not point backwards/);
});

test('wrong counts, trailing octets, two OPTs are format errors', () => {
  const wire = encode(sample());
  const more = Buffer.from(wire);
  more.writeUInt16BE(200, 6);
  assert.throws(() => decode(more), /counts exceed|past the end/);
  assert.throws(() => decode(Buffer.concat([wire, Buffer.from([0])])), /trailing/);
  const m = emptyMessage(1);
  m.questions.push({ name: 'a.', type: 1, class: 1 });
  m.edns = { udpSize: 512, extRcode: 0, version: 0, dnssecOk: false, options: [] };
  const one = encode(m);
  const opt = one.subarray(one.length - 11);
  const two = Buffer.concat([one, opt]);
  two.writeUInt16BE(2, 10);
  assert.throws(() => decode(two), /more than one OPT/);
});

test('long labels and names are refused on write and read', () => {
  const m = emptyMessage(1);
  m.questions.push({ name: `${'a'.repeat(64)}.`, type: 1, class: 1 });
  assert.throws(() => encode(m), /63 octets/);
  m.questions[0].name = `${Array(130).fill('a').join('.')}.`;
  assert.throws(() => encode(m), /255 octets/);
});

test('reverse names for IPv4 and IPv6', () => {
  assert.equal(reverseName('10.95.0.10'), '10.0.95.10.in-addr.arpa.');
  const r6 = reverseName('2001:db8::a')!;
  assert.equal(r6, `a.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa.`);
  assert.equal(addressOfReverseName(r6), '2001:db8::a');
  assert.equal(addressOfReverseName('10.0.95.10.IN-ADDR.ARPA.'), '10.95.0.10');
  assert.equal(addressOfReverseName('0.95.10.in-addr.arpa.'), undefined);
  assert.equal(formatIPv6(ipv6Bytes('2001:0db8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(ipv6Bytes('::ffff:1.2.3.4')!), '::ffff:102:304');
});

test('the fast query reader agrees with decode, and declines what it does not handle', async () => {
  const { decodeSimpleQuery } = await import('./message.js');
  const names = ['web.default.svc.cluster.local.', 'A-b_c.x.', '.', 'x.'];
  for (const name of names) {
    for (const edns of [false, true]) {
      const m = emptyMessage(4242);
      m.rd = true;
      m.questions.push({ name, type: Type.AAAA, class: Class.IN });
      if (edns) m.edns = { udpSize: 4096, extRcode: 0, version: 0, dnssecOk: true, options: [] };
      const wire = encode(m);
      assert.deepEqual(decodeSimpleQuery(wire), decode(wire), name);
    }
  }
  const odd = emptyMessage(1);
  odd.questions.push({ name: 'we\\.ird.x.', type: 1, class: 1 });
  assert.equal(decodeSimpleQuery(encode(odd)), undefined);
  const opts = emptyMessage(1);
  opts.questions.push({ name: 'x.', type: 1, class: 1 });
  opts.edns = {
    udpSize: 512,
    extRcode: 0,
    version: 0,
    dnssecOk: false,
    options: [{ code: 10, data: Buffer.alloc(8) }],
  };
  assert.equal(decodeSimpleQuery(encode(opts)), undefined);
  assert.equal(decodeSimpleQuery(Buffer.concat([encode(odd), Buffer.from([0])])), undefined);
});
