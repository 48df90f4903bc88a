import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredIngress, parsePools, poolAddresses } from './controller.js';
import { parseCIDR, formatIP } from '../../ipam/cidr.js';

const pools = parsePools(['203.0.113.0/28', '2001:db8:b::/126']);
const lb = (extra: Record<string, unknown> = {}, ips: string[] = []) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name: 'web' },
  spec: { type: 'LoadBalancer', ipFamilies: ['IPv4'], ...extra },
  status: { loadBalancer: ips.length ? { ingress: ips.map((ip) => ({ ip })) } : {} },
});

test('an IPv4 pool hands out all but its network and broadcast addresses', () => {
  const { first, last } = poolAddresses(parseCIDR('203.0.113.0/28'));
  assert.equal(formatIP({ family: 'IPv4', value: first }), '203.0.113.1');
  assert.equal(formatIP({ family: 'IPv4', value: last }), '203.0.113.14');
});

test('the lowest free address, one per family the Service has', () => {
  const taken = new Map([['203.0.113.1', 'default/other']]);
  assert.deepEqual(desiredIngress(lb(), pools, taken, 'default/web'), { ips: ['203.0.113.2'], pending: [] });
  assert.deepEqual(
    desiredIngress(lb({ ipFamilies: ['IPv4', 'IPv6'] }), pools, new Map(), 'default/web').ips,
    ['203.0.113.1', '2001:db8:b::'],
  );
});

test('a Service keeps the address it holds; one another (older) Service holds is replaced', () => {
  assert.deepEqual(
    desiredIngress(lb({}, ['203.0.113.9']), pools, new Map([['203.0.113.9', 'default/web']]), 'default/web')
      .ips,
    ['203.0.113.9'],
  );
  assert.deepEqual(
    desiredIngress(lb({}, ['203.0.113.9']), pools, new Map([['203.0.113.9', 'default/old']]), 'default/web')
      .ips,
    ['203.0.113.1'],
  );
});

test('spec.loadBalancerIP is honoured inside the pool, pending outside it or when taken', () => {
  assert.deepEqual(
    desiredIngress(lb({ loadBalancerIP: '203.0.113.5' }), pools, new Map(), 'default/web').ips,
    ['203.0.113.5'],
  );
  const out = desiredIngress(lb({ loadBalancerIP: '198.51.100.5' }), pools, new Map(), 'default/web');
  assert.deepEqual(out, { ips: [], pending: ['198.51.100.5 is not in the pool'] });
  const taken = desiredIngress(
    lb({ loadBalancerIP: '203.0.113.5' }),
    pools,
    new Map([['203.0.113.5', 'default/x']]),
    'default/web',
  );
  assert.deepEqual(taken.pending, ['203.0.113.5 is already allocated']);
});

test('a full pool leaves the Service pending; other types and classes get nothing', () => {
  const all = new Map<string, string>();
  for (let i = 1; i <= 14; i++) all.set(`203.0.113.${i}`, `default/s${i}`);
  assert.deepEqual(desiredIngress(lb(), pools, all, 'default/web'), {
    ips: [],
    pending: ['no free IPv4 address in 203.0.113.0/28'],
  });
  assert.deepEqual(desiredIngress(lb({ type: 'NodePort' }), pools, new Map(), 'default/web').ips, []);
  assert.deepEqual(
    desiredIngress(lb({ loadBalancerClass: 'example.com/other' }), pools, new Map(), 'default/web').ips,
    [],
  );
});

test('--lb-pool: a bad CIDR or two ranges of one family are refused', () => {
  assert.throws(() => parsePools(['203.0.113.1/28']), { code: 'TWILL_BAD_CONFIG' });
  assert.throws(() => parsePools(['203.0.113.0/28', '198.51.100.0/28']), {
    code: 'TWILL_BAD_CONFIG',
    message: '--lb-pool: at most one range per IP family',
  });
});
