import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ipamPlugin } from '../ipam/plugin.js';
import { execPlugin, twillIpamBin } from '../ipam/testing.js';
import { type PluginFuncs } from '../skel/skel.js';
import { SOCKET_ENV, requestCniEnv, startThickServer, type ThickServer } from './server.js';

let tmp: string;
let server: ThickServer;
const served: string[] = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-thick-'));
  // The real IPAM plugin, counting the requests it serves in this process.
  const counted: PluginFuncs = {
    ...ipamPlugin,
    add: (a) => (served.push(`ADD ${a.containerID}`), ipamPlugin.add!(a)),
    del: (a) => (served.push(`DEL ${a.containerID}`), ipamPlugin.del!(a)),
  };
  server = await startThickServer({
    socketPath: path.join(tmp, 'twill.sock'),
    plugins: { 'twill-ipam': counted },
  });
});

after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const conf = () => ({
  cniVersion: '1.0.0',
  name: 'thick',
  type: 'bridge',
  ipam: { type: 'twill-ipam', dataDir: path.join(tmp, 'ipam'), ranges: [[{ subnet: '198.51.100.0/24' }]] },
});

test('the CNI variables travel as X-CNI-* headers', () => {
  assert.deepEqual(requestCniEnv({ 'x-cni-command': 'ADD', 'x-cni-netns': '', 'x-cni-ifname': 'eth0' }), {
    CNI_COMMAND: 'ADD',
    CNI_IFNAME: 'eth0',
  });
});

test('the plugin executable hands ADD and DEL to the server when TWILL_CNI_SOCKET names it', async () => {
  const env = {
    CNI_CONTAINERID: 'thick-1',
    CNI_NETNS: '/var/run/netns/none',
    CNI_IFNAME: 'eth0',
    CNI_PATH: path.dirname(twillIpamBin),
    [SOCKET_ENV]: server.socketPath,
  } as Record<string, string>;
  const add = await execPlugin(twillIpamBin, { ...env, CNI_COMMAND: 'ADD' }, conf());
  assert.equal(add.code, 0, add.stdout + add.stderr);
  assert.equal(add.json.cniVersion, '1.0.0');
  assert.equal(add.json.ips[0].address, '198.51.100.2/24');
  assert.ok(fs.existsSync(path.join(tmp, 'ipam', 'thick', '198.51.100.2')));
  const del = await execPlugin(twillIpamBin, { ...env, CNI_COMMAND: 'DEL' }, conf());
  assert.equal(del.code, 0, del.stdout + del.stderr);
  assert.equal(fs.existsSync(path.join(tmp, 'ipam', 'thick', '198.51.100.2')), false);
  assert.deepEqual(served, ['ADD thick-1', 'DEL thick-1']);
});

test('errors come back as the spec’s JSON with a non-zero exit; without the socket the plugin runs itself', async () => {
  const env = { CNI_CONTAINERID: 'thick-2', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent' };
  const bad = await execPlugin(
    twillIpamBin,
    { ...env, CNI_COMMAND: 'ADD', [SOCKET_ENV]: server.socketPath } as never,
    '{',
  );
  assert.notEqual(bad.code, 0);
  assert.equal(bad.json.code, 6);
  const before = served.length;
  const alone = await execPlugin(twillIpamBin, { ...env, CNI_COMMAND: 'ADD' }, { ...conf(), name: 'alone' });
  assert.equal(alone.code, 0, alone.stdout + alone.stderr);
  assert.equal(served.length, before);
});
