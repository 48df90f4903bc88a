/**
 * The DNS server for real: a control plane in this process (SQLite, port 0), twill's DNS on 127.0.0.1:0 fed by
 * it through informers, and the real `dig` asking. Every record form of the spec, negative answers, TCP, EDNS,
 * case, truncation, the RFC error codes, and garbage that must not stop it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { query } from './client.js';
import { startTestControlPlane, eventually, type TestControlPlane } from '../cli/testing.js';
import { Resources } from '../client/rest.js';
import { startDns, type DnsService } from './service.js';
import { dig } from './testing.js';
import { mutations } from './codec/fuzz.js';
import { emptyMessage, encode, decode } from './codec/message.js';
import { Type } from './codec/constants.js';

process.env.TWILL_LOG_LEVEL ??= 'warn';

const COREFILE = `cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
    }
}
`;

let tcp: TestControlPlane;
let dns: DnsService;
const host = '127.0.0.1';
const q = (...args: string[]) => dig(host, dns.port, args);

before(async () => {
  tcp = await startTestControlPlane('twd-dns-');
  const c = tcp.client;
  await c.create(Resources.namespaces, undefined, { metadata: { name: 'dns1' } });
  await c.create(Resources.services, 'dns1', {
    metadata: { name: 'web' },
    spec: {
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    },
  });
  await c.create(Resources.services, 'dns1', {
    metadata: { name: 'db' },
    spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] },
  });
  await c.create(Resources.endpointslices, 'dns1', {
    metadata: { name: 'db-a', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.245.1.7'], hostname: 'db-0', conditions: { ready: true } },
      { addresses: ['10.245.1.8'], conditions: { ready: true } },
      { addresses: ['10.245.1.9'], conditions: { ready: false } },
    ],
    ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
  });
  await c.create(Resources.endpointslices, 'dns1', {
    metadata: { name: 'db-b', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv6',
    endpoints: [{ addresses: ['2001:db8::7'], hostname: 'db-0', conditions: { ready: true } }],
    ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
  });
  await c.create(Resources.services, 'dns1', {
    metadata: { name: 'ext' },
    spec: { type: 'ExternalName', externalName: 'www.example.org' },
  });
  // A headless Service with enough endpoints that the answer does not fit in 512 octets.
  await c.create(Resources.services, 'dns1', { metadata: { name: 'big' }, spec: { clusterIP: 'None' } });
  await c.create(Resources.endpointslices, 'dns1', {
    metadata: { name: 'big-a', labels: { 'kubernetes.io/service-name': 'big' } },
    addressType: 'IPv4',
    endpoints: Array.from({ length: 60 }, (_, i) => ({
      addresses: [`10.245.2.${i + 1}`],
      conditions: { ready: true },
    })),
    ports: [],
  });
  dns = await startDns({ listen: `${host}:0`, corefile: COREFILE, client: c });
});

after(async () => {
  await dns?.stop();
  await tcp?.stop();
});

async function webIP(): Promise<string> {
  const svc = (await tcp.client.get(Resources.services, 'dns1', 'web')) as unknown as {
    spec: { clusterIP: string };
  };
  return svc.spec.clusterIP;
}

test('A for a ClusterIP Service, authoritative, in the case the question used', async () => {
  const ip = await webIP();
  const r = await q('web.dns1.svc.cluster.local', 'A');
  assert.equal(r.status, 'NOERROR');
  assert.ok(r.flags.includes('aa'), r.raw);
  assert.deepEqual(r.answer, [`web.dns1.svc.cluster.local. 5 IN A ${ip}`]);
  const up = await q('WeB.DNS1.svc.Cluster.Local', 'A');
  assert.deepEqual(up.answer, [`WeB.DNS1.svc.Cluster.Local. 5 IN A ${ip}`]);
});

test('SRV for named ports, with the target in the additional section', async () => {
  const ip = await webIP();
  const r = await q('_http._tcp.web.dns1.svc.cluster.local', 'SRV');
  assert.deepEqual(r.answer, [
    '_http._tcp.web.dns1.svc.cluster.local. 5 IN SRV 0 100 80 web.dns1.svc.cluster.local.',
  ]);
  assert.ok(r.additional.includes(`web.dns1.svc.cluster.local. 5 IN A ${ip}`), r.raw);
  const udp = await q('_dns._udp.web.dns1.svc.cluster.local', 'SRV');
  assert.equal(udp.answer.length, 1);
  const hs = await q('_pg._tcp.db.dns1.svc.cluster.local', 'SRV');
  assert.deepEqual(hs.answer.map((l) => l.split(' ').slice(4).join(' ')).sort(), [
    '0 33 5432 10-245-1-8.db.dns1.svc.cluster.local.',
    '0 33 5432 db-0.db.dns1.svc.cluster.local.',
    '0 33 5432 db-0.db.dns1.svc.cluster.local.',
  ]);
});

test('headless Services: one record per ready endpoint, hostname records, both families', async () => {
  const a = await q('db.dns1.svc.cluster.local', 'A');
  assert.deepEqual(a.answer.map((l) => l.split(' ')[4]).sort(), ['10.245.1.7', '10.245.1.8']);
  const aaaa = await q('db.dns1.svc.cluster.local', 'AAAA');
  assert.deepEqual(aaaa.answer, ['db.dns1.svc.cluster.local. 5 IN AAAA 2001:db8::7']);
  assert.deepEqual((await q('db-0.db.dns1.svc.cluster.local', 'A')).answer, [
    'db-0.db.dns1.svc.cluster.local. 5 IN A 10.245.1.7',
  ]);
  assert.equal((await q('10-245-1-9.db.dns1.svc.cluster.local', 'A')).status, 'NXDOMAIN');
});

test('publishNotReadyAddresses brings not-ready endpoints in, within moments of the change', async () => {
  await tcp.client.patch(
    Resources.services,
    'dns1',
    'db',
    { spec: { publishNotReadyAddresses: true } },
    'merge',
  );
  await eventually('not-ready endpoint published', async () => {
    const a = await q('db.dns1.svc.cluster.local', 'A');
    return a.answer.length === 3 ? true : undefined;
  });
  await tcp.client.patch(
    Resources.services,
    'dns1',
    'db',
    { spec: { publishNotReadyAddresses: false } },
    'merge',
  );
});

test('PTR for ClusterIPs and endpoints, IPv4 and IPv6', async () => {
  const ip = await webIP();
  assert.deepEqual(
    (await q('-x', ip)).answer.map((l) => l.split(' ').slice(3).join(' ')),
    ['PTR web.dns1.svc.cluster.local.'],
  );
  assert.deepEqual(
    (await q('-x', '10.245.1.7')).answer.map((l) => l.split(' ')[4]),
    ['db-0.db.dns1.svc.cluster.local.'],
  );
  assert.deepEqual(
    (await q('-x', '2001:db8::7')).answer.map((l) => l.split(' ')[4]),
    ['db-0.db.dns1.svc.cluster.local.'],
  );
  assert.equal((await q('-x', '198.51.100.1')).status, 'NXDOMAIN');
});

test('ExternalName is a CNAME; dns-version; SOA and NS; pods insecure', async () => {
  assert.deepEqual((await q('ext.dns1.svc.cluster.local', 'A')).answer, [
    'ext.dns1.svc.cluster.local. 5 IN CNAME www.example.org.',
  ]);
  assert.deepEqual((await q('dns-version.cluster.local', 'TXT')).answer, [
    'dns-version.cluster.local. 5 IN TXT "1.1.0"',
  ]);
  const soa = await q('cluster.local', 'SOA');
  assert.match(
    soa.answer[0],
    /^cluster\.local\. 5 IN SOA ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5$/,
  );
  assert.deepEqual((await q('cluster.local', 'NS')).answer, ['cluster.local. 5 IN NS ns.dns.cluster.local.']);
  assert.deepEqual((await q('10-245-3-4.dns1.pod.cluster.local', 'A')).answer, [
    '10-245-3-4.dns1.pod.cluster.local. 5 IN A 10.245.3.4',
  ]);
});

test('NXDOMAIN and NODATA carry the SOA in the authority section', async () => {
  const nx = await q('nope.dns1.svc.cluster.local', 'A');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.match(nx.authority[0], /^cluster\.local\. 5 IN SOA /);
  const nodata = await q('web.dns1.svc.cluster.local', 'TXT');
  assert.equal(nodata.status, 'NOERROR');
  assert.equal(nodata.answer.length, 0);
  assert.match(nodata.authority[0], /IN SOA/);
  assert.equal((await q('dns1.svc.cluster.local', 'A')).status, 'NOERROR');
  assert.equal((await q('nons.svc.cluster.local', 'A')).status, 'NXDOMAIN');
});

test('TCP, EDNS, and truncation over UDP', async () => {
  const ip = await webIP();
  assert.deepEqual((await q('+tcp', 'web.dns1.svc.cluster.local')).answer, [
    `web.dns1.svc.cluster.local. 5 IN A ${ip}`,
  ]);
  const e = await q('+bufsize=4096', 'web.dns1.svc.cluster.local');
  assert.match(e.edns ?? '', /version: 0, flags:; udp: 1232/);
  assert.match(
    (await q('+dnssec', 'web.dns1.svc.cluster.local')).edns ?? '',
    /flags: do;/,
    'DO copied (RFC 3225)',
  );
  const plain = await q('+noedns', 'web.dns1.svc.cluster.local');
  assert.equal(plain.edns, undefined);
  // 60 A records are ~1000 octets: over 512 without EDNS, TC and nothing else.
  const tc = await q('+noedns', '+ignore', 'big.dns1.svc.cluster.local');
  assert.ok(tc.flags.includes('tc'), tc.raw);
  assert.equal(tc.answer.length, 0);
  // dig retries over TCP by itself and gets all of them.
  assert.equal((await q('+noedns', 'big.dns1.svc.cluster.local')).answer.length, 60);
  // With EDNS 1232 they fit over UDP.
  assert.equal((await q('+bufsize=1232', '+ignore', 'big.dns1.svc.cluster.local')).answer.length, 60);
});

test('FORMERR, NOTIMP, BADVERS and REFUSED where the RFCs call for them', async () => {
  assert.equal((await q('+opcode=2', 'web.dns1.svc.cluster.local')).status, 'NOTIMP');
  assert.equal((await q('+edns=1', '+noednsneg', 'web.dns1.svc.cluster.local')).status, 'BADVERS');
  assert.equal((await q('example.org', 'A')).status, 'REFUSED');
  assert.equal((await q('cluster.local', 'AXFR', '+tcp')).raw.includes('Transfer failed'), true);
  const r = await rawQuery(Buffer.from([0xab, 0xcd, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 97, 0, 0, 1, 0, 1]));
  assert.ok(r, 'an answer to a packet with wrong counts');
  assert.equal(r.readUInt16BE(0), 0xabcd);
  assert.equal(r.readUInt16BE(2) & 0xf, 1, 'FORMERR');
});

function rawQuery(b: Buffer, timeoutMs = 1000): Promise<Buffer | undefined> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(b, dns.port, host);
  });
}

test('garbage never stops the server: 3,000 mutated packets, then it still answers', async () => {
  const s = dgram.createSocket('udp4');
  let formerr = 0;
  s.on('message', (m) => {
    if (m.length >= 4 && (m.readUInt16BE(2) & 0xf) === 1) formerr++;
  });
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const packets = mutations(3000, 42);
  for (let i = 0; i < packets.length; i++) {
    s.send(packets[i], dns.port, host);
    if (i % 200 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 300));
  s.close();
  assert.ok(formerr > 100, `FORMERR answers: ${formerr}`);
  const m = emptyMessage(9);
  m.questions.push({ name: 'web.dns1.svc.cluster.local.', type: Type.A, class: 1 });
  const ans = await rawQuery(encode(m));
  assert.ok(ans);
  assert.equal(decode(ans).answers.length, 1);
});

test('garbage over TCP: framed mutations get FORMERR, a lying length prefix is dropped, others still answered', async () => {
  const s = net.connect({ host, port: dns.port });
  await new Promise<void>((r) => s.once('connect', () => r()));
  let answers = 0;
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      answers++;
      buf = buf.subarray(2 + buf.readUInt16BE(0));
    }
  });
  const packets = mutations(500, 7).filter((p) => p.length >= 12 && !(p[2] & 0x80));
  for (const p of packets) {
    const f = Buffer.alloc(2 + p.length);
    f.writeUInt16BE(p.length, 0);
    p.copy(f, 2);
    s.write(f);
  }
  await eventually(
    'answers to every framed query',
    async () => (answers === packets.length ? true : undefined),
    5000,
  );
  // A frame that promises 65535 octets and never sends them: the server waits, and answers others meanwhile.
  s.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  const ok = await query(host, dns.port, 'web.dns1.svc.cluster.local', 'A', { tcp: true });
  assert.equal(ok.answers.length, 1);
  s.destroy();
});

test('a new Service resolves moments after the API accepts it', async () => {
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = Date.now();
    await tcp.client.create(Resources.services, 'dns1', {
      metadata: { name: `new${i}` },
      spec: { ports: [{ port: 80 }] },
    });
    const created = Date.now();
    await eventually(
      `new${i} resolves`,
      async () => {
        const m = emptyMessage(i);
        m.questions.push({ name: `new${i}.dns1.svc.cluster.local.`, type: Type.A, class: 1 });
        const ans = await rawQuery(encode(m), 200);
        return ans && decode(ans).answers.length === 1 ? true : undefined;
      },
      5000,
    );
    delays.push(Date.now() - created);
    void start;
  }
  delays.sort((a, b) => a - b);
  process.stderr.write(`# service created → name resolves: ${delays.join(', ')} ms\n`);
  // The goal is 100 ms; a loaded 2-core machine gets a margin, the figure is printed above.
  assert.ok(delays[2] < 500, `median ${delays[2]} ms`);
});
