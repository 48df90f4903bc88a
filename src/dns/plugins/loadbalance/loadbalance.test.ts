import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';
import { startDns } from '../../service.js';
import { startStubUpstream } from '../../stub.js';
import { query } from '../../client.js';

test('README example: the CNAME stays first, every address comes first sometimes', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/loadbalance');
  assert.deepEqual(module.result, { cnameFirst: true, distinctFirsts: 3 });
});

test('through a server: answers from a cached upstream come in varying order', async () => {
  const up = await startStubUpstream({ 'm.example.': ['203.0.113.1', '203.0.113.2', '203.0.113.3'] });
  const dns = await startDns({
    listen: '127.0.0.1:0',
    corefile: `. {\n loadbalance\n cache\n forward . 127.0.0.1:${up.port}\n}\n`,
  });
  try {
    const firsts = new Set<unknown>();
    for (let i = 0; i < 40; i++)
      firsts.add((await query('127.0.0.1', dns.port, 'm.example')).answers[0].data);
    assert.equal(firsts.size, 3);
  } finally {
    await dns.stop();
    await up.stop();
  }
});
