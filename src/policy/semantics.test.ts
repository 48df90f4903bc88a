import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../model/types.js';
import {
  evaluate,
  explainText,
  formatTruthTable,
  podFromObject,
  policyFromObject,
  probeKeys,
  reachability,
  stateFromObjects,
  type PolicyState,
} from './semantics.js';
import { Expect, NAMESPACES, POD_NAMES, modelNamespace, modelPod, policy } from './fixtures.js';

/** x/a 10.243.0.1 ... z/c 10.243.0.9; namespaces labelled ns=<name>. */
function model(policies: KubeObject[], opts: { podLabels?: Record<string, Record<string, string>> } = {}) {
  const pods: KubeObject[] = [];
  let i = 1;
  for (const ns of NAMESPACES)
    for (const p of POD_NAMES)
      pods.push(modelPod(ns, p, { ip: `10.243.0.${i++}`, labels: opts.podLabels?.[`${ns}/${p}`] }));
  const namespaces = NAMESPACES.map((n) => modelNamespace(n, { ns: n }));
  return stateFromObjects(policies, pods, namespaces);
}

function table(state: PolicyState, key = 'TCP/80'): Record<string, string> {
  const [proto, port] = key.split('/');
  return reachability(state, state.pods, probeKeys([Number(port)], [proto])).tables[key];
}

test('no policies: everything reaches everything', () => {
  assert.deepEqual(table(model([])), new Expect(true).rows());
});

test('default-deny ingress in x (empty ingress list) isolates every pod of x', () => {
  const s = model([policy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })]);
  assert.deepEqual(table(s), new Expect(true).deny('*', 'x/*').rows());
  assert.deepEqual(table(s, 'UDP/81'), new Expect(true).deny('*', 'x/*').rows());
});

test('allow from the same namespace only (podSelector {} as peer)', () => {
  const s = model([policy('x', 'same-ns', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })]);
  assert.deepEqual(table(s), new Expect(true).deny('*', 'x/*').allow('x/*', 'x/*').rows());
});

test('namespaceSelector alone: every pod of the selected namespaces', () => {
  const s = model([
    policy('x', 'from-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    }),
  ]);
  assert.deepEqual(table(s), new Expect(true).deny('*', 'x/a').allow('y/*', 'x/a').rows());
});

test('namespaceSelector AND podSelector in one peer versus OR in two peers', () => {
  const and = model([
    policy('x', 'and', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } },
          ],
        },
      ],
    }),
  ]);
  assert.deepEqual(table(and), new Expect(true).deny('*', 'x/a').allow('y/b', 'x/a').rows());
  const or = model([
    policy('x', 'or', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { ns: 'y' } } },
            { podSelector: { matchLabels: { pod: 'b' } } },
          ],
        },
      ],
    }),
  ]);
  // podSelector alone means pods of the policy's own namespace: x/b, not y/b or z/b.
  assert.deepEqual(
    table(or),
    new Expect(true).deny('*', 'x/a').allow('y/*', 'x/a').allow('x/b', 'x/a').rows(),
  );
});

test('matchExpressions: NotIn, In, Exists, DoesNotExist', () => {
  const s = model([
    policy('x', 'not-in-y', {
      podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] },
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['y'] }] },
              podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] },
            },
          ],
        },
      ],
    }),
  ]);
  const want = new Expect(true)
    .deny('*', 'x/a')
    .deny('*', 'x/b')
    .allow('x/*', 'x/a')
    .allow('x/*', 'x/b')
    .allow('z/*', 'x/a')
    .allow('z/*', 'x/b');
  assert.deepEqual(table(s), want.rows());
  const none = model([
    policy('y', 'no-label', {
      podSelector: {},
      ingress: [
        {
          from: [
            {
              namespaceSelector: {},
              podSelector: { matchExpressions: [{ key: 'pod', operator: 'DoesNotExist' }] },
            },
          ],
        },
      ],
    }),
  ]);
  assert.deepEqual(table(none), new Expect(true).deny('*', 'y/*').rows());
});

test('the kubernetes.io/metadata.name label selects a namespace by name', () => {
  const s = model([
    policy('x', 'by-name', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }],
    }),
  ]);
  assert.deepEqual(table(s), new Expect(true).deny('*', 'x/*').allow('z/*', 'x/*').rows());
});

test('ports: by number, by name (per destination pod and protocol), endPort ranges', () => {
  const byNumber = model([policy('x', 'tcp-81', { podSelector: {}, ingress: [{ ports: [{ port: 81 }] }] })]);
  assert.deepEqual(table(byNumber, 'TCP/80'), new Expect(true).deny('*', 'x/*').rows());
  assert.deepEqual(table(byNumber, 'TCP/81'), new Expect(true).rows());
  // The protocol defaults to TCP: UDP/81 stays denied.
  assert.deepEqual(table(byNumber, 'UDP/81'), new Expect(true).deny('*', 'x/*').rows());

  const byName = model([
    policy('x', 'named', {
      podSelector: {},
      ingress: [{ ports: [{ port: 'serve-80-udp', protocol: 'UDP' }] }],
    }),
  ]);
  assert.deepEqual(table(byName, 'UDP/80'), new Expect(true).rows());
  assert.deepEqual(table(byName, 'UDP/81'), new Expect(true).deny('*', 'x/*').rows());
  assert.deepEqual(table(byName, 'TCP/80'), new Expect(true).deny('*', 'x/*').rows());
  // A name with the wrong protocol resolves to nothing.
  const wrongProto = model([
    policy('x', 'named', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-udp' }] }] }),
  ]);
  assert.deepEqual(table(wrongProto, 'TCP/80'), new Expect(true).deny('*', 'x/*').rows());

  const range = model([
    policy('x', 'range', {
      podSelector: {},
      ingress: [{ ports: [{ port: 79, endPort: 80, protocol: 'UDP' }] }],
    }),
  ]);
  assert.deepEqual(table(range, 'UDP/80'), new Expect(true).rows());
  assert.deepEqual(table(range, 'UDP/81'), new Expect(true).deny('*', 'x/*').rows());
});

test('a named egress port is resolved against each destination pod', () => {
  const pods = [
    modelPod('x', 'a', { ip: '10.243.0.1' }),
    {
      ...modelPod('y', 'b', { ip: '10.243.0.2' }),
      spec: { nodeName: 'node-1', containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 81 }] }] },
    },
    {
      ...modelPod('y', 'c', { ip: '10.243.0.3' }),
      spec: { nodeName: 'node-1', containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 80 }] }] },
    },
  ];
  const s = stateFromObjects(
    [
      policy('x', 'web-out', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ ports: [{ port: 'web' }] }],
      }),
    ],
    pods,
    [modelNamespace('x'), modelNamespace('y')],
  );
  const [a, b, c] = s.pods;
  assert.equal(evaluate(s, { from: a, to: b, port: 81, protocol: 'TCP' }).allowed, true);
  assert.equal(evaluate(s, { from: a, to: b, port: 80, protocol: 'TCP' }).allowed, false);
  assert.equal(evaluate(s, { from: a, to: c, port: 80, protocol: 'TCP' }).allowed, true);
  assert.equal(evaluate(s, { from: a, to: c, port: 81, protocol: 'TCP' }).allowed, false);
});

test('policyTypes defaults: egress rules without policyTypes still isolate ingress', () => {
  const p = policyFromObject(
    policy('x', 'egress-only', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{}] }),
  );
  assert.equal(p.ingressIsolation, true);
  assert.equal(p.egressIsolation, true);
  const s = model([policy('x', 'egress-only', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{}] })]);
  // egress [{}] allows every egress; ingress is isolated with no rule: deny-all to x/a.
  assert.deepEqual(table(s), new Expect(true).deny('*', 'x/a').rows());
  // An empty egress list does not add Egress.
  const q = policyFromObject(policy('x', 'p', { podSelector: {}, egress: [] }));
  assert.deepEqual([q.ingressIsolation, q.egressIsolation], [true, false]);
});

test('default-deny egress, then an allow to one namespace (union of policies)', () => {
  const deny = policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] });
  assert.deepEqual(table(model([deny])), new Expect(true).deny('x/*', '*').rows());
  const toY = policy('x', 'to-y', {
    podSelector: { matchLabels: { pod: 'a' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
  });
  assert.deepEqual(table(model([deny, toY])), new Expect(true).deny('x/*', '*').allow('x/a', 'y/*').rows());
});

test('both directions: egress from the source and ingress to the destination must allow', () => {
  const s = model([
    policy('x', 'a-out-to-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    }),
    policy('x', 'b-in-from-c', {
      podSelector: { matchLabels: { pod: 'b' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }],
    }),
  ]);
  const want = new Expect(true).deny('x/a', '*').allow('x/a', 'x/b').deny('*', 'x/b').allow('x/c', 'x/b');
  assert.deepEqual(table(s), want.rows());
  const v = evaluate(s, {
    from: s.pods[0],
    to: s.pods[1],
    port: 80,
    protocol: 'TCP',
  });
  assert.equal(v.allowed, false);
  assert.deepEqual(v.egress.allowedBy, [{ policy: 'x/a-out-to-b', direction: 'egress', rule: 0 }]);
  assert.deepEqual(v.ingress.policies, ['x/b-in-from-c']);
  assert.match(
    explainText({ from: s.pods[0], to: s.pods[1], port: 80, protocol: 'TCP' }, v),
    /ingress \(x\/b\): DENIED: no rule of x\/b-in-from-c allows it/,
  );
});

test('ipBlock with except (egress to pod addresses)', () => {
  // 10.243.0.4-6 are y/a, y/b, y/c; except y/b.
  const s = model([
    policy('x', 'cidr', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '10.243.0.4/30', except: ['10.243.0.5/32'] } }] }],
    }),
  ]);
  // 10.243.0.4/30 holds .4 .5 .6 .7: y/a, y/c and z/a (y/b excepted).
  assert.deepEqual(
    table(s),
    new Expect(true).deny('x/a', '*').allow('x/a', 'y/a').allow('x/a', 'y/c').allow('x/a', 'z/a').rows(),
  );
});

test('label changes take effect: a pod relabelled into a selector is selected', () => {
  const pols = [
    policy('x', 'from-blue', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { color: 'blue' } } }] }],
    }),
  ];
  assert.deepEqual(table(model(pols)), new Expect(true).deny('*', 'x/*').rows());
  const relabelled = model(pols, { podLabels: { 'z/c': { pod: 'c', color: 'blue' } } });
  assert.deepEqual(table(relabelled), new Expect(true).deny('*', 'x/*').allow('z/c', 'x/*').rows());
});

test('hostNetwork pods: never isolated, never matched by pod selectors, node traffic to its own node allowed', () => {
  const pods = [
    modelPod('x', 'a', { ip: '10.243.0.1' }),
    modelPod('x', 'host', { ip: '172.31.243.10', hostNetwork: true }),
    modelPod('x', 'remote-host', { ip: '172.31.243.11', hostNetwork: true, nodeName: 'node-2' }),
  ];
  const s = stateFromObjects(
    [
      policy('x', 'from-all-pods', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }),
      policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
    ],
    pods,
    [modelNamespace('x')],
  );
  const [a, host, remote] = s.pods;
  const tcp = (from: typeof a, to: typeof a) => evaluate(s, { from, to, port: 80, protocol: 'TCP' });
  assert.equal(tcp(host, a).allowed, true, 'from its own node');
  assert.match(tcp(host, a).ingress.reason, /own node/);
  assert.equal(tcp(remote, a).allowed, false, 'a podSelector does not match a hostNetwork pod');
  assert.equal(tcp(a, host).allowed, false, "x/a's egress is isolated");
  assert.equal(tcp(host, remote).allowed, true, 'policies do not apply to hostNetwork pods');
});

test('pods that finished hold no address and leave the model', () => {
  const pod = modelPod('x', 'a', { ip: '10.243.0.1' });
  (pod.status as Record<string, unknown>).phase = 'Succeeded';
  assert.equal(podFromObject(pod), undefined);
});

test('explain names the deciding rules, or that no policy selects the pod', () => {
  const s = model([
    policy('x', 'allow-y', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    }),
  ]);
  const ya = s.pods[3];
  const xa = s.pods[0];
  const c = { from: ya, to: xa, port: 80, protocol: 'TCP' as const };
  assert.equal(
    explainText(c, evaluate(s, c)),
    'y/a -> x/a TCP/80: allowed\n' +
      '  egress (y/a): allowed: no policy selects y/a for egress\n' +
      '  ingress (x/a): allowed: allowed by x/allow-y ingress[0]\n',
  );
});

test('the truth table prints as the e2e suite prints it', () => {
  const t = reachability(
    model([policy('x', 'd', { podSelector: {} })]),
    model([]).pods.slice(0, 4),
    probeKeys([80], ['tcp']),
  );
  assert.equal(
    formatTruthTable(t),
    'TCP/80:\n' +
      '     x/a  x/b  x/c  y/a\n' +
      'x/a  -    0    0    1\n' +
      'x/b  0    -    0    1\n' +
      'x/c  0    0    -    1\n' +
      'y/a  0    0    0    -\n',
  );
});

// More of the upstream netpol cases (test/e2e/network/netpol/network_policy.go), by their names there.

test('should enforce multiple egress policies with egress allow-all policy taking precedence', () => {
  const s = model([
    policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
    policy('x', 'allow-all-egress', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] }),
  ]);
  assert.deepEqual(table(s), new Expect(true).rows());
});

test('should work with Ingress, Egress specified together', () => {
  const s = model([
    policy('x', 'both', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      egress: [],
    }),
  ]);
  assert.deepEqual(table(s), new Expect(true).deny('*', 'x/a').allow('y/*', 'x/a').deny('x/a', '*').rows());
});

test('should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)', () => {
  const s = model([
    policy('x', 'deny-egress-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] }),
    policy('y', 'allow-all-ingress', { podSelector: {}, ingress: [{}] }),
  ]);
  assert.deepEqual(table(s), new Expect(true).deny('x/a', '*').rows());
});

test('should enforce ingress policy allowing any port traffic to a server on a specific protocol', () => {
  const s = model([policy('x', 'udp-any', { podSelector: {}, ingress: [{ ports: [{ protocol: 'UDP' }] }] })]);
  assert.deepEqual(table(s, 'UDP/80'), new Expect(true).rows());
  assert.deepEqual(table(s, 'UDP/81'), new Expect(true).rows());
  assert.deepEqual(table(s, 'TCP/80'), new Expect(true).deny('*', 'x/*').rows());
});

test('should enforce multiple ingress policies with ingress allow-all policy taking precedence; ports add up', () => {
  const s = model([
    policy('x', 'port-80', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] }),
    policy('x', 'port-81', { podSelector: {}, ingress: [{ ports: [{ port: 81 }] }] }),
  ]);
  assert.deepEqual(table(s, 'TCP/80'), new Expect(true).rows());
  assert.deepEqual(table(s, 'TCP/81'), new Expect(true).rows());
  assert.deepEqual(table(s, 'UDP/80'), new Expect(true).deny('*', 'x/*').rows());
});

test('should deny ingress access to updated pod (a pod relabelled into the policy is isolated)', () => {
  const pol = [policy('x', 'deny-b', { podSelector: { matchLabels: { target: 'isolated' } } })];
  assert.deepEqual(table(model(pol)), new Expect(true).rows());
  const relabelled = model(pol, { podLabels: { 'x/b': { pod: 'b', target: 'isolated' } } });
  assert.deepEqual(table(relabelled), new Expect(true).deny('*', 'x/b').rows());
});
