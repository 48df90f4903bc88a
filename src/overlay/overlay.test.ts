import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../model/types.js';
import { networkAddress, ipInCIDR } from './backend.js';
import { checkBackend, remoteLeases, subnetEnv } from './component.js';
import { hostGwBackend, offSegment, planHostGw } from './hostgw.js';
import { Annotations, leaseAnnotations, leaseOfNode, type Lease } from './lease.js';
import { planVxlan, remoteVteps, vtepAddArgs, vtepMac } from './vxlan.js';
import { parseWgDump, planWgPeers, wireguardDevName } from './wireguard.js';

const lease = (name: string, cidr: string, ip: string, over: Partial<Lease> = {}): Lease => ({
  nodeName: name,
  podCIDRs: [cidr],
  publicIP: ip,
  backendType: 'vxlan',
  backendData: { VNI: 1, VtepMAC: vtepMac(ip) },
  ...over,
});

const node = (name: string, cidr: string | undefined, annotations?: Record<string, string>): KubeObject => ({
  metadata: { name, annotations },
  spec: cidr ? { podCIDR: cidr, podCIDRs: [cidr, 'fd00:10::/64'] } : {},
});

test('addresses: network address and membership', () => {
  assert.equal(networkAddress('10.241.3.0/24'), '10.241.3.0');
  assert.equal(networkAddress('172.31.241.77/24'), '172.31.241.0');
  assert.equal(networkAddress('10.241.3.9/32'), '10.241.3.9');
  assert.equal(ipInCIDR('172.31.241.12', '172.31.241.0/24'), true);
  assert.equal(ipInCIDR('172.31.240.12', '172.31.241.0/24'), false);
});

test('the VTEP MAC is stable, unicast and locally administered, from the underlay address', () => {
  assert.equal(vtepMac('172.31.241.11'), '0a:74:ac:1f:f1:0b');
  assert.equal(parseInt(vtepMac('10.0.0.1').slice(0, 2), 16) & 0b11, 0b10);
  assert.deepEqual(
    vtepAddArgs({
      name: 'twill.1',
      vni: 1,
      port: 4789,
      mac: 'm',
      mtu: 1450,
      local: '172.31.241.11',
      dev: 'eth0',
    }),
    'ip link add twill.1 address m mtu 1450 type vxlan id 1 local 172.31.241.11 dev eth0 dstport 4789 nolearning'.split(
      ' ',
    ),
  );
});

test('leases round-trip through Node annotations; nodes without podCIDR or lease are skipped', () => {
  const l = lease('node-2', '10.241.2.0/24', '172.31.241.12');
  const n = node('node-2', '10.241.2.0/24', leaseAnnotations(l));
  assert.deepEqual(leaseOfNode(n), l); // IPv6 podCIDR left out: the underlay is IPv4
  assert.equal(n.metadata.annotations![Annotations.backendData], '{"VNI":1,"VtepMAC":"0a:74:ac:1f:f1:0c"}');
  assert.equal(leaseOfNode(node('x', undefined, leaseAnnotations(l))), undefined);
  assert.equal(leaseOfNode(node('x', '10.241.9.0/24')), undefined);
  assert.equal(
    leaseOfNode(node('x', '10.241.9.0/24', { ...leaseAnnotations(l), [Annotations.backendData]: '{' })),
    undefined,
  );
  const deleting = node('node-2', '10.241.2.0/24', leaseAnnotations(l));
  deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
  assert.equal(leaseOfNode(deleting), undefined);
  const all = [
    node('node-1', '10.241.1.0/24', leaseAnnotations(lease('node-1', '10.241.1.0/24', '172.31.241.11'))),
    n,
  ];
  assert.deepEqual(remoteLeases(all, 'node-1'), [l]);
  assert.equal(subnetEnv(l, 1450), 'TWILL_SUBNET=10.241.2.0/24\nTWILL_MTU=1450\nTWILL_BACKEND=vxlan\n');
});

test('--backend names one of the three backends', () => {
  assert.equal(checkBackend(undefined), 'vxlan');
  assert.equal(checkBackend('host-gw'), 'host-gw');
  assert.throws(() => checkBackend('udp'), {
    code: 'TWILL_BAD_CONFIG',
    message: '--backend: expected one of vxlan, host-gw, wireguard, got "udp"',
  });
});

test('vxlan plan: FDB, neighbour and onlink route per remote node; nothing when already right', () => {
  const want = remoteVteps(
    [
      lease('node-2', '10.241.2.0/24', '172.31.241.12'),
      lease('node-3', '10.241.3.0/24', '172.31.241.13', { backendType: 'host-gw' }),
    ],
    1,
  );
  assert.equal(want.length, 1, 'only vxlan leases');
  const empty = planVxlan('twill.1', { neigh: [], fdb: [], routes: [] }, want);
  assert.deepEqual(empty.fdbAdd, [
    ['fdb', 'append', '0a:74:ac:1f:f1:0c', 'dev', 'twill.1', 'dst', '172.31.241.12', 'self', 'permanent'],
  ]);
  assert.deepEqual(empty.ip, [
    ['neigh', 'replace', '10.241.2.0', 'lladdr', '0a:74:ac:1f:f1:0c', 'dev', 'twill.1', 'nud', 'permanent'],
    ['route', 'replace', '10.241.2.0/24', 'via', '10.241.2.0', 'dev', 'twill.1', 'onlink', 'proto', '77'],
  ]);
  const done = {
    neigh: [{ dst: '10.241.2.0', lladdr: '0a:74:ac:1f:f1:0c' }],
    fdb: [{ mac: '0a:74:ac:1f:f1:0c', dst: '172.31.241.12' }],
    routes: [{ dst: '10.241.2.0/24', gateway: '10.241.2.0' }],
  };
  const again = planVxlan('twill.1', done, want);
  assert.deepEqual([again.ip, again.fdbAdd, again.fdbDel, again.added, again.removed], [[], [], [], 0, 0]);
  // The node left: route, neighbour and FDB entry go, the route first.
  const gone = planVxlan('twill.1', done, []);
  assert.deepEqual(gone.ip, [
    ['route', 'del', '10.241.2.0/24', 'dev', 'twill.1'],
    ['neigh', 'del', '10.241.2.0', 'dev', 'twill.1'],
  ]);
  assert.deepEqual(gone.fdbDel, [
    ['fdb', 'del', '0a:74:ac:1f:f1:0c', 'dev', 'twill.1', 'dst', '172.31.241.12'],
  ]);
  // The node came back at another underlay address: its FDB entry moves, nothing else changes.
  const moved = planVxlan(
    'twill.1',
    done,
    remoteVteps([lease('node-2', '10.241.2.0/24', '172.31.241.12', { publicIP: '172.31.241.99' })], 1),
  );
  assert.deepEqual(moved.fdbDel, [
    ['fdb', 'del', '0a:74:ac:1f:f1:0c', 'dev', 'twill.1', 'dst', '172.31.241.12'],
  ]);
  assert.deepEqual(moved.fdbAdd[0].slice(0, 7), [
    'fdb',
    'append',
    '0a:74:ac:1f:f1:0c',
    'dev',
    'twill.1',
    'dst',
    '172.31.241.99',
  ]);
  assert.deepEqual(moved.ip, []);
  // Another VNI is another network.
  assert.deepEqual(remoteVteps([lease('n', '10.241.2.0/24', '172.31.241.12')], 2), []);
});

test('host-gw: a route per remote podCIDR via its underlay IP; off-segment nodes refused', async () => {
  const remotes = [
    lease('node-2', '10.241.2.0/24', '172.31.241.12', { backendType: 'host-gw', backendData: null }),
  ];
  const plan = planHostGw(
    'eth0',
    [{ dst: '10.241.9.0/24', via: '172.31.241.19' }],
    [{ dst: '10.241.2.0/24', via: '172.31.241.12' }],
  );
  assert.deepEqual(plan.ip, [
    ['route', 'del', '10.241.9.0/24', 'proto', '77'],
    ['route', 'replace', '10.241.2.0/24', 'via', '172.31.241.12', 'dev', 'eth0', 'proto', '77'],
  ]);
  const underlay = { dev: 'eth0', ip: '172.31.241.11', prefixlen: 24, mtu: 1500 };
  assert.deepEqual(offSegment(underlay, remotes), []);
  const far = lease('node-9', '10.241.9.0/24', '198.51.100.9', { backendType: 'host-gw', backendData: null });
  assert.deepEqual(
    offSegment(underlay, [far]).map((r) => r.node),
    ['node-9'],
  );
  // Refused before it touches the kernel.
  await assert.rejects(
    hostGwBackend().registerNetwork(
      { nodeName: 'node-1', podCIDRs: ['10.241.1.0/24'], underlay, dataDir: '/nonexistent' },
      [...remotes, far],
    ),
    {
      code: 'TWILL_OVERLAY_NOT_ONE_SEGMENT',
      message:
        "host-gw: node node-9 (198.51.100.9) is not on this node's L2 segment 172.31.241.0/24 (eth0); host-gw needs every node on one segment: use --backend vxlan",
    },
  );
});

test('wireguard: dump parsing and peer plans', () => {
  const dump =
    'cHJpdg==\tUFVC1=\t51820\toff\n' +
    'QUFB=\t(none)\t172.31.239.12:51820\t10.241.2.0/24\t1700000000\t92\t180\t0\n' +
    'QkJC=\t(none)\t(none)\t(none)\t0\t0\t0\t0\n';
  const d = parseWgDump(dump);
  assert.equal(d.port, 51820);
  assert.deepEqual(d.peers, [
    { publicKey: 'QUFB=', endpoint: '172.31.239.12:51820', allowedIPs: ['10.241.2.0/24'] },
    { publicKey: 'QkJC=', endpoint: '', allowedIPs: [] },
  ]);
  assert.deepEqual(
    planWgPeers(d.peers, [
      { publicKey: 'QUFB=', endpoint: '172.31.239.12:51820', allowedIPs: ['10.241.2.0/24'] },
    ]),
    ['peer', 'QkJC=', 'remove'],
  );
  assert.deepEqual(
    planWgPeers([], [{ publicKey: 'Q0ND=', endpoint: '172.31.239.13:51820', allowedIPs: ['10.241.3.0/24'] }]),
    ['peer', 'Q0ND=', 'endpoint', '172.31.239.13:51820', 'allowed-ips', '10.241.3.0/24'],
  );
  assert.match(wireguardDevName('node-1', 'twill-ovl3-node-1'), /^twg[0-9a-f]{8}$/);
  assert.notEqual(
    wireguardDevName('node-1', 'twill-ovl3-node-1'),
    wireguardDevName('node-1', 'twill-ovl4-node-1'),
  );
});

test('ipMasq: pod to pod returns first, then pod egress is masqueraded; one table of our own', async () => {
  const { renderMasq } = await import('./masq.js');
  assert.equal(
    renderMasq({ podCIDRs: ['10.241.1.0/24', 'fd00::/64'], clusterCIDRs: ['10.241.0.0/16', 'fd00::/48'] }),
    [
      'add table ip twill-overlay',
      'flush table ip twill-overlay',
      'table ip twill-overlay {',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      '    ip saddr 10.241.0.0/16 ip daddr 10.241.0.0/16 return comment "pod to pod: never masqueraded"',
      '    ip saddr 10.241.1.0/24 ip daddr != 224.0.0.0/4 masquerade fully-random comment "pod egress leaves as the node"',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  assert.match(
    renderMasq({ podCIDRs: ['10.241.1.0/24'], clusterCIDRs: ['10.241.2.0/24', '10.241.1.0/24'] }),
    /ip saddr \{ 10\.241\.1\.0\/24, 10\.241\.2\.0\/24 \} ip daddr \{ 10\.241\.1\.0\/24, 10\.241\.2\.0\/24 \} return/,
  );
});
