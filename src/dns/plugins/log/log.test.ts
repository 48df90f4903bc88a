import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';

test('README example: only the denial is logged, in the common format', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/log');
  const lines = module.result as string[];
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /^127\.0\.0\.1:\d+ - \d+ "A IN nope\.example\.test\. udp \d+ false 512" NXDOMAIN qr,aa,rd \d+ \d+\.\d+s$/,
  );
});
