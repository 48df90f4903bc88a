/**
 * `twill exec`, `twill logs` and `twill run`: kubectl's exec, logs and run for pods that the agent runs as
 * namespaces and host processes. exec and logs work on the node itself (the pod's namespace, the agent's log
 * files); run goes through the API only.
 */
import { printDeniedConnections } from '../policy/cli.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ApiClient, Resources } from '../client/rest.js';
import type { KubeObject } from '../model/types.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import { defaultDataDir } from '../util/paths.js';
import { NetworkAnnotation, networkMode } from './agent.js';
import { type ClientOpts, connect } from '../cli/client-commands.js';

type Conn = ClientOpts;

/** "NS/POD" or "POD" (in -n, or the kubeconfig's namespace). */
export function parsePodRef(arg: string, defaultNs: string): { namespace: string; name: string } {
  const parts = arg.replace(/^(pods?|po)\//, '').split('/');
  if (parts.length === 1 && parts[0]) return { namespace: defaultNs, name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  throw new TwillError(ErrorCodes.BadConfig, `expected NAMESPACE/POD or POD, got "${arg}"`);
}

interface ContainerLike {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  workingDir?: string;
}

/** The container -c names, or the pod's first (kubectl's default, with its note when there are several). */
export function pickContainer(
  pod: KubeObject,
  name: string | undefined,
  note: (s: string) => void,
): ContainerLike {
  const containers = ((pod.spec as { containers?: ContainerLike[] })?.containers ?? []) as ContainerLike[];
  if (name) {
    const c = containers.find((x) => x.name === name);
    if (!c) {
      throw new TwillError(
        ErrorCodes.ContainerNotFound,
        `container ${name} is not valid for pod ${pod.metadata.name}`,
      );
    }
    return c;
  }
  if (containers.length > 1) {
    note(`Defaulted container "${containers[0].name}" out of: ${containers.map((c) => c.name).join(', ')}\n`);
  }
  return containers[0];
}

/**
 * The network namespace a pod's processes run in on this machine: its own (`<node ns or twill-node>-<uid8>`),
 * the one it joined (`container:<pod>`), or for hostNetwork the node's (`twill-<cluster>-<node>` of `twill up`,
 * undefined for a node that is this host).
 */
export async function podNetnsOnThisMachine(
  client: ApiClient,
  pod: KubeObject,
  netnsDir = '/var/run/netns',
): Promise<string | undefined> {
  const names = fs.existsSync(netnsDir) ? fs.readdirSync(netnsDir) : [];
  const node = (pod.spec as { nodeName?: string }).nodeName ?? '';
  const mode = networkMode(pod);
  if (mode.kind === 'container') {
    const other = await client.get(Resources.pods, pod.metadata.namespace, mode.pod);
    return podNetnsOnThisMachine(client, other, netnsDir);
  }
  if (mode.kind === 'host') {
    const nodeNs = names.filter((n) => n.startsWith('twill-') && n.endsWith(`-${node}`));
    if (nodeNs.length > 1) {
      throw new TwillError(
        ErrorCodes.PodNotRunning,
        `several node namespaces are named for node ${node}: ${nodeNs.join(', ')}`,
      );
    }
    return nodeNs[0];
  }
  const uid8 = (pod.metadata.uid ?? '').replace(/-/g, '').slice(0, 8);
  const found = names.find((n) => n.startsWith('twill-') && n.includes(node) && n.endsWith(`-${uid8}`));
  if (!found) {
    throw new TwillError(
      ErrorCodes.PodNotRunning,
      `the network namespace of pod ${pod.metadata.name} is not on this machine (node ${node || 'none'})`,
    );
  }
  return found;
}

async function execCommand(
  podArg: string,
  argv: string[],
  o: Conn & { container?: string },
): Promise<number> {
  if (argv.length === 0)
    throw new TwillError(ErrorCodes.BadConfig, 'you must specify at least one command for the container');
  const { client, namespace } = connect(o);
  let pod: KubeObject;
  let netns: string | undefined;
  try {
    const ref = parsePodRef(podArg, namespace);
    pod = await client.get(Resources.pods, ref.namespace, ref.name);
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      throw new TwillError(
        ErrorCodes.PodNotRunning,
        `cannot exec into a container in a completed pod; current phase is ${phase}`,
      );
    }
    netns = await podNetnsOnThisMachine(client, pod);
  } finally {
    client.close();
  }
  const c = pickContainer(pod, o.container, (s) => process.stderr.write(s));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOSTNAME: pod.metadata.name,
    ...(process.env.TERM ? { TERM: process.env.TERM } : {}),
  };
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  const full = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
  return new Promise<number>((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: 'inherit', env, cwd: c.workingDir || undefined });
    child.once('error', (err) =>
      reject(new TwillError(ErrorCodes.BadConfig, `exec ${JSON.stringify(argv[0])}: ${err.message}`)),
    );
    child.once('exit', (code, signal) => {
      const n = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
      if (n !== 0) process.stderr.write(`command terminated with exit code ${n}\n`);
      resolve(n);
    });
  });
}

/** The directory of a container's log files: `<data-dir>/pods/...` (twill agent) or `<data-dir>/nodes/<node>/pods/...` (twill up). */
export function containerLogDir(dataDir: string, pod: KubeObject, container: string): string | undefined {
  const leaf = path.join(`${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`, container);
  const node = (pod.spec as { nodeName?: string }).nodeName ?? '';
  for (const base of [path.join(dataDir, 'pods'), path.join(dataDir, 'nodes', node, 'pods')]) {
    const dir = path.join(base, leaf);
    if (fs.existsSync(dir)) return dir;
  }
  return undefined;
}

async function logsCommand(
  podArg: string,
  o: Conn & { container?: string; previous?: boolean; follow?: boolean; dataDir: string },
): Promise<void> {
  const { client, namespace } = connect(o);
  const ref = parsePodRef(podArg, namespace);
  try {
    const pod = await client.get(Resources.pods, ref.namespace, ref.name);
    const c = pickContainer(pod, o.container, (s) => process.stderr.write(s));
    const statuses =
      (pod.status as { containerStatuses?: Array<{ name: string; restartCount?: number }> } | undefined)
        ?.containerStatuses ?? [];
    const restarts = statuses.find((s) => s.name === c.name)?.restartCount ?? 0;
    if (o.previous && restarts === 0) {
      throw new TwillError(
        ErrorCodes.LogNotFound,
        `previous terminated container "${c.name}" in pod "${ref.name}" not found`,
      );
    }
    const dir = containerLogDir(o.dataDir, pod, c.name);
    const file = dir && path.join(dir, `${o.previous ? restarts - 1 : restarts}.log`);
    if (!file || !fs.existsSync(file)) {
      throw new TwillError(
        ErrorCodes.LogNotFound,
        `no logs of container ${c.name} in pod ${ref.name} under ${o.dataDir} (the data dir of the node ${(pod.spec as { nodeName?: string }).nodeName ?? ''}?)`,
      );
    }
    let offset = 0;
    const drain = () => {
      const size = fs.statSync(file).size;
      if (size <= offset) return;
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        process.stdout.write(buf);
        offset = size;
      } finally {
        fs.closeSync(fd);
      }
    };
    drain();
    if (!o.follow || o.previous) return;
    // Follow this run of the container until it is restarted (a new file) or the pod is gone.
    const next = path.join(dir!, `${restarts + 1}.log`);
    await new Promise<void>((resolve) => {
      let ticks = 0;
      const timer = setInterval(() => {
        drain();
        if (fs.existsSync(next)) return finish();
        if (++ticks % 8 === 0) {
          client.get(Resources.pods, ref.namespace, ref.name).then(
            (p) => p.metadata.uid !== pod.metadata.uid && finish(),
            () => finish(),
          );
        }
      }, 250);
      const finish = () => {
        clearInterval(timer);
        process.off('SIGINT', finish);
        process.off('SIGTERM', finish);
        drain();
        resolve();
      };
      process.once('SIGINT', finish);
      process.once('SIGTERM', finish);
    });
  } finally {
    client.close();
  }
}

/** `-p HOSTPORT:PORT[/udp|/tcp]` as a container port. */
export function parsePortMapping(s: string): { containerPort: number; hostPort: number; protocol: string } {
  const m = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/i.exec(s);
  const ok = (n: number) => n >= 1 && n <= 65535;
  if (!m || !ok(Number(m[1])) || !ok(Number(m[2]))) {
    throw new TwillError(ErrorCodes.BadConfig, `-p: expected HOSTPORT:PORT[/udp], got "${s}"`);
  }
  return { hostPort: Number(m[1]), containerPort: Number(m[2]), protocol: (m[3] ?? 'tcp').toUpperCase() };
}

/** `-l KEY=VAL[,KEY=VAL]`, as kubectl run --labels. */
export function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    for (const kv of v.split(',').filter(Boolean)) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new TwillError(ErrorCodes.BadConfig, `-l: expected KEY=VALUE, got "${kv}"`);
      out[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  return out;
}

/** The Pod `twill run` creates (pure, but for the node of `container:POD`, which the caller looks up). */
export function runPod(o: {
  name: string;
  namespace: string;
  command: string[];
  net: string;
  ports: string[];
  labels: string[];
  image?: string;
  joinNode?: string;
}): KubeObject {
  const net = o.net;
  if (!/^(bridge|host|none|container:.+)$/.test(net)) {
    throw new TwillError(
      ErrorCodes.BadConfig,
      `--net: expected bridge, host, none or container:POD, got "${net}"`,
    );
  }
  if (o.command.length === 0) {
    throw new TwillError(ErrorCodes.BadConfig, 'a command is required: twill run NAME -- CMD [ARGS...]');
  }
  const ports = o.ports.map(parsePortMapping);
  if (ports.length && (net === 'none' || net.startsWith('container:'))) {
    throw new TwillError(ErrorCodes.BadConfig, `-p: a pod with --net ${net} has no ports of its own`);
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: { run: o.name, ...parseLabels(o.labels) },
      annotations: { [NetworkAnnotation]: net },
    },
    spec: {
      ...(net === 'host' ? { hostNetwork: true } : {}),
      ...(o.joinNode ? { nodeName: o.joinNode } : {}),
      containers: [
        {
          name: o.name,
          image: o.image ?? 'twill',
          command: o.command,
          ...(ports.length ? { ports } : {}),
        },
      ],
    },
  };
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerPodCommands(program: Command): void {
  program
    .command('exec')
    .description("run a command in a pod's namespace (its network and /etc/hosts, /etc/resolv.conf)")
    .argument('<pod>', 'NAMESPACE/POD or POD')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-c, --container <name>', 'container whose environment the command gets')
    .option('-n, --namespace <ns>', 'namespace of the pod')
    .option('--kubeconfig <file>', 'kubeconfig to use')
    .action(async (podArg: string, argv: string[], o) => {
      process.exitCode = await execCommand(podArg, argv, o);
    });

  program
    .command('logs')
    .description(
      "print a container's output, as kept by the node's agent; --denied: the connections NetworkPolicy denied",
    )
    .argument('[pod]', 'NAMESPACE/POD or POD')
    .option(
      '--denied',
      'the last minute of NetworkPolicy denials on this machine’s nodes, instead of a pod’s output',
    )
    .option('-c, --container <name>', 'the container (default: the first)')
    .option('-p, --previous', 'the run before the current one')
    .option('-f, --follow', 'keep printing what the container writes')
    .option('-n, --namespace <ns>', 'namespace of the pod')
    .option('--data-dir <dir>', 'the data dir of the agent or of twill up', defaultDataDir())
    .option('--kubeconfig <file>', 'kubeconfig to use')
    .action(async (podArg: string | undefined, o) => {
      if (o.denied) return printDeniedConnections(o);
      if (!podArg) throw new TwillError(ErrorCodes.BadConfig, 'twill logs: name a pod, or give --denied');
      return logsCommand(podArg, o);
    });

  program
    .command('run')
    .description('create a pod running a command (host binaries; no image)')
    .argument('<name>', 'the pod (and container) name')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--net <mode>', 'bridge, host, none or container:POD', 'bridge')
    .option('-p, --publish <HOSTPORT:PORT[/udp]>', 'a hostPort (repeatable)', collect, [])
    .option('-l, --labels <KEY=VAL>', 'labels, comma-separated or repeated', collect, [])
    .option('--image <name>', 'the image name recorded on the container', 'twill')
    .option('--kubeconfig <file>', 'kubeconfig to use')
    .action(async (name: string, command: string[], o) => {
      const { client, namespace } = connect(o);
      try {
        let joinNode: string | undefined;
        if (typeof o.net === 'string' && o.net.startsWith('container:')) {
          const other = await client.get(Resources.pods, namespace, o.net.slice('container:'.length));
          joinNode = (other.spec as { nodeName?: string }).nodeName;
          if (!joinNode) {
            throw new TwillError(
              ErrorCodes.PodNotRunning,
              `--net ${o.net}: pod ${other.metadata.name} is not scheduled to a node yet`,
            );
          }
        }
        const pod = runPod({
          name,
          namespace,
          command,
          net: o.net,
          ports: o.publish,
          labels: o.labels,
          image: o.image,
          joinNode,
        });
        await client.create(Resources.pods, namespace, pod);
        process.stdout.write(`pod/${name} created\n`);
      } finally {
        client.close();
      }
    });
}
