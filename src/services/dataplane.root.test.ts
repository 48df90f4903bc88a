/**
 * The rendered rules in a real kernel, both families: a client namespace and a server namespace routed through
 * a node namespace that holds `ip twill-services` and `ip6 twill-services`, and TCP connections from the
 * client to a dual-stack Service's ClusterIPs (IPv4 and IPv6) and NodePort, answered by the server's
 * endpoints. No API: the renderer's output is applied as the proxier would apply it.
 *
 *   tws-dc (client)  10.245.1.2, fd00:245:1::2  ─ veth ─  tws-dn (node)  ─ veth ─  tws-ds (server)
 *                                                   10.245.1.1 / .2.1          10.245.2.2-3, fd00:245:2::2-3
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { netnsAdd, netnsDelete, netnsExec } from '../linux/netns.js';
import { ipBatch } from '../linux/exec.js';
import { nftApply } from '../linux/nft.js';
import { fullSyncText, render, type Family, type RenderConfig } from './render.js';
import { tableOf } from './proxier.js';
import { service, slice } from './testing.js';

const NODE = 'tws-dn';
const CLIENT = 'tws-dc';
const SERVER = 'tws-ds';
let server: ChildProcess | undefined;

before(async () => {
  for (const ns of [NODE, CLIENT, SERVER]) {
    await netnsDelete(ns);
    await netnsAdd(ns);
  }
  await ipBatch(
    [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', 'dn-c', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLIENT],
      ['link', 'add', 'dn-s', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', SERVER],
      ['addr', 'add', '10.245.1.1/24', 'dev', 'dn-c'],
      ['addr', 'add', 'fd00:245:1::1/64', 'dev', 'dn-c', 'nodad'],
      ['addr', 'add', '10.245.2.1/24', 'dev', 'dn-s'],
      ['addr', 'add', 'fd00:245:2::1/64', 'dev', 'dn-s', 'nodad'],
      ['link', 'set', 'dn-c', 'up'],
      ['link', 'set', 'dn-s', 'up'],
      ['route', 'add', '10.95.0.0/16', 'dev', 'dn-s'],
      ['route', 'add', 'fd00:95::/112', 'dev', 'dn-s'],
    ],
    { netns: NODE },
  );
  await netnsExec(NODE, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  await ipBatch(
    [
      ['link', 'set', 'lo', 'up'],
      ['addr', 'add', '10.245.1.2/24', 'dev', 'eth0'],
      ['addr', 'add', 'fd00:245:1::2/64', 'dev', 'eth0', 'nodad'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'add', 'default', 'via', '10.245.1.1'],
      ['route', 'add', 'default', 'via', 'fd00:245:1::1'],
    ],
    { netns: CLIENT },
  );
  await ipBatch(
    [
      ['link', 'set', 'lo', 'up'],
      ['addr', 'add', '10.245.2.2/24', 'dev', 'eth0'],
      ['addr', 'add', '10.245.2.3/24', 'dev', 'eth0'],
      ['addr', 'add', 'fd00:245:2::2/64', 'dev', 'eth0', 'nodad'],
      ['addr', 'add', 'fd00:245:2::3/64', 'dev', 'eth0', 'nodad'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'add', 'default', 'via', '10.245.2.1'],
      ['route', 'add', 'default', 'via', 'fd00:245:2::1'],
    ],
    { netns: SERVER },
  );
  // A server that answers each connection with the address it was reached on and the client's address.
  server = spawn(
    'ip',
    [
      'netns',
      'exec',
      SERVER,
      process.execPath,
      '-e',
      "require('node:net').createServer((s) => s.end(s.localAddress + ' ' + s.remoteAddress + '\\n')).listen(8080, '::')",
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    if ((await netnsExec(SERVER, ['ss', '-Hltn'])).includes(':8080')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Link-local addresses finish duplicate address detection a moment after the links come up; until then
  // neighbour discovery, and so the first IPv6 packets, fail. Reach every endpoint directly first.
  for (const ip of ['10.245.2.2', '10.245.2.3', 'fd00:245:2::2', 'fd00:245:2::3']) {
    for (let i = 0; i < 50; i++) {
      const [answer] = await ask(ip, 8080, 1);
      if (answer.includes(ip)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const web = service('ns1', 'web', {
    type: 'NodePort',
    clusterIP: '10.95.0.10',
    clusterIPs: ['10.95.0.10', 'fd00:95::a'],
    ipFamilies: ['IPv4', 'IPv6'],
    ports: [{ name: 'http', port: 80, nodePort: 30080 }],
  });
  const slices = [
    slice('ns1', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.245.2.2' }, { ip: '10.245.2.3' }], {
      name: 'web-4',
    }),
    slice('ns1', 'web', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:245:2::2' }, { ip: 'fd00:245:2::3' }], {
      name: 'web-6',
    }),
  ];
  for (const family of ['ip', 'ip6'] as Family[]) {
    const cfg: RenderConfig = {
      family,
      nodeName: 'node-1',
      nodeIPs: ['10.245.1.1', 'fd00:245:1::1'],
      clusterCIDRs: ['10.245.0.0/16', 'fd00:245::/32'],
      serviceCIDRs: ['10.95.0.0/16', 'fd00:95::/112'],
    };
    await nftApply(fullSyncText(render([web], slices, cfg)), { tables: [tableOf(family)], netns: NODE });
  }
});

after(async () => {
  server?.kill('SIGTERM');
  for (const ns of [CLIENT, SERVER, NODE]) await netnsDelete(ns);
});

/** n connections from the client namespace to host:port; what the server said each time. */
async function ask(host: string, port: number, n: number): Promise<string[]> {
  const script = `
    const net = require('node:net');
    const one = () => new Promise((resolve) => {
      let b = '';
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} });
      s.setTimeout(2000, () => { s.destroy(); resolve('TIMEOUT'); });
      s.on('data', (d) => (b += d));
      s.on('end', () => resolve(b.trim()));
      s.on('error', (e) => resolve(e.code));
    });
    (async () => { const out = []; for (let i = 0; i < ${n}; i++) out.push(await one()); console.log(JSON.stringify(out)); })();
  `;
  return JSON.parse(await netnsExec(CLIENT, [process.execPath, '-e', script])) as string[];
}

test('IPv4 ClusterIP: both endpoints answer, the client keeps its address', async () => {
  const out = await ask('10.95.0.10', 80, 20);
  const locals = new Set(out.map((l) => l.split(' ')[0].replace('::ffff:', '')));
  assert.deepEqual([...locals].sort(), ['10.245.2.2', '10.245.2.3'], JSON.stringify(out));
  for (const l of out) assert.equal(l.split(' ')[1].replace('::ffff:', ''), '10.245.1.2');
});

test('IPv6 ClusterIP of the same dual-stack Service: both IPv6 endpoints answer', async () => {
  const out = await ask('fd00:95::a', 80, 20);
  const locals = new Set(out.map((l) => l.split(' ')[0]));
  assert.deepEqual([...locals].sort(), ['fd00:245:2::2', 'fd00:245:2::3'], JSON.stringify(out));
  for (const l of out) assert.equal(l.split(' ')[1], 'fd00:245:1::2');
});

test('NodePort on the node’s IPv4 and IPv6 addresses, masqueraded', async () => {
  for (const [host, nodeSide] of [
    ['10.245.1.1', '10.245.2.1'],
    ['fd00:245:1::1', 'fd00:245:2::1'],
  ]) {
    const out = await ask(host, 30080, 4);
    for (const l of out) assert.equal(l.split(' ')[1].replace('::ffff:', ''), nodeSide, `${host}: ${l}`);
  }
});

test('an undefined port on either ClusterIP is refused', async () => {
  assert.deepEqual(await ask('10.95.0.10', 81, 1), ['ECONNREFUSED']);
  assert.deepEqual(await ask('fd00:95::a', 81, 1), ['ECONNREFUSED']);
});
