import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  emptyShared,
  fullSyncText,
  mergeInto,
  partialSyncText,
  render,
  renderService,
  servicePortChainBase,
  type RenderConfig,
} from './render.js';
import { service, slice } from './testing.js';

// Golden files live beside the source (dist/src/services → src/services/testdata).
const testdata = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/services/testdata');

const cfg: RenderConfig = {
  family: 'ip',
  nodeName: 'node-1',
  nodeIPs: ['172.31.242.11', 'fd00:31::11'],
  clusterCIDRs: ['10.242.0.0/16', 'fd00:242::/48'],
  serviceCIDRs: ['10.92.0.0/16', 'fd00:92::/112'],
};

const services = [
  service(
    'ns1',
    'web',
    {
      type: 'LoadBalancer',
      clusterIP: '10.92.0.10',
      clusterIPs: ['10.92.0.10', 'fd00:92::a'],
      externalIPs: ['198.51.100.7'],
      sessionAffinity: 'ClientIP',
      externalTrafficPolicy: 'Local',
      loadBalancerSourceRanges: ['198.51.100.0/24'],
      ports: [
        { name: 'http', port: 80, nodePort: 30080 },
        { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
      ],
    },
    { lbIPs: ['203.0.113.1'] },
  ),
  service('ns1', 'empty', { clusterIP: '10.92.0.11', ports: [{ port: 80 }] }),
];
const slices = [
  slice(
    'ns1',
    'web',
    [
      { name: 'http', port: 8080 },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ],
    [
      { ip: '10.242.0.5', node: 'node-1' },
      { ip: '10.242.1.5', node: 'node-2' },
    ],
    { name: 'web-v4' },
  ),
  slice('ns1', 'web', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:242::5', node: 'node-1' }], {
    name: 'web-v6',
  }),
];

function golden(name: string, text: string) {
  const file = path.join(testdata, name);
  if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, text);
  assert.equal(
    text,
    fs.readFileSync(file, 'utf8'),
    `${name} differs (UPDATE_GOLDEN=1 rewrites it; review the diff)`,
  );
}

test('golden: a LoadBalancer with affinity, Local policy, source ranges, TCP+UDP; a service without endpoints (IPv4)', () => {
  golden('full-ip.nft', fullSyncText(render(services, slices, { ...cfg, family: 'ip' })));
});

test('golden: the same services, IPv6 family', () => {
  golden('full-ip6.nft', fullSyncText(render(services, slices, { ...cfg, family: 'ip6' })));
});

test('chain names follow kube-proxy: base32 hash, namespace/name/protocol/port', () => {
  assert.match(servicePortChainBase('ns1', 'web', 'http', 'TCP'), /^[A-Z2-7]{8}-ns1\/web\/tcp\/http$/);
  assert.notEqual(
    servicePortChainBase('ns1', 'web', 'http', 'TCP'),
    servicePortChainBase('ns1', 'web', 'http', 'UDP'),
  );
});

test('rendering does not depend on the order services and slices come in', () => {
  const a = fullSyncText(render(services, slices, cfg));
  const b = fullSyncText(render([...services].reverse(), [...slices].reverse(), cfg));
  assert.equal(a, b);
});

test('partial sync: one endpoint removed touches only its service, its chain and map elements', () => {
  const before = render(services, slices, cfg);
  const fewer = [
    slice(
      'ns1',
      'web',
      [
        { name: 'http', port: 8080 },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
      [{ ip: '10.242.0.5', node: 'node-1' }],
      { name: 'web-v4' },
    ),
    slices[1],
  ];
  const after = render(services, fewer, cfg);
  const { text, staleChains, staleSets } = partialSyncText(before, after);
  const lines = text.trim().split('\n');
  // The removed endpoint's chains are flushed now and deleted a sync later; its affinity sets too.
  assert.equal(staleChains.length, 2);
  assert.ok(staleChains.every((c) => c.startsWith('endpoint-') && c.includes('10.242.1.5')));
  assert.equal(staleSets.length, 2);
  for (const c of staleChains) assert.ok(lines.includes(`flush chain ip twill-services ${c}`));
  // Only the two service chains that dispatch are rewritten; nothing else.
  const flushed = lines.filter((l) => l.startsWith('flush chain')).map((l) => l.split(' ')[4]);
  assert.deepEqual(
    flushed.filter((c) => !staleChains.includes(c)).sort(),
    [
      `service-${servicePortChainBase('ns1', 'web', 'dns', 'udp')}`,
      `service-${servicePortChainBase('ns1', 'web', 'http', 'tcp')}`,
    ].sort(),
  );
  assert.ok(
    lines.every((l) => !l.includes('add chain') && !l.includes('add element')),
    text,
  );
  // The only elements that go are the endpoint's entries in its service's dispatch maps.
  const deleted = lines.filter((l) => l.includes('delete element'));
  assert.equal(deleted.length, 2, text);
  for (const l of deleted) {
    assert.match(l, /^delete element ip twill-services dispatch-service-\S+\/web\/(tcp|udp)\/\S+ \{ 1 \}$/);
  }
  // No change → an empty transaction.
  assert.equal(partialSyncText(after, render(services, fewer, cfg)).text, '');
});

test('partial sync: the last endpoint going moves the ClusterIP from service-ips to no-endpoint-services', () => {
  const svc = service('ns1', 'one', { clusterIP: '10.92.0.40', ports: [{ name: 'p', port: 80 }] });
  const before = render(
    [svc],
    [slice('ns1', 'one', [{ name: 'p', port: 8080 }], [{ ip: '10.242.0.5' }])],
    cfg,
  );
  const after = render([svc], [], cfg);
  const { text, staleChains, staleMaps } = partialSyncText(before, after);
  assert.equal(staleMaps.length, 1); // its dispatch map, deleted a sync later with the chains
  assert.match(text, /^delete element ip twill-services service-ips \{ 10\.92\.0\.40 \. tcp \. 80 \}$/m);
  assert.match(
    text,
    /^add element ip twill-services no-endpoint-services \{ 10\.92\.0\.40 \. tcp \. 80 : goto reject-chain \}$/m,
  );
  assert.equal(staleChains.length, 2); // service-… and endpoint-…
});

test('partial sync: a deleted service loses its map and cluster-ips elements; shared sets are never stale', () => {
  const svc = service('ns1', 'gone', { clusterIP: '10.92.0.41', ports: [{ name: 'p', port: 80 }] });
  const prev = { ...render([], [], cfg), ...emptyShared('ip'), chains: new Map() };
  mergeInto(prev, renderService(svc, [], cfg));
  const next = { ...render([], [], cfg), ...emptyShared('ip'), chains: new Map() };
  const { text, staleSets } = partialSyncText(prev, next);
  assert.match(text, /^delete element ip twill-services cluster-ips \{ 10\.92\.0\.41 \}$/m);
  assert.match(
    text,
    /^delete element ip twill-services no-endpoint-services \{ 10\.92\.0\.41 \. tcp \. 80 \}$/m,
  );
  assert.deepEqual(staleSets, []);
});
