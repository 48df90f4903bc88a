import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runReadmeExample } from '../../util/readme-example.js';

it('the README example reads the CNI variables from the headers', async () => {
  const { module } = await runReadmeExample('src/cni/thick');
  assert.deepEqual(module.env, {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'pod-uid',
    CNI_NETNS: '/var/run/netns/twill-node-1-0f1e2d3c',
    CNI_IFNAME: 'eth0',
  });
});
