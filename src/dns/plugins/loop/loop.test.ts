import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';
import { startDns } from '../../service.js';
import { startStubUpstream } from '../../stub.js';
import type { LoopPlugin } from './plugin.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: two servers forwarding to each other are found out', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/loop');
  assert.deepEqual(module.result, { detected: true });
});

test('no loop: the probe goes upstream once and nothing is reported', async () => {
  const up = await startStubUpstream({});
  const dns = await startDns({
    listen: '127.0.0.1:0',
    corefile: `. {\n loop\n forward . 127.0.0.1:${up.port}\n}\n`,
  });
  try {
    const loop = dns.plugins().find((p) => p.name === 'loop') as LoopPlugin;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(loop.seen, 1);
    assert.equal(loop.detected, false);
    assert.equal(up.seen.get(loop.probe), 1);
  } finally {
    await dns.stop();
    await up.stop();
  }
});
