import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../model/types.js';
import { renderPolicies } from './render.js';
import { evaluate, stateFromObjects, type PolicyPod, type PolicyState, type Protocol } from './semantics.js';
import { parseRuleset, trace, type Ruleset } from './tracer.js';
import { NAMESPACES, POD_NAMES, modelNamespace, modelPod, policy } from './fixtures.js';

const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/policy');

function goldenState(): PolicyState {
  const pods = [
    modelPod('x', 'a', { ip: '10.243.0.2' }),
    modelPod('x', 'b', { ip: '10.243.0.3' }),
    modelPod('y', 'a', { ip: '10.243.1.2', nodeName: 'node-2' }),
    modelPod('y', 'b', { ip: '10.243.1.3', nodeName: 'node-2' }),
  ];
  return stateFromObjects(
    [
      policy('x', 'allow-y-web', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } },
              { ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] } },
            ],
            ports: [{ port: 'serve-80-tcp' }, { port: 81, endPort: 90, protocol: 'UDP' }],
          },
        ],
      }),
      policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
      policy('y', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    ],
    pods,
    [modelNamespace('x'), modelNamespace('y')],
  );
}

test('golden: the table for node-1 (sets per rule, groups, verdict maps of local pods only)', () => {
  const text = renderPolicies(goldenState(), { nodeName: 'node-1', logGroup: 5 });
  const golden = fs.readFileSync(path.join(srcDir, 'testdata', 'node-1.nft'), 'utf8');
  assert.equal(text, golden);
});

test('reject and no log are options', () => {
  const text = renderPolicies(goldenState(), { deny: 'reject' });
  assert.match(text, /\t\treject with icmpx admin-prohibited\n/);
  assert.doesNotMatch(text, /\bdrop\b|log prefix/);
});

test('the tracer reads the golden table as the kernel would', () => {
  const rs = parseRuleset(renderPolicies(goldenState(), { nodeName: 'node-1', logGroup: 5 }));
  const pkt = (saddr: string, daddr: string, protocol: 'tcp' | 'udp', dport: number) => ({
    saddr,
    daddr,
    protocol,
    dport,
  });
  assert.equal(
    trace(rs, 'forward', pkt('10.243.1.2', '10.243.0.2', 'tcp', 80)),
    'accept',
    'y/a to the named port',
  );
  assert.equal(trace(rs, 'forward', pkt('10.243.1.2', '10.243.0.2', 'tcp', 81)), 'drop');
  assert.equal(trace(rs, 'forward', pkt('10.243.1.2', '10.243.0.2', 'udp', 85)), 'accept', 'endPort range');
  assert.equal(trace(rs, 'forward', pkt('198.51.100.7', '10.243.0.2', 'udp', 81)), 'accept', 'ipBlock');
  assert.equal(trace(rs, 'forward', pkt('198.51.100.200', '10.243.0.2', 'udp', 81)), 'drop', 'except');
  assert.equal(
    trace(rs, 'forward', pkt('10.243.1.2', '10.243.0.3', 'tcp', 80)),
    'accept',
    'x/b: no ingress policy',
  );
  assert.equal(
    trace(rs, 'forward', pkt('10.243.0.3', '10.243.1.2', 'tcp', 80)),
    'drop',
    'x/b: egress denied',
  );
  assert.equal(trace(rs, 'input', pkt('10.243.0.3', '10.243.0.1', 'tcp', 22)), 'drop', 'to the node itself');
  // y's pods are not on node-1: node-1 leaves their ingress to node-2.
  assert.equal(trace(rs, 'forward', pkt('198.51.100.7', '10.243.1.2', 'tcp', 80)), 'accept');
});

// ---------------------------------------------------------------------------------------------------------
// Randomised agreement between the evaluator and the rendered rules, on two nodes.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomState(r: () => number): PolicyState {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const labelValues = ['a', 'b', 'c'];
  const pods: KubeObject[] = [];
  let i = 1;
  for (const ns of NAMESPACES)
    for (const p of POD_NAMES) {
      const labels: Record<string, string> = { pod: p };
      if (r() < 0.4) labels.color = pick(['red', 'blue']);
      pods.push(modelPod(ns, p, { ip: `10.243.${i % 2}.${i}`, labels, nodeName: `node-${(i % 2) + 1}` }));
      i++;
    }
  const namespaces = NAMESPACES.map((n) => modelNamespace(n, r() < 0.5 ? { team: pick(['t1', 't2']) } : {}));
  const selector = (): Record<string, unknown> => {
    const k = r();
    if (k < 0.3) return {};
    if (k < 0.6) return { matchLabels: { pod: pick(labelValues) } };
    if (k < 0.75) return { matchLabels: { color: pick(['red', 'blue']) } };
    const op = pick(['In', 'NotIn', 'Exists', 'DoesNotExist']);
    const key = pick(['pod', 'color']);
    const values = op === 'In' || op === 'NotIn' ? [pick(labelValues), pick(['red', 'blue'])] : undefined;
    return { matchExpressions: [{ key, operator: op, ...(values ? { values } : {}) }] };
  };
  const nsSelector = (): Record<string, unknown> => {
    const k = r();
    if (k < 0.3) return {};
    if (k < 0.6) return { matchLabels: { 'kubernetes.io/metadata.name': pick(NAMESPACES) } };
    if (k < 0.8) return { matchLabels: { team: pick(['t1', 't2']) } };
    return { matchExpressions: [{ key: 'team', operator: pick(['Exists', 'DoesNotExist']) }] };
  };
  const peer = (): Record<string, unknown> => {
    const k = r();
    if (k < 0.35) return { podSelector: selector() };
    if (k < 0.6) return { namespaceSelector: nsSelector() };
    if (k < 0.85) return { podSelector: selector(), namespaceSelector: nsSelector() };
    const octet = pick([0, 1]);
    return {
      ipBlock: {
        cidr: `10.243.${octet}.0/28`,
        except: r() < 0.5 ? [`10.243.${octet}.${pick([1, 2, 3, 5])}/32`] : [],
      },
    };
  };
  const port = (): Record<string, unknown> => {
    const protocol = pick(['TCP', 'UDP', 'SCTP', undefined]);
    const k = r();
    const base = protocol ? { protocol } : {};
    if (k < 0.2) return base;
    if (k < 0.5) return { ...base, port: pick([80, 81]) };
    if (k < 0.7) return { ...base, port: 80, endPort: 81 };
    return { ...base, port: `serve-${pick([80, 81])}-${pick(['tcp', 'udp'])}` };
  };
  const rules = (peersField: string) => {
    const n = Math.floor(r() * 3);
    return Array.from({ length: n }, () => {
      const rule: Record<string, unknown> = {};
      if (r() < 0.7) rule[peersField] = Array.from({ length: 1 + Math.floor(r() * 2) }, peer);
      if (r() < 0.6) rule.ports = Array.from({ length: 1 + Math.floor(r() * 2) }, port);
      return rule;
    });
  };
  const policies: KubeObject[] = [];
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const spec: Record<string, unknown> = { podSelector: selector() };
    if (r() < 0.8) spec.ingress = rules('from');
    if (r() < 0.6) spec.egress = rules('to');
    const t = r();
    if (t < 0.25) spec.policyTypes = ['Ingress'];
    else if (t < 0.5) spec.policyTypes = ['Egress'];
    else if (t < 0.65) spec.policyTypes = ['Ingress', 'Egress'];
    policies.push(policy(pick(NAMESPACES), `p${k}`, spec));
  }
  return stateFromObjects(policies, pods, namespaces);
}

/** A packet from one pod to another passes the forward hook of the source's node, then the destination's. */
function traced(
  rulesets: Map<string, Ruleset>,
  from: PolicyPod,
  to: PolicyPod,
  protocol: Protocol,
  port: number,
) {
  const pkt = {
    saddr: from.ips[0],
    daddr: to.ips[0],
    protocol: protocol.toLowerCase() as 'tcp',
    dport: port,
  };
  const nodes = [...new Set([from.nodeName!, to.nodeName!])];
  return nodes.every((n) => trace(rulesets.get(n)!, 'forward', pkt) === 'accept');
}

test('rendered rules agree with the evaluator on random policy sets (two nodes, bounded)', () => {
  const r = rng(20261206);
  const keys: [Protocol, number][] = [
    ['TCP', 80],
    ['TCP', 81],
    ['UDP', 80],
    ['UDP', 81],
    ['SCTP', 80],
  ];
  let checked = 0;
  let denied = 0;
  for (let round = 0; round < 60; round++) {
    const state = randomState(r);
    const rulesets = new Map(
      ['node-1', 'node-2'].map((n) => [n, parseRuleset(renderPolicies(state, { nodeName: n }))]),
    );
    for (const from of state.pods)
      for (const to of state.pods) {
        if (from === to) continue;
        for (const [protocol, port] of keys) {
          const want = evaluate(state, { from, to, port, protocol }).allowed;
          const got = traced(rulesets, from, to, protocol, port);
          if (want !== got) {
            assert.fail(
              `round ${round}: ${from.namespace}/${from.name} -> ${to.namespace}/${to.name} ${protocol}/${port}: ` +
                `evaluator ${want}, rules ${got}\n${JSON.stringify(state.policies, null, 1)}\n` +
                renderPolicies(state, { nodeName: from.nodeName }),
            );
          }
          checked++;
          if (!want) denied++;
        }
      }
  }
  // The generator must exercise both outcomes, or the agreement says nothing.
  assert.ok(denied > checked * 0.1 && denied < checked * 0.9, `denied ${denied} of ${checked}`);
});

test('policies naming the same peers and ports share one set', () => {
  const same = {
    podSelector: {},
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }],
  };
  const s = stateFromObjects(
    [policy('x', 'one', same), policy('x', 'two', same)],
    [modelPod('x', 'a', { ip: '10.243.0.2' }), modelPod('x', 'b', { ip: '10.243.0.3' })],
    [modelNamespace('x')],
  );
  const text = renderPolicies(s);
  assert.equal(text.match(/\tset (peers|ports)/g)?.length, 2, text);
  assert.equal(text.match(/ip saddr @peers4-0 meta l4proto \. th dport @ports-1 return/g)?.length, 2, text);
});

test('dual-stack pods: IPv6 sets, maps and ipBlocks, traced like IPv4', () => {
  const dual = (ns: string, name: string, v4: string, v6: string) => {
    const p = modelPod(ns, name, { ip: v4 });
    (p.status as Record<string, unknown>).podIPs = [{ ip: v4 }, { ip: v6 }];
    return p;
  };
  const s = stateFromObjects(
    [
      policy('x', 'from-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          { from: [{ podSelector: { matchLabels: { pod: 'b' } } }] },
          {
            from: [{ ipBlock: { cidr: '2001:db8:1::/48', except: ['2001:db8:1:2::/64'] } }],
            ports: [{ port: 81 }],
          },
        ],
      }),
    ],
    [
      dual('x', 'a', '10.243.0.2', '2001:db8::2'),
      dual('x', 'b', '10.243.0.3', '2001:db8::3'),
      dual('x', 'c', '10.243.0.4', '2001:db8::4'),
    ],
    [modelNamespace('x')],
  );
  const text = renderPolicies(s);
  assert.match(
    text,
    /map ingress6 \{\n\t\ttype ipv6_addr : verdict\n\t\telements = \{ 2001:db8::2 : jump ingress-g0 \}/,
  );
  const rs = parseRuleset(text);
  const v6 = (saddr: string, dport: number) =>
    trace(rs, 'forward', { saddr, daddr: '2001:db8::2', protocol: 'tcp', dport });
  assert.equal(v6('2001:db8::3', 80), 'accept');
  assert.equal(v6('2001:db8::4', 80), 'drop');
  assert.equal(v6('2001:db8:1:1::9', 81), 'accept');
  assert.equal(v6('2001:db8:1:2::9', 81), 'drop');
  assert.equal(v6('2001:db8:1:1::9', 80), 'drop');
});
