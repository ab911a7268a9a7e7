#!/usr/bin/env bash
# One command from source to a running node (like `esphome run`): build the
# firmware, [write a NodeMCU image,] write the node's config, upload with
# verification, restart, [follow the console]. Everything is `espfleet flash`;
# this only makes sure the npm packages are there first.
#   ./flash.sh --port auto --monitor
#   ./flash.sh --virtual --monitor            (no board needed)
#   ./flash.sh --help                         (every option, with units and defaults)
# Settings come from flags, environment variables (WIFI_SSID, WIFI_PASSWORD,
# MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD, NODE_ID) or espfleet.local.env
# (--settings-file names another; not --env-file, which Node 20 claims).
# Exit status: 0 done, 1 failed, 2 bad usage, 130 Ctrl-C.
set -euo pipefail
# No cd: relative paths in the arguments (--firmware, --settings-file) are the caller's.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -d "$root/node_modules" ]; then
  echo "flash.sh: installing the npm packages first (npm ci)" >&2
  (cd "$root" && npm ci)
fi
# `node --`: Node stops reading options there, so none of ours (--env-file, say)
# is taken by Node itself; and nothing from a settings file is exported here,
# so no NODE_OPTIONS of it reaches Node.
exec node -- "$root/bin/espfleet.js" flash "$@"
