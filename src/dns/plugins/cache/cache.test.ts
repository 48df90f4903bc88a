import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';
import { startDns } from '../../service.js';
import { startStubUpstream } from '../../stub.js';
import { query } from '../../client.js';
import { parseCorefile } from '../../corefile/parse.js';
import { CachePlugin, parseCache } from './plugin.js';
import { Rcode } from '../../codec/constants.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: the second question is a hit, TTL capped', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/cache');
  assert.deepEqual(module.result, { upstreamQueries: 1, ttls: [30, 30] });
});

test('options', () => {
  const d = parseCorefile(
    '. {\n cache 60 example.org {\n  success 100 50 2\n  denial 10\n  prefetch 3 30s 20%\n  serve_stale 10m verify\n  disable denial example.org\n }\n}\n',
  )[0].directives[0];
  const c = parseCache(d, ['.']);
  assert.deepEqual(c.zones, ['example.org.']);
  assert.deepEqual(c.success, { capacity: 100, maxTtl: 50, minTtl: 2 });
  assert.deepEqual(c.denial, { capacity: 10, maxTtl: 60, minTtl: 5 });
  assert.deepEqual(c.prefetch, { amount: 3, durationMs: 30_000, percentage: 20 });
  assert.deepEqual(c.serveStale, { durationMs: 600_000, verify: true });
  assert.deepEqual(c.disableDenial, ['example.org.']);
  const bad = parseCorefile('. {\n cache {\n  serve_stale 1m sometimes\n }\n}\n')[0].directives[0];
  assert.throws(() => parseCache(bad, ['.']), /Corefile:3 .*refresh mode/);
});

async function withCache(
  corefileBody: (port: number) => string,
  ttl: number,
  fn: (
    dns: { port: number },
    up: Awaited<ReturnType<typeof startStubUpstream>>,
    cache: CachePlugin,
  ) => Promise<void>,
) {
  const up = await startStubUpstream({ 'a.example.': '203.0.113.1' }, ttl);
  const dns = await startDns({ listen: '127.0.0.1:0', corefile: corefileBody(up.port) });
  try {
    await fn(dns, up, dns.plugins().find((p) => p.name === 'cache') as CachePlugin);
  } finally {
    await dns.stop();
    await up.stop();
  }
}

test('positive and negative entries expire after their TTL', async () => {
  await withCache(
    (port) => `. {\n cache {\n  success 10 1 1\n  denial 10 1 1\n }\n forward . 127.0.0.1:${port}\n}\n`,
    60,
    async (dns, up, cache) => {
      let now = Date.now();
      cache.now = () => now;
      await query('127.0.0.1', dns.port, 'a.example');
      await query('127.0.0.1', dns.port, 'a.example');
      const nx1 = await query('127.0.0.1', dns.port, 'nope.example');
      await query('127.0.0.1', dns.port, 'nope.example');
      assert.equal(nx1.rcode, Rcode.NXDOMAIN);
      assert.equal(up.total(), 2, 'one upstream question each');
      assert.deepEqual(cache.size(), { success: 1, denial: 1 });
      now += 1100;
      await query('127.0.0.1', dns.port, 'a.example');
      await query('127.0.0.1', dns.port, 'nope.example');
      assert.equal(up.total(), 4, 'expired entries are fetched again');
    },
  );
});

test('capacity evicts; serve_stale answers from an expired entry when the upstream is gone', async () => {
  await withCache(
    (port) =>
      `. {\n cache {\n  success 1\n  serve_stale 1h\n }\n forward . 127.0.0.1:${port} {\n  max_fails 0\n }\n}\n`,
    5,
    async (dns, up, cache) => {
      let now = Date.now();
      cache.now = () => now;
      up.records.set('b.example.', ['203.0.113.2']);
      await query('127.0.0.1', dns.port, 'a.example');
      await query('127.0.0.1', dns.port, 'b.example');
      assert.deepEqual(cache.size(), { success: 1, denial: 0 });
      now += 10_000;
      up.silent = true;
      const stale = await query('127.0.0.1', dns.port, 'b.example');
      assert.deepEqual(
        stale.answers.map((r) => [r.data, r.ttl]),
        [['203.0.113.2', 0]],
      );
    },
  );
});

test('prefetch refreshes a popular entry before it expires', async () => {
  await withCache(
    (port) => `. {\n cache {\n  prefetch 2 1m 50%\n }\n forward . 127.0.0.1:${port}\n}\n`,
    10,
    async (dns, up, cache) => {
      let now = Date.now();
      cache.now = () => now;
      await query('127.0.0.1', dns.port, 'a.example');
      now += 6000; // 4 s of 10 left: under 50 %
      await query('127.0.0.1', dns.port, 'a.example');
      await query('127.0.0.1', dns.port, 'a.example');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(up.total(), 2, 'one prefetch');
      const fresh = await query('127.0.0.1', dns.port, 'a.example');
      assert.equal(fresh.answers[0].ttl, 10);
    },
  );
});
