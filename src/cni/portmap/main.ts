/** The twill-portmap executable: the CNI skeleton around the portmap operations. */
import { runPlugin } from '../skel/skel.js';
import { cmdAdd, cmdCheck, cmdDel, cmdGC, cmdStatus } from './portmap.js';

await runPlugin({
  add: cmdAdd,
  del: cmdDel,
  check: cmdCheck,
  gc: cmdGC,
  status: cmdStatus,
  about: 'CNI twill-portmap plugin (hostPorts) version 0.1.0',
});
