import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runReadmeExample } from '../../util/readme-example.js';

it('the README example renders the DNAT rule it shows', async () => {
  const { module } = await runReadmeExample('src/cni/portmap');
  assert.match(
    String(module.script),
    /\nadd rule ip twill-portmap hostports tcp dport 8080 dnat to 198\.51\.100\.5:80 comment "twill pod-uid eth0"\n/,
  );
});
