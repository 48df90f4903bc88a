/**
 * The thick plugin's server side: the node agent answers CNI requests for twill's plugins over a unix socket,
 * running the plugin's code in-process, so that an ADD costs a shell and a curl instead of three Node
 * start-ups (twill-cni, twill-ipam, twill-portmap), as Calico's and Multus's thick plugins do.
 *
 * The front end (`bin/.cni-front`, behind bin/twill-cni, bin/twill-ipam, bin/twill-portmap) is exec'd as any
 * plugin is; when `TWILL_CNI_SOCKET` names a socket (the agent sets it for the plugins it runs) it sends
 * `POST /v1/<plugin>` with the config as the body and the CNI variables as `X-CNI-*` headers, and prints what
 * comes back: 200 and the result, or 500 and the CNI error JSON (curl exits non-zero). Without the variable
 * (a runtime other than the agent, or no agent) the plugin runs standalone, as before.
 *
 * A request runs through the same skeleton as the executable (`dispatch`), with the request's environment as
 * the environment its delegates (twill-ipam under twill-cni) are exec'd with, and for an agent working for a
 * node namespace, with that namespace standing for "here" in every kernel command (`withDefaultNetns`).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { withDefaultNetns } from '../../linux/exec.js';
import { logger } from '../../util/log.js';
import { requestEnv } from '../bridge/delegate.js';
import { dispatch, type PluginFuncs } from '../skel/skel.js';

const log = logger('cni-thick');

/** The environment variable naming the socket, set by the agent for the plugins it execs. */
export const SOCKET_ENV = 'TWILL_CNI_SOCKET';

const HEADERS: Array<[string, string]> = [
  ['CNI_COMMAND', 'x-cni-command'],
  ['CNI_CONTAINERID', 'x-cni-containerid'],
  ['CNI_NETNS', 'x-cni-netns'],
  ['CNI_IFNAME', 'x-cni-ifname'],
  ['CNI_ARGS', 'x-cni-args'],
  ['CNI_PATH', 'x-cni-path'],
];

/** The CNI environment a request carries in its headers. Pure. */
export function requestCniEnv(headers: http.IncomingHttpHeaders): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, header] of HEADERS) {
    const v = headers[header];
    if (typeof v === 'string' && v.trim() !== '') env[name] = v.trim();
  }
  return env;
}

export interface ThickServer {
  socketPath: string;
  close(): Promise<void>;
}

export async function startThickServer(o: {
  socketPath: string;
  plugins: Record<string, PluginFuncs>;
  /** The node namespace the plugins' kernel work goes to (the agent's `netns`); undefined: here. */
  netns?: string;
}): Promise<ThickServer> {
  fs.mkdirSync(path.dirname(o.socketPath), { recursive: true });
  // A socket left by an agent that was killed: nobody listens on it any more.
  fs.rmSync(o.socketPath, { force: true });
  const server = http.createServer((req, res) => {
    const name = /^\/v1\/([A-Za-z0-9._-]+)$/.exec(req.url ?? '')?.[1];
    const funcs = name ? o.plugins[name] : undefined;
    if (req.method !== 'POST' || !funcs) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const stdin = Buffer.concat(chunks).toString('utf8');
      const cni = requestCniEnv(req.headers);
      // Delegates run with the request's variables, over ours, and find the socket again (thick all along).
      const env: NodeJS.ProcessEnv = { ...process.env, ...cni, [SOCKET_ENV]: o.socketPath };
      const t0 = performance.now();
      withDefaultNetns(o.netns, () =>
        requestEnv.run(env, () => dispatch(funcs, { env: cni, readStdin: async () => stdin })),
      ).then(
        (out) => {
          if (out.stderr) process.stderr.write(out.stderr);
          log.debug(
            {
              plugin: name,
              command: cni.CNI_COMMAND,
              ms: Math.round(performance.now() - t0),
              exit: out.exitCode,
            },
            'request',
          );
          res
            .writeHead(out.exitCode === 0 ? 200 : 500, { 'content-type': 'application/json' })
            .end(out.stdout);
        },
        (err: Error) => {
          res
            .writeHead(500, { 'content-type': 'application/json' })
            .end(JSON.stringify({ cniVersion: '1.1.0', code: 999, msg: err.message }));
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => resolve());
  });
  fs.chmodSync(o.socketPath, 0o600);
  return {
    socketPath: o.socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        fs.rmSync(o.socketPath, { force: true });
      }),
  };
}
