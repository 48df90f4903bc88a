import assert from 'node:assert/strict';
import { test } from 'node:test';
import { denialText, newDenials, parseDenials, podsByIP } from './denials.js';
import { podFromObject, type PolicyPod } from './semantics.js';
import { modelPod } from './fixtures.js';

// The shape `nft -j list table` gives for a dynamic set with timeouts (nft 1.0.6).
const listed = [
  { table: { family: 'inet', name: 'twill-policy' } },
  {
    set: {
      family: 'inet',
      name: 'deny-ingress4',
      table: 'twill-policy',
      type: ['ipv4_addr', 'ipv4_addr', 'inet_proto', 'inet_service'],
      flags: ['timeout'],
      timeout: 60,
      elem: [
        { elem: { val: { concat: ['10.243.0.3', '10.243.0.2', 'tcp', 80] }, expires: 57 } },
        { elem: { val: { concat: ['198.51.100.9', '10.243.0.2', 'udp', 81] }, expires: 20 } },
      ],
    },
  },
  { set: { family: 'inet', name: 'peers4-0', elem: ['10.243.0.3'] } },
];

test('the denial record is read from the listed table, newest first', () => {
  const d = parseDenials(listed);
  assert.deepEqual(
    d.map((x) => [x.direction, x.saddr, x.daddr, x.protocol, x.port, x.ageSeconds]),
    [
      ['ingress', '10.243.0.3', '10.243.0.2', 'TCP', 80, 3],
      ['ingress', '198.51.100.9', '10.243.0.2', 'UDP', 81, 40],
    ],
  );
  const byIP = podsByIP(
    [modelPod('x', 'a', { ip: '10.243.0.2' }), modelPod('x', 'b', { ip: '10.243.0.3' })].map(
      (p) => podFromObject(p) as PolicyPod,
    ),
  );
  assert.equal(denialText(d[0], byIP), 'x/b -> x/a TCP/80 denied (ingress of x/a), 3s ago');
  assert.equal(denialText(d[1], byIP), '198.51.100.9 -> x/a UDP/81 denied (ingress of x/a), 40s ago');
  assert.deepEqual(parseDenials(undefined), []);
});

test('a poll reports entries that are new or refreshed, not ones that only aged', () => {
  const seen = new Map<string, number>();
  const at = (expires: number) =>
    parseDenials([
      {
        set: {
          name: 'deny-egress4',
          elem: [{ elem: { val: { concat: ['10.0.0.1', '10.0.0.2', 'tcp', 80] }, expires } }],
        },
      },
    ]);
  assert.equal(newDenials(at(59), seen, 5).length, 1, 'new');
  assert.equal(newDenials(at(54), seen, 5).length, 0, 'aged by the poll interval');
  assert.equal(newDenials(at(58), seen, 5).length, 1, 'refreshed by a later packet');
  assert.equal(newDenials([], seen, 5).length, 0);
  assert.equal(seen.size, 0, 'expired entries are forgotten');
});
