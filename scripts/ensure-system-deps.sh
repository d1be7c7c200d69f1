#!/usr/bin/env bash
# Install what the project needs from the system: Java 17+ (PySpark), redis-server (the Redis
# store and queue tests), wrk (bench/serve_load), Chromium (the web console's browser tests,
# driven by Playwright), npm (vendors the console's htmx at setup) and a C compiler with
# Python's headers (the serving kernels, compiled when uv installs the project). Debian
# packages, installed only when missing.
set -euo pipefail

need=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
  need+=(openjdk-17-jre-headless)
fi
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
python_headers='import os, sysconfig; print(os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))'
[ "$("${PYTHON:-python3}" -c "$python_headers")" = True ] || need+=(python3-dev)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# a Debian install starts a redis service on 6379; the tests start their own on a free port
java -version 2>&1 | head -n1
redis-server --version
chromium --version 2>/dev/null | head -n1
echo "npm $(npm --version)"
cc --version | head -n1
