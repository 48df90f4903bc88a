import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';

test('README example: the NXDOMAIN is counted under its zone', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/prometheus');
  const lines = module.result as string[];
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /^twill_dns_responses_total\{server="dns:\/\/127\.0\.0\.1:0",zone="example\.test\.",rcode="NXDOMAIN"\} 1$/,
  );
});
