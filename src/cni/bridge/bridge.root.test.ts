/**
 * twill-cni run as a runtime runs it: exec'd with the CNI environment and the config on stdin, inside a "node"
 * namespace (so the bridge, forwarding sysctls and nft tables live there, never on the host), attaching "pod"
 * namespaces. IPAM is the reference host-local unless a case says otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { linkAddVeth, linkList, linkShow } from '../../linux/link.js';
import { addrDel } from '../../linux/addr.js';
import { netnsAdd, netnsDelete, netnsExec } from '../../linux/netns.js';
import { echoFrom, echoServer } from '../../linux/testing.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const PLUGIN_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-cni-bin-'));
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-cni-ipam-'));
const id = crypto.randomBytes(3).toString('hex');
const node = `twill-t-n${id}`;
const bridge = `twt${id}`;
const pods: string[] = [];
const nsPath = (ns: string) => `/var/run/netns/${ns}`;

before(async () => {
  // The runtime finds twill-cni in CNI_PATH next to the reference plugins.
  fs.symlinkSync(path.join(repo, 'bin', 'twill-cni'), path.join(PLUGIN_DIR, 'twill-cni'));
  fs.symlinkSync(path.join(repo, 'bin', 'twill-ipam'), path.join(PLUGIN_DIR, 'twill-ipam'));
  await netnsAdd(node);
});

after(async () => {
  for (const ns of pods) await netnsDelete(ns);
  await netnsDelete(node); // takes the bridge, host veths and nft tables with it
  fs.rmSync(PLUGIN_DIR, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function pod(name: string): Promise<string> {
  const ns = `twill-t-${name}${id}`;
  await netnsAdd(ns);
  pods.push(ns);
  return ns;
}

function conf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, any> {
  return {
    cniVersion: '1.0.0',
    name: 'twtest',
    type: 'twill-cni',
    bridge,
    isGateway: true,
    isDefaultGateway: true,
    hairpinMode: true,
    mtu: 1400,
    ...extra,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '198.51.100.0/24' }]], ...ipam },
  };
}

interface Outcome {
  code: number | null;
  stdout: string;
  json: any;
}

/** Execs a plugin inside the node namespace, as a runtime does. */
function cni(
  plugin: string,
  command: string,
  config: Record<string, unknown>,
  env: { netns?: string; containerID: string; ifName?: string; extra?: Record<string, string> },
): Promise<Outcome> {
  const file = plugin.startsWith('twill-') ? path.join(PLUGIN_DIR, plugin) : `/usr/lib/cni/${plugin}`;
  const child = spawn('ip', ['netns', 'exec', node, file], {
    env: {
      PATH: process.env.PATH,
      TWILL_LOG_LEVEL: 'silent',
      CNI_COMMAND: command,
      CNI_CONTAINERID: env.containerID,
      CNI_NETNS: env.netns ?? '',
      CNI_IFNAME: env.ifName ?? 'eth0',
      CNI_PATH: `${PLUGIN_DIR}:/usr/lib/cni`,
      ...env.extra,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(JSON.stringify(config));
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      let json: any;
      try {
        json = stdout ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, json });
    });
  });
}

async function ok(p: Promise<Outcome>): Promise<any> {
  const out = await p;
  assert.equal(out.code, 0, `plugin failed: ${out.stdout}`);
  return out.json;
}

const hostVeths = async () => (await linkList({ netns: node, type: 'veth' })).map((l) => l.name);
const reserved = () => {
  const dir = path.join(dataDir, 'twtest');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
};
const masqRules = async () => {
  try {
    return await netnsExec(node, ['nft', 'list', 'table', 'ip', 'twill-cni']);
  } catch {
    return '';
  }
};

describe('twill-cni in real namespaces', () => {
  let a: string;
  let b: string;
  let resultA: any;
  let resultB: any;

  it('ADD gives two pods on one bridge addresses, and they reach each other and the node', async () => {
    a = await pod('a');
    b = await pod('b');
    const c = conf({ ipMasq: true });
    resultA = await ok(cni('twill-cni', 'ADD', c, { netns: nsPath(a), containerID: 'pod-a' }));
    resultB = await ok(cni('twill-cni', 'ADD', c, { netns: nsPath(b), containerID: 'pod-b' }));

    assert.equal(resultA.cniVersion, '1.0.0');
    assert.deepEqual(
      resultA.interfaces.map((i: any) => [i.name === bridge, i.sandbox]),
      [
        [true, undefined],
        [false, undefined],
        [false, nsPath(a)],
      ],
    );
    assert.equal(resultA.interfaces[2].name, 'eth0');
    assert.match(resultA.interfaces[1].name, /^veth[0-9a-f]{8}$/);
    assert.equal(resultA.ips.length, 1);
    assert.equal(resultA.ips[0].interface, 2);
    assert.equal(resultA.ips[0].gateway, '198.51.100.1');
    assert.deepEqual(resultA.routes, [{ dst: '0.0.0.0/0', gw: '198.51.100.1' }]);
    const ipA = resultA.ips[0].address.split('/')[0];
    const ipB = resultB.ips[0].address.split('/')[0];
    assert.notEqual(ipA, ipB);

    // What the kernel says, not what we said.
    const eth0 = await linkShow('eth0', { netns: a });
    assert.equal(eth0?.mac, resultA.interfaces[2].mac);
    assert.equal(eth0?.mtu, 1400);
    const host = await linkShow(resultA.interfaces[1].name, { netns: node });
    assert.equal(host?.master, bridge);
    assert.equal(host?.hairpin, true);
    assert.equal(host?.peerIndex, eth0?.index);
    const routes = await netnsExec(a, ['ip', 'route', 'show', 'default']);
    assert.match(routes, /^default via 198\.51\.100\.1 dev eth0/);
    assert.match(
      await netnsExec(node, ['ip', '-4', 'addr', 'show', 'dev', bridge]),
      /inet 198\.51\.100\.1\/24/,
    );
    assert.equal((await netnsExec(node, ['sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), '1');
    assert.match(
      await masqRules(),
      new RegExp(`ip saddr ${ipA.replace(/\./g, '\\.')} ip daddr != 198\\.51\\.100\\.0/24`),
    );

    const server = await echoServer(a);
    try {
      await echoFrom(b, ipA, server.port); // pod to pod, through the bridge
      await echoFrom(node, ipA, server.port); // the host side of the bridge
    } finally {
      server.close();
    }
  });

  it('CHECK passes on what ADD made and fails once the address is gone', async () => {
    const c = { ...conf({ ipMasq: true }), prevResult: resultA };
    await ok(cni('twill-cni', 'CHECK', c, { netns: nsPath(a), containerID: 'pod-a' }));
    const missing = await cni('twill-cni', 'CHECK', conf(), { netns: nsPath(a), containerID: 'pod-a' });
    assert.equal(missing.json.msg, 'Required prevResult missing');

    await addrDel('eth0', resultB.ips[0].address, { netns: b });
    const out = await cni(
      'twill-cni',
      'CHECK',
      { ...conf(), prevResult: resultB },
      { netns: nsPath(b), containerID: 'pod-b' },
    );
    assert.equal(out.code, 1);
    assert.equal(out.json.msg, `Failed to match addr ${resultB.ips[0].address} on interface eth0`);
  });

  it('DEL removes the veth, frees the address and the masquerade rule, and succeeds again', async () => {
    const c = { ...conf({ ipMasq: true }), prevResult: resultA };
    const ipA = resultA.ips[0].address.split('/')[0];
    assert.ok(reserved().includes(ipA));
    await ok(cni('twill-cni', 'DEL', c, { netns: nsPath(a), containerID: 'pod-a' }));
    assert.equal(await linkShow('eth0', { netns: a }), undefined);
    assert.ok(!(await hostVeths()).includes(resultA.interfaces[1].name));
    assert.ok(!reserved().includes(ipA), 'the address is free');
    assert.ok(!(await masqRules()).includes(`ip saddr ${ipA} `));
    await ok(cni('twill-cni', 'DEL', c, { netns: nsPath(a), containerID: 'pod-a' }));

    // The namespace is gone before DEL (a crashed sandbox): DEL still frees everything.
    await netnsDelete(b);
    const ipB = resultB.ips[0].address.split('/')[0];
    await ok(
      cni(
        'twill-cni',
        'DEL',
        { ...conf({ ipMasq: true }), prevResult: resultB },
        { netns: nsPath(b), containerID: 'pod-b' },
      ),
    );
    await ok(cni('twill-cni', 'DEL', conf({ ipMasq: true }), { containerID: 'pod-b' })); // no CNI_NETNS at all
    assert.ok(!reserved().includes(ipB));
    assert.deepEqual(await hostVeths(), []);
    assert.ok(!(await masqRules()).includes('masquerade'));
  });

  it('an interface name that exists in the netns is the reference error, and nothing is left behind', async () => {
    const p = await pod('x');
    await linkAddVeth({ name: 'eth0', peerName: 'eth1' }, { netns: p });
    const out = await cni('twill-cni', 'ADD', conf(), { netns: nsPath(p), containerID: 'pod-x' });
    assert.equal(out.code, 1);
    assert.deepEqual(out.json, {
      cniVersion: '1.0.0',
      code: 999,
      msg: 'container veth name provided (eth0) already exists',
    });
    assert.deepEqual(await hostVeths(), []);
    assert.deepEqual(reserved(), []);
  });

  it('a failing IPAM (bad range) leaves no veth behind', async () => {
    const p = await pod('y');
    const bad = conf({}, { ranges: [[{ subnet: '198.51.100.0/24', rangeStart: '203.0.113.10' }]] });
    const out = await cni('twill-cni', 'ADD', bad, { netns: nsPath(p), containerID: 'pod-y' });
    assert.equal(out.code, 1);
    assert.match(out.json.msg, /203\.0\.113\.10/);
    assert.deepEqual(await hostVeths(), []);
    assert.equal(await linkShow('eth0', { netns: p }), undefined);
  });

  it('a failure after IPAM rolls back the reservation, the veth and the masquerade rule', async () => {
    const p = await pod('z');
    const out = await cni('twill-cni', 'ADD', conf({ ipMasq: true }), {
      netns: nsPath(p),
      containerID: 'pod-z',
      extra: { TWILL_CNI_TEST_FAIL_AFTER_IPAM: 'injected failure' },
    });
    assert.equal(out.code, 1);
    assert.equal(out.json.msg, 'injected failure');
    assert.deepEqual(await hostVeths(), []);
    assert.deepEqual(reserved(), []);
    assert.ok(!(await masqRules()).includes('masquerade'));
  });

  it('answers 0.3.1 configs in the 0.3.1 result format, which portmap, tuning and bandwidth consume in a chain', async () => {
    const p = await pod('c');
    const list = [
      conf({ cniVersion: '0.3.1' }),
      {
        cniVersion: '0.3.1',
        name: 'twtest',
        type: 'portmap',
        capabilities: { portMappings: true },
        runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] },
      },
      {
        cniVersion: '0.3.1',
        name: 'twtest',
        type: 'tuning',
        sysctl: { 'net.ipv4.conf.eth0.arp_ignore': '1' },
      },
      {
        // Ingress shaping only: it is a tbf on the host-side veth (egress would need the ifb driver).
        cniVersion: '0.3.1',
        name: 'twtest',
        type: 'bandwidth',
        ingressRate: 8_000_000,
        ingressBurst: 1_000_000,
      },
    ];
    let prev: any;
    for (const plugin of list) {
      const input = prev ? { ...plugin, prevResult: prev } : plugin;
      prev = await ok(cni(plugin.type as string, 'ADD', input, { netns: nsPath(p), containerID: 'pod-c' }));
    }
    assert.equal(prev.cniVersion, '0.3.1');
    assert.equal(prev.ips[0].version, '4');
    const ip = prev.ips[0].address.split('/')[0];
    assert.equal((await netnsExec(p, ['sysctl', '-n', 'net.ipv4.conf.eth0.arp_ignore'])).trim(), '1');
    // bandwidth found the host-side veth in twill-cni's result (the interface without a sandbox).
    const hostVeth = prev.interfaces.find(
      (i: any) => i.name !== 'eth0' && !i.sandbox && i.name !== prev.interfaces[0].name,
    )?.name;
    assert.ok(hostVeth, JSON.stringify(prev.interfaces));
    assert.match(await netnsExec(node, ['tc', 'qdisc', 'show', 'dev', hostVeth]), /qdisc tbf .*rate 8Mbit/);
    assert.match(
      await netnsExec(node, ['iptables-save', '-t', 'nat']),
      new RegExp(`--to-destination ${ip.replace(/\./g, '\\.')}:80`),
    );

    for (const plugin of [...list].reverse()) {
      await ok(
        cni(
          plugin.type as string,
          'DEL',
          { ...plugin, prevResult: prev },
          { netns: nsPath(p), containerID: 'pod-c' },
        ),
      );
    }
    assert.doesNotMatch(await netnsExec(node, ['iptables-save', '-t', 'nat']), /18080/);
    assert.deepEqual(await hostVeths(), []);
    assert.deepEqual(reserved(), []);
  });
});

describe('twill-cni with twill-ipam', () => {
  it('a dual-stack pod gets one address of each family and a default route for each; DEL frees both', async () => {
    const p = await pod('d');
    const config = {
      ...conf({ name: 'twdual', bridge: `${bridge}d` }),
      cniVersion: '1.1.0',
      name: 'twdual',
      ipam: {
        type: 'twill-ipam',
        dataDir,
        ranges: [[{ subnet: '203.0.113.0/24' }], [{ subnet: '2001:db8:7::/64' }]],
      },
    };
    const result = await ok(cni('twill-cni', 'ADD', config, { netns: nsPath(p), containerID: 'pod-d' }));
    const addrs = result.ips.map((i: any) => i.address);
    assert.equal(addrs.length, 2);
    assert.match(addrs[0], /^203\.0\.113\.\d+\/24$/);
    assert.match(addrs[1], /^2001:db8:7::[0-9a-f]+\/64$/);
    const inPod = await netnsExec(p, ['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.ok(inPod.includes(addrs[0]), inPod);
    assert.ok(inPod.includes(addrs[1]), inPod);
    assert.match(await netnsExec(p, ['ip', 'route', 'show', 'default']), /via 203\.0\.113\.1/);
    assert.match(await netnsExec(p, ['ip', '-6', 'route', 'show', 'default']), /via 2001:db8:7::1/);
    const files = () =>
      fs.existsSync(path.join(dataDir, 'twdual')) ? fs.readdirSync(path.join(dataDir, 'twdual')) : [];
    assert.ok(files().includes(addrs[0].split('/')[0]));
    await ok(
      cni('twill-cni', 'DEL', { ...config, prevResult: result }, { netns: nsPath(p), containerID: 'pod-d' }),
    );
    assert.ok(!files().some((f) => f === addrs[0].split('/')[0] || f === addrs[1].split('/')[0]));
    assert.deepEqual(await hostVeths(), []);
  });
});
