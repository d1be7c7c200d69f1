#!/usr/bin/env bash
# Vendor the web console's front-end libraries (htmx) into the Python package, from the npm
# registry at build time: `npm ci` installs exactly what web/package-lock.json pins (its
# integrity hashes are checked), and the files the console serves are copied under
# src/dimrec/serve/console/static/vendor/ (not committed; included in wheels). Pages load
# them from the server itself: nothing is fetched from elsewhere when a page loads.
set -euo pipefail
cd "$(dirname "$0")/.."

target=src/dimrec/serve/console/static/vendor
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: scripts/ensure-system-deps.sh installs it" >&2
  exit 1
fi
npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
mkdir -p "$target"
cp web/node_modules/htmx.org/dist/htmx.min.js "$target/htmx.min.js"
cp web/node_modules/htmx.org/LICENSE "$target/htmx.LICENSE"
echo "vendored htmx $(node -p 'require("./web/node_modules/htmx.org/package.json").version') into $target"
