/**
 * `twill run`, `twill exec` and `twill logs` for real, with the agent in the host namespace (bridge twq<id>)
 * and the scheduler: the four network modes of run, a pod's /etc/hosts and /etc/resolv.conf read from inside
 * it, exit codes passed through, the current and previous runs' logs and a followed log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Resources } from '../client/rest.js';
import { netnsExists } from '../linux/netns.js';
import {
  type NodeFixture,
  deletePodAndWait,
  eventually,
  exec,
  nodeFixture,
  podStatusOf,
  twillBin,
} from './testing.js';

let fx: NodeFixture;
const hostNet = fs.readlinkSync('/proc/self/ns/net');

before(async () => {
  fx = await nodeFixture(12, { controllers: true });
  const resolv = path.join(fx.tmp, 'node-resolv.conf');
  fs.writeFileSync(resolv, 'nameserver 203.0.113.53\nsearch corp.example\n');
  await fx.start({ clusterDNS: ['10.94.0.10'], resolvConf: resolv });
});

after(async () => {
  await fx?.cleanup();
});

/** The twill CLI against the fixture's cluster: stdout, stderr and exit code. */
async function twill(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [twillBin, ...args], {
      env: { ...process.env, TWILL_LOG_LEVEL: 'warn', KUBECONFIG: fx.kubeconfig },
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** `twill exec POD -- ARGV...`, which must succeed. */
async function inPod(pod: string, ...argv: string[]): Promise<string> {
  const r = await twill('exec', `default/${pod}`, '--', ...argv);
  assert.equal(r.code, 0, `twill exec ${pod} ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function running(name: string) {
  return eventually(`${name} Running`, async () => {
    const s = await podStatusOf(fx.client, name);
    return s.phase === 'Running' ? s : undefined;
  });
}

test('twill run (bridge): a pod on the pod network, with the labels, its /etc files read through twill exec', async () => {
  const r = await twill(
    'run',
    'web',
    '-l',
    'app=web,tier=front',
    '--',
    process.execPath,
    twillBin,
    'netexec',
    '--http',
    '8080',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'pod/web created\n');
  const pod = await fx.client.get(Resources.pods, 'default', 'web');
  assert.deepEqual(pod.metadata.labels, { run: 'web', app: 'web', tier: 'front' });
  assert.equal(pod.metadata.annotations?.['twill.dev/network'], 'bridge');
  const s = await running('web');
  assert.ok(s.podIP?.startsWith('10.246.12.'));
  assert.equal(
    await inPod('web', 'cat', '/etc/resolv.conf'),
    'search default.svc.cluster.local svc.cluster.local cluster.local corp.example\n' +
      'nameserver 10.94.0.10\n' +
      'options ndots:5\n',
  );
  const hosts = await inPod('web', 'cat', '/etc/hosts');
  assert.match(hosts, /^# Kubernetes-managed hosts file\.\n127\.0\.0\.1\tlocalhost\n/);
  assert.ok(hosts.endsWith(`\n${s.podIP}\tweb\n`), hosts);
  assert.match(
    await inPod('web', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'),
    new RegExp(`inet ${s.podIP!.replace(/\./g, '\\.')}/`),
  );
  // The exit code comes through, and kubectl's note with it.
  const failed = await twill('exec', 'web', '--', 'sh', '-c', 'exit 7');
  assert.equal(failed.code, 7);
  assert.equal(failed.stderr, 'command terminated with exit code 7\n');
  const badC = await twill('exec', 'web', '-c', 'nope', '--', 'true');
  assert.notEqual(badC.code, 0);
  assert.match(badC.stderr, /container nope is not valid for pod web \[TWILL_CONTAINER_NOT_FOUND\]/);
  // From the host over the bridge.
  await eventually('web listening', async () => {
    await exec(process.execPath, [twillBin, 'connect', `${s.podIP}:8080`, '--timeout', '1s']);
    return true;
  });
});

test('dnsPolicy None with dnsConfig, hostname, subdomain and hostAliases, seen from inside the pod', async () => {
  await fx.client.create(Resources.pods, 'default', {
    metadata: { name: 'db-0', namespace: 'default' },
    spec: {
      hostname: 'db',
      subdomain: 'dbs',
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['203.0.113.1'],
        searches: ['x.example'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
      },
      hostAliases: [{ ip: '198.51.100.7', hostnames: ['legacy.example', 'legacy'] }],
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'c', image: 'twill', command: ['sleep', '3600'] }],
    },
  });
  const s = await running('db-0');
  assert.equal(
    await inPod('db-0', 'cat', '/etc/resolv.conf'),
    'search x.example\nnameserver 203.0.113.1\noptions ndots:2 edns0\n',
  );
  const hosts = await inPod('db-0', 'cat', '/etc/hosts');
  assert.ok(
    hosts.endsWith(
      `${s.podIP}\tdb.dbs.default.svc.cluster.local\tdb\n\n# Entries added by HostAliases.\n198.51.100.7\tlegacy.example\tlegacy\n`,
    ),
    hosts,
  );
  const pod = await fx.client.get(Resources.pods, 'default', 'db-0');
  const ns = fx.agent!.netnsFor(pod);
  assert.ok(fs.existsSync(`/etc/netns/${ns}/hosts`));
  await deletePodAndWait(fx.client, 'db-0');
  // The files go with the sandbox.
  assert.equal(fs.existsSync(`/etc/netns/${ns}`), false);
});

test('twill run --net container:web joins web’s namespace; --net host runs in the node’s; --net none has only lo', async () => {
  assert.equal((await twill('run', 'side', '--net', 'container:web', '--', 'sleep', '3600')).code, 0);
  assert.equal((await twill('run', 'hostp', '--net', 'host', '--', 'sleep', '3600')).code, 0);
  assert.equal((await twill('run', 'lonely', '--net', 'none', '--', 'sleep', '3600')).code, 0);
  const web = await running('web');
  const side = await running('side');
  assert.equal(side.podIP, web.podIP);
  const webNs = await inPod('web', 'readlink', '/proc/self/ns/net');
  assert.equal(await inPod('side', 'readlink', '/proc/self/ns/net'), webNs);
  // web's server on side's loopback: one namespace.
  await inPod('side', process.execPath, twillBin, 'connect', '127.0.0.1:8080');

  await running('hostp');
  const hostp = await fx.client.get(Resources.pods, 'default', 'hostp');
  assert.equal((hostp.spec as { hostNetwork?: boolean }).hostNetwork, true);
  assert.equal((await inPod('hostp', 'readlink', '/proc/self/ns/net')).trim(), hostNet);

  const lonely = await running('lonely');
  assert.equal(lonely.podIP, undefined);
  const links = await inPod('lonely', 'ip', '-o', 'link', 'show');
  assert.deepEqual(
    links
      .trim()
      .split('\n')
      .map((l) => l.split(':')[1].trim()),
    ['lo'],
  );
  assert.match(links, /state UNKNOWN/);
  assert.notEqual((await inPod('lonely', 'readlink', '/proc/self/ns/net')).trim(), hostNet);
  const lonelyNs = fx.agent!.netnsFor(await fx.client.get(Resources.pods, 'default', 'lonely'));

  // Deleting the pod that joined leaves web's namespace alone.
  const webPod = await fx.client.get(Resources.pods, 'default', 'web');
  await deletePodAndWait(fx.client, 'side');
  assert.ok(netnsExists(fx.agent!.netnsFor(webPod)));
  await inPod('web', 'true');
  await deletePodAndWait(fx.client, 'lonely');
  assert.equal(netnsExists(lonelyNs), false);
  await deletePodAndWait(fx.client, 'hostp');

  const bad = await twill('run', 'bad', '--net', 'bogus', '--', 'true');
  assert.notEqual(bad.code, 0);
  assert.match(
    bad.stderr,
    /--net: expected bridge, host, none or container:POD, got "bogus" \[TWILL_BAD_CONFIG\]/,
  );
  await assert.rejects(fx.client.get(Resources.pods, 'default', 'bad'));
});

test('twill logs: the current run, --previous, and -f following the container', async () => {
  const counter = path.join(fx.tmp, 'runs');
  const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo run-$n; [ $n -ge 2 ] || exit 3; sleep 2; echo later; exec sleep 3600`;
  assert.equal((await twill('run', 'talker', '--', 'sh', '-c', script)).code, 0);
  await eventually('talker restarted', async () => {
    const s = await podStatusOf(fx.client, 'talker');
    return s.containerStatuses?.[0]?.restartCount === 1 && s.containerStatuses[0].state.running
      ? s
      : undefined;
  });
  const args = ['--data-dir', fx.agentDir];
  const follower = spawn(
    process.execPath,
    [twillBin, 'logs', '-f', 'default/talker', ...args, '--kubeconfig', fx.kubeconfig],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let followed = '';
  follower.stdout.on('data', (d) => (followed += d));
  try {
    assert.equal((await twill('logs', 'talker', '--previous', ...args)).stdout, 'run-1\n');
    await eventually(
      'later in the log',
      async () => (await twill('logs', 'talker', ...args)).stdout === 'run-2\nlater\n',
    );
    await eventually(
      'later followed',
      () => followed === 'run-2\nlater\n' || (followed.length > 0 && followed),
      5_000,
    );
    assert.equal(followed, 'run-2\nlater\n');
  } finally {
    follower.kill('SIGINT');
  }
  const none = await twill('logs', 'web', '--previous', ...args);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /previous terminated container "web" in pod "web" not found/);
  await deletePodAndWait(fx.client, 'talker');
  await deletePodAndWait(fx.client, 'web');
});
