import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mergePortRanges, outermostCIDRs, partialScript, renderPolicies, renderTable } from './render.js';
import { evaluate, stateFromObjects, type PolicyPod, type PolicyState, type Protocol } from './semantics.js';
import { parseRuleset, trace, type Ruleset } from './tracer.js';
import { modelNamespace, modelPod, policy, randomState, rng } from './fixtures.js';

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
  assert.match(text, /\t\tmeta l4proto tcp reject with tcp reset\n\t\treject with icmpx admin-prohibited\n/);
  const rs = parseRuleset(text);
  const pkt = { saddr: '10.243.1.3', daddr: '10.243.0.2', dport: 99 };
  assert.equal(trace(rs, 'forward', { ...pkt, protocol: 'tcp' }), 'reject');
  assert.equal(trace(rs, 'forward', { ...pkt, protocol: 'udp' }), 'reject');
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
  assert.equal(
    text.match(/ip saddr @peers4-\w+ meta l4proto \. th dport @ports-\w+ return/g)?.length,
    2,
    text,
  );
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
    /map ingress6 \{\n\t\ttype ipv6_addr : verdict\n\t\telements = \{ 2001:db8::2 : jump ingress-\w+ \}/,
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

test('partial sync: nothing for an unchanged table; one policy changed touches only its set and chain', () => {
  const mk = (port: number) =>
    stateFromObjects(
      [
        policy('x', 'web', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ podSelector: {} }], ports: [{ port }] }],
        }),
        policy('x', 'deny-egress', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'] }),
      ],
      [modelPod('x', 'a', { ip: '10.243.0.2' }), modelPod('x', 'b', { ip: '10.243.0.3' })],
      [modelNamespace('x')],
    );
  const a = renderTable(mk(80));
  assert.equal(partialScript(a, renderTable(mk(80))), '');
  const script = partialScript(a, renderTable(mk(8080)))!;
  const lines = script.trim().split('\n');
  assert.match(lines[0], /^flush chain inet twill-policy ingress-\w+$/);
  assert.equal(lines.filter((l) => /^\tset ports-\w+ \{$/.test(l)).length, 1, script);
  assert.match(script, /elements = \{ tcp \. 8080 \}/);
  assert.match(lines[lines.length - 1], /^delete set inet twill-policy ports-\w+$/);
  assert.doesNotMatch(
    script,
    /add element|delete element|chain inet twill-policy egress/,
    'maps and the other policy are untouched',
  );
  // A new address family changes the fixed part: only a full sync will do.
  const v6 = mk(80);
  v6.pods[0].ips.push('2001:db8::2');
  assert.equal(partialScript(a, renderTable(v6)), undefined);
});

test('overlapping port ranges and except CIDRs are merged (the kernel refuses overlapping intervals)', () => {
  assert.deepEqual(
    mergePortRanges([
      ['TCP', 80, 81],
      ['TCP', 81, 81],
      ['TCP', 82, 82],
      ['TCP', 90, 90],
      ['UDP', 0, 65535],
      ['UDP', 53, 53],
    ]),
    ['tcp . 80-82', 'tcp . 90', 'udp . 0-65535'],
  );
  assert.deepEqual(
    outermostCIDRs(['10.0.0.0/28', '10.0.0.1/32', '10.0.1.0/24', '10.0.1.0/24', '10.0.0.0/28']),
    ['10.0.0.0/28', '10.0.1.0/24'],
  );
});
