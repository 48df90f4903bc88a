import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseKeys, tableJson } from './cli.js';

test('--ports and --protocols make the keys, protocol then port; bad values are refused', () => {
  assert.deepEqual(parseKeys('80,81', 'tcp,udp'), [
    { protocol: 'TCP', port: 80 },
    { protocol: 'TCP', port: 81 },
    { protocol: 'UDP', port: 80 },
    { protocol: 'UDP', port: 81 },
  ]);
  assert.throws(() => parseKeys('80,http', 'tcp'), { code: 'TWILL_BAD_CONFIG', message: /--ports: "http"/ });
  assert.throws(() => parseKeys('70000', 'tcp'), { code: 'TWILL_BAD_CONFIG' });
  assert.throws(() => parseKeys('80', 'icmp'), { code: 'TWILL_BAD_CONFIG', message: /--protocols: "icmp"/ });
});

test('-o json is one object: pods in column order and one row map per PROTO/PORT', () => {
  const t = { pods: ['x/a', 'x/b'], tables: { 'TCP/80': { 'x/a': '-1', 'x/b': '0-' } } };
  assert.deepEqual(tableJson(t), { pods: ['x/a', 'x/b'], 'TCP/80': { 'x/a': '-1', 'x/b': '0-' } });
});
