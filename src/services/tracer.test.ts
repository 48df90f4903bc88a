import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullSyncText, render, type RenderConfig } from './render.js';
import { Tracer, type TraceOptions } from './tracer.js';
import { service, slice } from './testing.js';
import type { KubeObject } from '../model/types.js';

const NODE_IP = '172.31.242.11';
const cfg: RenderConfig = {
  family: 'ip',
  nodeName: 'node-1',
  nodeIPs: [NODE_IP],
  clusterCIDRs: ['10.242.0.0/16'],
  serviceCIDRs: ['10.92.0.0/16'],
};
const POD = '10.242.0.20'; // a client pod on node-1
const OUTSIDE = '198.51.100.9'; // a client outside the cluster

function tracer(services: KubeObject[], slices: KubeObject[], opts: Partial<TraceOptions> = {}, c = cfg) {
  return new Tracer(fullSyncText(render(services, slices, c)), {
    localAddrs: [NODE_IP, '10.242.0.1'],
    ...opts,
  });
}

const web = service('ns1', 'web', { clusterIP: '10.92.0.10', ports: [{ name: 'http', port: 80 }] });
const webSlice = slice(
  'ns1',
  'web',
  [{ name: 'http', port: 8080 }],
  [{ ip: '10.242.0.5' }, { ip: '10.242.0.6' }, { ip: '10.242.1.7', node: 'node-2' }],
);

test('ClusterIP: numgen spreads new connections over every ready endpoint; pod clients keep their address', () => {
  const seen = new Set<string>();
  for (let n = 0; n < 3; n++) {
    const r = tracer([web], [webSlice], { numgen: n }).trace({
      src: POD,
      dst: '10.92.0.10',
      proto: 'tcp',
      dport: 80,
    });
    assert.equal(r.verdict, 'accept');
    assert.equal(r.dnat?.port, 8080);
    assert.equal(r.masquerade, false);
    seen.add(r.dnat!.ip);
  }
  assert.deepEqual([...seen].sort(), ['10.242.0.5', '10.242.0.6', '10.242.1.7']);
});

test('ClusterIP from the node itself (outside the pod range) is masqueraded', () => {
  const r = tracer([web], [webSlice]).trace({
    src: NODE_IP,
    dst: '10.92.0.10',
    proto: 'tcp',
    dport: 80,
    origin: 'local',
  });
  assert.equal(r.dnat?.ip, '10.242.0.5');
  assert.equal(r.masquerade, true);
});

test('an established packet does not go through NAT chains again', () => {
  const r = tracer([web], [webSlice]).trace({
    src: POD,
    dst: '10.92.0.10',
    proto: 'tcp',
    dport: 80,
    ctState: 'established',
  });
  assert.equal(r.verdict, 'accept');
  assert.equal(r.dnat, undefined);
});

test('multiple ports and named targetPorts: each service port reaches its own endpoint port', () => {
  const svc = service('ns1', 'multi', {
    clusterIP: '10.92.0.11',
    ports: [
      { name: 'http', port: 80 },
      { name: 'metrics', port: 9100 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ],
  });
  const sl = slice(
    'ns1',
    'multi',
    [
      { name: 'http', port: 8080 },
      { name: 'metrics', port: 9090 },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ],
    [{ ip: '10.242.0.5' }],
  );
  const t = tracer([svc], [sl]);
  assert.deepEqual(t.trace({ src: POD, dst: '10.92.0.11', proto: 'tcp', dport: 80 }).dnat, {
    ip: '10.242.0.5',
    port: 8080,
  });
  assert.deepEqual(t.trace({ src: POD, dst: '10.92.0.11', proto: 'tcp', dport: 9100 }).dnat, {
    ip: '10.242.0.5',
    port: 9090,
  });
  assert.deepEqual(t.trace({ src: POD, dst: '10.92.0.11', proto: 'udp', dport: 53 }).dnat, {
    ip: '10.242.0.5',
    port: 5353,
  });
  // A port the service does not define is rejected, not left to time out; so is the wrong protocol.
  const undef = t.trace({ src: POD, dst: '10.92.0.11', proto: 'tcp', dport: 81 });
  assert.deepEqual([undef.verdict, undef.reject, undef.dnat], ['reject', 'icmp', undefined]);
  assert.equal(t.trace({ src: POD, dst: '10.92.0.11', proto: 'udp', dport: 80 }).verdict, 'reject');
  // An address in the service range that no service holds is dropped.
  assert.equal(t.trace({ src: POD, dst: '10.92.0.99', proto: 'tcp', dport: 80 }).verdict, 'drop');
});

test('a service without endpoints rejects at once: TCP reset, ICMP for UDP', () => {
  const svc = service('ns1', 'empty', {
    clusterIP: '10.92.0.12',
    ports: [
      { name: 'a', port: 80 },
      { name: 'b', port: 53, protocol: 'UDP' },
    ],
  });
  const t = tracer([svc], []);
  const r = t.trace({ src: POD, dst: '10.92.0.12', proto: 'tcp', dport: 80 });
  assert.deepEqual([r.verdict, r.reject], ['reject', 'tcp reset']);
  const u = t.trace({ src: POD, dst: '10.92.0.12', proto: 'udp', dport: 53 });
  assert.deepEqual([u.verdict, u.reject], ['reject', 'icmp']);
  // Endpoints that are neither ready nor serving-and-terminating do not count.
  const notReady = slice('ns1', 'empty', [{ name: 'a', port: 8080 }], [{ ip: '10.242.0.5', ready: false }]);
  assert.equal(
    tracer([svc], [notReady]).trace({ src: POD, dst: '10.92.0.12', proto: 'tcp', dport: 80 }).verdict,
    'reject',
  );
});

const np = service('ns1', 'np', {
  type: 'NodePort',
  clusterIP: '10.92.0.13',
  ports: [{ name: 'http', port: 80, nodePort: 30080 }],
});
const npSlice = slice('ns1', 'np', [{ name: 'http', port: 8080 }], [{ ip: '10.242.1.7', node: 'node-2' }]);

test('NodePort on the node’s address: DNAT to an endpoint anywhere, masqueraded (Cluster policy)', () => {
  const t = tracer([np], [npSlice]);
  const r = t.trace({ src: OUTSIDE, dst: NODE_IP, proto: 'tcp', dport: 30080 });
  assert.deepEqual(r.dnat, { ip: '10.242.1.7', port: 8080 });
  assert.equal(r.masquerade, true);
  // From the node itself too.
  const l = t.trace({ src: NODE_IP, dst: NODE_IP, proto: 'tcp', dport: 30080, origin: 'local' });
  assert.deepEqual([l.dnat?.ip, l.masquerade], ['10.242.1.7', true]);
  // Not on other addresses (kube-proxy's --nodeport-addresses primary), nor on another port.
  assert.equal(t.trace({ src: OUTSIDE, dst: '10.242.0.1', proto: 'tcp', dport: 30080 }).dnat, undefined);
  assert.equal(t.trace({ src: OUTSIDE, dst: NODE_IP, proto: 'tcp', dport: 30081 }).dnat, undefined);
  // Without endpoints the NodePort is rejected.
  const none = tracer([np], []).trace({ src: OUTSIDE, dst: NODE_IP, proto: 'tcp', dport: 30080 });
  assert.deepEqual([none.verdict, none.reject], ['reject', 'tcp reset']);
});

test('externalTrafficPolicy Local: outside clients reach local endpoints only, with their own address', () => {
  const svc = service(
    'ns1',
    'lb',
    {
      type: 'LoadBalancer',
      clusterIP: '10.92.0.14',
      externalTrafficPolicy: 'Local',
      ports: [{ name: 'http', port: 80, nodePort: 30081 }],
    },
    { lbIPs: ['203.0.113.1'] },
  );
  const both = slice(
    'ns1',
    'lb',
    [{ name: 'http', port: 8080 }],
    [
      { ip: '10.242.0.5', node: 'node-1' },
      { ip: '10.242.1.7', node: 'node-2' },
    ],
  );
  for (const n of [0, 1]) {
    const t = tracer([svc], [both], { numgen: n });
    for (const dst of [NODE_IP, '203.0.113.1']) {
      const r = t.trace({ src: OUTSIDE, dst, proto: 'tcp', dport: dst === NODE_IP ? 30081 : 80 });
      assert.deepEqual([r.dnat?.ip, r.masquerade], ['10.242.0.5', false], dst);
    }
  }
  // Pods may use every endpoint through the LoadBalancer IP (kube-proxy's short-circuit).
  const pod = tracer([svc], [both], { numgen: 1 }).trace({
    src: POD,
    dst: '203.0.113.1',
    proto: 'tcp',
    dport: 80,
  });
  assert.equal(pod.dnat?.ip, '10.242.1.7');
  // No local endpoint: outside traffic is dropped (not rejected), the ClusterIP still works.
  const remoteOnly = slice(
    'ns1',
    'lb',
    [{ name: 'http', port: 8080 }],
    [{ ip: '10.242.1.7', node: 'node-2' }],
  );
  const t = tracer([svc], [remoteOnly]);
  assert.equal(t.trace({ src: OUTSIDE, dst: NODE_IP, proto: 'tcp', dport: 30081 }).verdict, 'drop');
  assert.equal(t.trace({ src: OUTSIDE, dst: '203.0.113.1', proto: 'tcp', dport: 80 }).verdict, 'drop');
  assert.equal(t.trace({ src: POD, dst: '10.92.0.14', proto: 'tcp', dport: 80 }).dnat?.ip, '10.242.1.7');
});

test('externalTrafficPolicy Cluster on a LoadBalancer IP and externalIPs: masqueraded', () => {
  const svc = service(
    'ns1',
    'lb',
    {
      type: 'LoadBalancer',
      clusterIP: '10.92.0.14',
      externalIPs: ['198.51.100.50'],
      ports: [{ name: 'http', port: 80, nodePort: 30081 }],
    },
    { lbIPs: ['203.0.113.1'] },
  );
  const sl = slice('ns1', 'lb', [{ name: 'http', port: 8080 }], [{ ip: '10.242.1.7', node: 'node-2' }]);
  for (const dst of ['203.0.113.1', '198.51.100.50']) {
    const r = tracer([svc], [sl]).trace({ src: OUTSIDE, dst, proto: 'tcp', dport: 80 });
    assert.deepEqual([r.dnat?.ip, r.masquerade], ['10.242.1.7', true], dst);
  }
});

test('internalTrafficPolicy Local: the ClusterIP uses local endpoints only, and drops without one', () => {
  const svc = service('ns1', 'itp', {
    clusterIP: '10.92.0.15',
    internalTrafficPolicy: 'Local',
    ports: [{ name: 'http', port: 80 }],
  });
  const both = slice(
    'ns1',
    'itp',
    [{ name: 'http', port: 8080 }],
    [
      { ip: '10.242.0.5', node: 'node-1' },
      { ip: '10.242.1.7', node: 'node-2' },
    ],
  );
  for (const n of [0, 1]) {
    assert.equal(
      tracer([svc], [both], { numgen: n }).trace({ src: POD, dst: '10.92.0.15', proto: 'tcp', dport: 80 })
        .dnat?.ip,
      '10.242.0.5',
    );
  }
  const remoteOnly = slice(
    'ns1',
    'itp',
    [{ name: 'http', port: 8080 }],
    [{ ip: '10.242.1.7', node: 'node-2' }],
  );
  assert.equal(
    tracer([svc], [remoteOnly]).trace({ src: POD, dst: '10.92.0.15', proto: 'tcp', dport: 80 }).verdict,
    'drop',
  );
});

test('terminating endpoints serve only when no ready one is left (cluster-wide, and locally)', () => {
  const sl = slice(
    'ns1',
    'web',
    [{ name: 'http', port: 8080 }],
    [{ ip: '10.242.0.5', ready: false, serving: true, terminating: true }, { ip: '10.242.0.6' }],
  );
  for (const n of [0, 1]) {
    assert.equal(
      tracer([web], [sl], { numgen: n }).trace({ src: POD, dst: '10.92.0.10', proto: 'tcp', dport: 80 }).dnat
        ?.ip,
      '10.242.0.6',
    );
  }
  const allTerminating = slice(
    'ns1',
    'web',
    [{ name: 'http', port: 8080 }],
    [
      { ip: '10.242.0.5', ready: false, serving: true, terminating: true },
      { ip: '10.242.0.6', ready: false, serving: false, terminating: true },
    ],
  );
  for (const n of [0, 1]) {
    assert.equal(
      tracer([web], [allTerminating], { numgen: n }).trace({
        src: POD,
        dst: '10.92.0.10',
        proto: 'tcp',
        dport: 80,
      }).dnat?.ip,
      '10.242.0.5',
    );
  }
  // Local policy: a local terminating endpoint is used while the ready ones are all remote.
  const svc = service('ns1', 'itp', {
    clusterIP: '10.92.0.15',
    internalTrafficPolicy: 'Local',
    ports: [{ name: 'http', port: 80 }],
  });
  const mixed = slice(
    'ns1',
    'itp',
    [{ name: 'http', port: 8080 }],
    [
      { ip: '10.242.0.5', node: 'node-1', ready: false, serving: true, terminating: true },
      { ip: '10.242.1.7', node: 'node-2' },
    ],
  );
  assert.equal(
    tracer([svc], [mixed]).trace({ src: POD, dst: '10.92.0.15', proto: 'tcp', dport: 80 }).dnat?.ip,
    '10.242.0.5',
  );
});

test('sessionAffinity ClientIP: a client sticks to its endpoint while the set remembers it (timeout 10800 s by default)', () => {
  const svc = service('ns1', 'sticky', {
    clusterIP: '10.92.0.16',
    sessionAffinity: 'ClientIP',
    ports: [{ name: 'http', port: 80 }],
  });
  const sl = slice(
    'ns1',
    'sticky',
    [{ name: 'http', port: 8080 }],
    [{ ip: '10.242.0.5' }, { ip: '10.242.0.6' }, { ip: '10.242.0.7' }],
  );
  const text = fullSyncText(render([svc], [sl], cfg));
  assert.match(text, /flags dynamic,timeout ; timeout 10800s ;/);
  const affinity = new Map<string, Set<string>>();
  let n = 2;
  const t = new Tracer(text, { localAddrs: [NODE_IP], affinity, numgen: () => n });
  const first = t.trace({ src: POD, dst: '10.92.0.16', proto: 'tcp', dport: 80 });
  assert.equal(first.dnat?.ip, '10.242.0.7');
  for (n = 0; n < 3; n++)
    assert.equal(t.trace({ src: POD, dst: '10.92.0.16', proto: 'tcp', dport: 80 }).dnat?.ip, '10.242.0.7');
  // Another client is balanced on its own.
  n = 0;
  assert.equal(
    t.trace({ src: '10.242.0.21', dst: '10.92.0.16', proto: 'tcp', dport: 80 }).dnat?.ip,
    '10.242.0.5',
  );
  // When the entry expires (the kernel drops it after the timeout) the client is balanced again.
  for (const s of affinity.values()) s.delete(POD);
  assert.equal(t.trace({ src: POD, dst: '10.92.0.16', proto: 'tcp', dport: 80 }).dnat?.ip, '10.242.0.5');
  // A configured timeout is used.
  const short = service('ns1', 'sticky', {
    clusterIP: '10.92.0.16',
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } },
    ports: [{ name: 'http', port: 80 }],
  });
  assert.match(fullSyncText(render([short], [sl], cfg)), /timeout 5s ;/);
});

test('loadBalancerSourceRanges: only the listed sources reach the LoadBalancer IP', () => {
  const svc = service(
    'ns1',
    'lb',
    {
      type: 'LoadBalancer',
      clusterIP: '10.92.0.14',
      loadBalancerSourceRanges: ['198.51.100.0/25'],
      ports: [{ name: 'http', port: 80, nodePort: 30081 }],
    },
    { lbIPs: ['203.0.113.1'] },
  );
  const sl = slice('ns1', 'lb', [{ name: 'http', port: 8080 }], [{ ip: '10.242.1.7', node: 'node-2' }]);
  const t = tracer([svc], [sl]);
  assert.equal(
    t.trace({ src: '198.51.100.9', dst: '203.0.113.1', proto: 'tcp', dport: 80 }).dnat?.ip,
    '10.242.1.7',
  );
  assert.equal(
    t.trace({ src: '198.51.100.200', dst: '203.0.113.1', proto: 'tcp', dport: 80 }).verdict,
    'drop',
  );
  // The ClusterIP is not firewalled.
  assert.equal(
    t.trace({ src: '10.242.0.20', dst: '10.92.0.14', proto: 'tcp', dport: 80 }).dnat?.ip,
    '10.242.1.7',
  );
});

test('hairpin: a pod reaching itself through its service is masqueraded', () => {
  const r = tracer([web], [webSlice], { numgen: 0 }).trace({
    src: '10.242.0.5',
    dst: '10.92.0.10',
    proto: 'tcp',
    dport: 80,
  });
  assert.deepEqual([r.dnat?.ip, r.masquerade], ['10.242.0.5', true]);
  const other = tracer([web], [webSlice], { numgen: 1 }).trace({
    src: '10.242.0.5',
    dst: '10.92.0.10',
    proto: 'tcp',
    dport: 80,
  });
  assert.deepEqual([other.dnat?.ip, other.masquerade], ['10.242.0.6', false]);
});

test('services another proxy owns, headless services and ExternalName get no rules', () => {
  const ignored = [
    service(
      'ns1',
      'a',
      { clusterIP: '10.92.0.20', ports: [{ port: 80 }] },
      { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } },
    ),
    service(
      'ns1',
      'b',
      { clusterIP: '10.92.0.21', ports: [{ port: 80 }] },
      { labels: { 'service.kubernetes.io/headless': '' } },
    ),
    service('ns1', 'c', { clusterIP: 'None', ports: [{ port: 80 }] }),
    service('ns1', 'd', { type: 'ExternalName', externalName: 'example.org', ports: [{ port: 80 }] }),
  ];
  const rs = render(ignored, [], cfg);
  for (const m of rs.maps.values()) assert.equal(m.elements.size, 0);
  assert.equal(rs.sets.get('cluster-ips')!.elements!.size, 0);
  assert.equal([...rs.chains.keys()].filter((c) => c.includes('ns1/')).length, 0);
});

test('dual-stack: each family renders its own addresses and endpoints', () => {
  const svc = service('ns1', 'ds', {
    clusterIP: '10.92.0.30',
    clusterIPs: ['10.92.0.30', 'fd00:92::1e'],
    ipFamilies: ['IPv4', 'IPv6'],
    ports: [{ name: 'http', port: 80 }],
  });
  const v4 = slice('ns1', 'ds', [{ name: 'http', port: 8080 }], [{ ip: '10.242.0.5' }], { name: 'ds-v4' });
  const v6 = slice('ns1', 'ds', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:242::5' }], { name: 'ds-v6' });
  const cfg6: RenderConfig = {
    ...cfg,
    family: 'ip6',
    nodeIPs: ['fd00:31::11'],
    clusterCIDRs: ['fd00:242::/48'],
    serviceCIDRs: ['fd00:92::/112'],
  };
  const t6 = new Tracer(fullSyncText(render([svc], [v4, v6], cfg6)), { localAddrs: ['fd00:31::11'] });
  const r = t6.trace({ src: 'fd00:242::20', dst: 'fd00:92::1e', proto: 'tcp', dport: 80 });
  assert.deepEqual([r.dnat, r.masquerade], [{ ip: 'fd00:242::5', port: 8080 }, false]);
  assert.equal(
    tracer([svc], [v4, v6]).trace({ src: POD, dst: '10.92.0.30', proto: 'tcp', dport: 80 }).dnat?.ip,
    '10.242.0.5',
  );
});
