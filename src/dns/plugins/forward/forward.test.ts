import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';
import { startDns } from '../../service.js';
import { startStubUpstream } from '../../stub.js';
import { query } from '../../client.js';
import { parseCorefile } from '../../corefile/parse.js';
import { parseForward } from './plugin.js';
import { Rcode } from '../../codec/constants.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: a name forwarded to a stub upstream', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/forward');
  assert.deepEqual(module.result, ['203.0.113.7']);
});

test('options parse as CoreDNS reads them, bad ones fail with the line', () => {
  const d = parseCorefile(
    '. {\n forward . 127.0.0.1:5300 dns://[::1]:5301 {\n  policy round_robin\n  max_fails 3\n  health_check 1s no_rec\n  max_concurrent 10\n  except example.org\n }\n}\n',
  )[0].directives[0];
  const c = parseForward(d);
  assert.deepEqual(c.to, [
    { host: '127.0.0.1', port: 5300 },
    { host: '::1', port: 5301 },
  ]);
  assert.equal(c.policy, 'round_robin');
  assert.equal(c.maxFails, 3);
  assert.equal(c.healthCheckMs, 1000);
  assert.equal(c.healthRecursion, false);
  assert.deepEqual(c.except, ['example.org.']);
  const bad = parseCorefile('. {\n\n forward . 127.0.0.1 {\n  policy fastest\n }\n}\n')[0].directives[0];
  assert.throws(() => parseForward(bad), /Corefile:4 .*plugin\/policy: unknown policy 'fastest'/);
  const tls = parseCorefile('. {\n forward . tls://1.1.1.1\n}\n')[0].directives[0];
  assert.throws(() => parseForward(tls), /only dns:\/\//);
});

test('several upstreams: a silent one is marked down and skipped, health checks bring it back', async () => {
  const a = await startStubUpstream({ 'x.example.': '203.0.113.1' });
  const b = await startStubUpstream({ 'x.example.': '203.0.113.2' });
  const dns = await startDns({
    listen: '127.0.0.1:0',
    corefile: `. {\n forward . 127.0.0.1:${a.port} 127.0.0.1:${b.port} {\n  policy sequential\n  max_fails 1\n  health_check 200ms\n }\n}\n`,
  });
  try {
    assert.deepEqual(
      (await query('127.0.0.1', dns.port, 'x.example')).answers.map((r) => r.data),
      ['203.0.113.1'],
    );
    a.silent = true;
    // The first try waits for a's timeout, then b answers; after that a is down and b answers at once.
    assert.deepEqual(
      (await query('127.0.0.1', dns.port, 'x.example', 'A', { timeoutMs: 6000 })).answers.map((r) => r.data),
      ['203.0.113.2'],
    );
    const t0 = Date.now();
    assert.deepEqual(
      (await query('127.0.0.1', dns.port, 'x.example')).answers.map((r) => r.data),
      ['203.0.113.2'],
    );
    assert.ok(Date.now() - t0 < 500, 'the down upstream is skipped');
    a.silent = false;
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(
      (await query('127.0.0.1', dns.port, 'x.example')).answers.map((r) => r.data),
      ['203.0.113.1'],
    );
  } finally {
    await dns.stop();
    await a.stop();
    await b.stop();
  }
});

test('round_robin spreads queries, force_tcp goes over TCP, all down is SERVFAIL', async () => {
  const a = await startStubUpstream({ 'y.example.': '203.0.113.1' });
  const b = await startStubUpstream({ 'y.example.': '203.0.113.2' });
  const dns = await startDns({
    listen: '127.0.0.1:0',
    corefile: `. {\n forward . 127.0.0.1:${a.port} 127.0.0.1:${b.port} {\n  policy round_robin\n  force_tcp\n }\n}\n`,
  });
  try {
    for (let i = 0; i < 6; i++) await query('127.0.0.1', dns.port, 'y.example');
    assert.equal(a.total(), 3);
    assert.equal(b.total(), 3);
    a.silent = true;
    b.silent = true;
    const r = await query('127.0.0.1', dns.port, 'y.example', 'A', { timeoutMs: 8000 });
    assert.equal(r.rcode, Rcode.SERVFAIL);
  } finally {
    await dns.stop();
    await a.stop();
    await b.stop();
  }
});

test('max_concurrent refuses what is over the limit; prefer_udp retries a truncated answer over TCP', async () => {
  const many = Array.from({ length: 100 }, (_, i) => `203.0.113.${i + 1}`);
  const up = await startStubUpstream({ 'big.example.': many, 'slow.example.': '203.0.113.1' });
  const dns = await startDns({
    listen: '127.0.0.1:0',
    corefile: `. {\n forward . 127.0.0.1:${up.port} {\n  max_concurrent 1\n  prefer_udp\n  max_fails 0\n }\n}\n`,
  });
  try {
    // A client over TCP: asked upstream over UDP first (truncated at 1232), then over TCP: all 100.
    const big = await query('127.0.0.1', dns.port, 'big.example', 'A', { tcp: true, edns: 4096 });
    assert.equal(big.answers.length, 100);
    assert.equal(up.seen.get('big.example.'), 2);
    // Over UDP the client gets TC and asks again over TCP itself.
    const udp = await query('127.0.0.1', dns.port, 'big.example', 'A', { edns: 4096 });
    assert.equal(udp.tc, true);
    up.silent = true;
    const slow = query('127.0.0.1', dns.port, 'slow.example', 'A', { timeoutMs: 8000 });
    await new Promise((r) => setTimeout(r, 100));
    const refused = await query('127.0.0.1', dns.port, 'other.example');
    assert.equal(refused.rcode, Rcode.REFUSED);
    assert.equal((await slow).rcode, Rcode.SERVFAIL);
  } finally {
    await dns.stop();
    await up.stop();
  }
});
