/**
 * The reference `macvlan` plugin with twill-ipam, in its four modes, on a veth parent made in a "node"
 * namespace of our own (twq<id>n): bridge lets two macvlans of one parent talk, vepa and private do not (the
 * parent's peer reflects nothing), passthru gives the parent to one attachment only. Every ADD's address
 * comes from twill-ipam (198.51.100.0/24) and every DEL gives it back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { echoFrom, echoServer } from '../../linux/testing.js';
import { type PluginEnv, cniPath, execPlugin, referencePluginDir } from './testing.js';

const id = crypto.randomBytes(3).toString('hex');
const nodeNS = `twq${id}n`;
const pods = [`twq${id}a`, `twq${id}b`];
const parent = `twqdm${id}`;
let dataDir: string;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const reservations = () =>
  fs.existsSync(path.join(dataDir, 'mv'))
    ? fs.readdirSync(path.join(dataDir, 'mv')).filter((f) => /^\d/.test(f))
    : [];

before(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-twq-macvlan-'));
  ip('netns', 'add', nodeNS);
  // This kernel has no dummy driver: the parent is one end of a veth pair whose other end stays unused.
  ip('-n', nodeNS, 'link', 'add', parent, 'type', 'veth', 'peer', 'name', `${parent}p`);
  ip('-n', nodeNS, 'link', 'set', parent, 'up');
  ip('-n', nodeNS, 'link', 'set', `${parent}p`, 'up');
});

after(() => {
  for (const ns of [...pods, nodeNS]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not there
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const conf = (mode: string) => ({
  cniVersion: '1.0.0',
  name: 'mv',
  type: 'macvlan',
  master: parent,
  mode,
  ipam: { type: 'twill-ipam', dataDir, ranges: [[{ subnet: '198.51.100.0/24' }]] },
});

const env = (command: string, pod: string): PluginEnv => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: `twq-${id}-${pod}`,
  CNI_NETNS: `/var/run/netns/${pod}`,
  CNI_IFNAME: 'eth0',
  CNI_PATH: cniPath,
});

/** The reference plugin, exec'd in the node namespace (where the parent is), as a runtime there would. */
const macvlan = (command: string, pod: string, mode: string) =>
  execPlugin(path.join(referencePluginDir, 'macvlan'), env(command, pod), conf(mode), [
    'ip',
    'netns',
    'exec',
    nodeNS,
  ]);

async function addBoth(mode: string): Promise<string[]> {
  const addrs: string[] = [];
  for (const pod of pods) {
    ip('netns', 'add', pod);
    ip('-n', pod, 'link', 'set', 'lo', 'up');
    const r = await macvlan('ADD', pod, mode);
    assert.equal(r.code, 0, `${mode} ADD: ${r.stdout}${r.stderr}`);
    assert.equal(r.json.interfaces[0].name, 'eth0');
    const addr = r.json.ips[0].address as string;
    assert.match(addr, /^198\.51\.100\.\d+\/24$/);
    addrs.push(addr.split('/')[0]);
    const link = JSON.parse(ip('-j', '-d', '-n', pod, 'link', 'show', 'eth0'))[0];
    assert.equal(link.linkinfo.info_kind, 'macvlan');
    assert.equal(link.linkinfo.info_data.mode, mode);
  }
  return addrs;
}

async function delBoth(mode: string): Promise<void> {
  for (const pod of pods) {
    const r = await macvlan('DEL', pod, mode);
    assert.equal(r.code, 0, `${mode} DEL: ${r.stdout}${r.stderr}`);
    ip('netns', 'del', pod);
  }
  assert.deepEqual(reservations(), []);
}

async function reaches(fromNs: string, toNs: string, addr: string): Promise<boolean> {
  const srv = await echoServer(toNs);
  try {
    await echoFrom(fromNs, addr, srv.port);
    return true;
  } catch {
    return false;
  } finally {
    srv.close();
  }
}

describe('reference macvlan with twill-ipam', () => {
  it('bridge: two macvlans of one parent reach each other', async () => {
    const [, b] = await addBoth('bridge');
    assert.equal(reservations().length, 2);
    assert.equal(await reaches(pods[0], pods[1], b), true);
    await delBoth('bridge');
  });

  for (const mode of ['vepa', 'private']) {
    it(`${mode}: traffic between them leaves by the parent, and an unused veth peer reflects nothing`, async () => {
      const [, b] = await addBoth(mode);
      assert.equal(reservations().length, 2);
      assert.equal(await reaches(pods[0], pods[1], b), false);
      await delBoth(mode);
    });
  }

  it('passthru: one attachment takes the parent; a second one is refused and reserves nothing', async () => {
    ip('netns', 'add', pods[0]);
    ip('netns', 'add', pods[1]);
    const first = await macvlan('ADD', pods[0], 'passthru');
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(reservations().length, 1);
    const second = await macvlan('ADD', pods[1], 'passthru');
    assert.notEqual(second.code, 0);
    assert.ok(second.json?.msg, second.stdout);
    assert.equal(reservations().length, 1);
    await delBoth('passthru');
  });
});
