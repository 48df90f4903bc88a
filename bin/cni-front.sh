#!/bin/sh
# Front end of twill's CNI plugins (bin/twill-cni, bin/twill-ipam, bin/twill-portmap): $1 is the plugin, $2 its
# compiled main. With TWILL_CNI_SOCKET naming the node agent's socket (the agent sets it for the plugins it
# runs), the request goes to the agent, which runs the plugin in-process (the thick plugin, see
# src/cni/thick/); otherwise the plugin runs here, standalone.
plugin=$1
main=$2
root=$(dirname "$(dirname "$(readlink -f "$0")")")
if [ -n "$TWILL_CNI_SOCKET" ] && [ -S "$TWILL_CNI_SOCKET" ] && [ -n "$CNI_COMMAND" ] && command -v curl >/dev/null 2>&1; then
  exec curl -s --fail-with-body --unix-socket "$TWILL_CNI_SOCKET" --data-binary @- \
    -H 'Content-Type: application/json' -H 'Expect:' \
    -H "X-CNI-Command: $CNI_COMMAND" -H "X-CNI-ContainerID: $CNI_CONTAINERID" \
    -H "X-CNI-Netns: $CNI_NETNS" -H "X-CNI-Ifname: $CNI_IFNAME" \
    -H "X-CNI-Args: $CNI_ARGS" -H "X-CNI-Path: $CNI_PATH" \
    "http://twill-agent/v1/$plugin"
fi
exec node "$root/$main"
