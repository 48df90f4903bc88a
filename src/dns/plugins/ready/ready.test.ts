import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';
import { startDns } from '../../service.js';
import { ApiClient } from '../../../client/rest.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: /ready answers OK when nothing is pending', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/ready');
  assert.deepEqual(module.result, { status: 200, body: 'OK' });
});

test('503 naming kubernetes while its API cannot be reached', async () => {
  // An API address on loopback where nothing listens: the informers never sync.
  const client = new ApiClient({ server: 'http://127.0.0.1:1' });
  const dns = await startDns({
    listen: '127.0.0.1:0',
    client,
    corefile: '. {\n ready 127.0.0.1:0\n kubernetes cluster.local\n}\n',
  });
  try {
    const res = await fetch(`http://127.0.0.1:${dns.httpPort('127.0.0.1:0')}/ready`);
    assert.equal(res.status, 503);
    assert.equal(await res.text(), 'kubernetes');
  } finally {
    await dns.stop();
    client.close();
  }
});
