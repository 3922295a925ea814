#!/usr/bin/env bash
# Runs the agent on the robot's architecture: the aarch64 Deno binary (from npm) under
# qemu-user, gateway and worker both emulated, driven by tests/seed_client.py.
# Needs root for apt-get and binfmt_misc (the worker is a second aarch64 process).
# Usage: scripts/arm64_smoke.sh   (exit 0: the seed flows passed on aarch64)
set -euo pipefail
cd "$(dirname "$0")/.."
DENO_VERSION=2.9.6
work=$(mktemp -d)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ]; then kill -TERM "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v qemu-aarch64-static >/dev/null || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi

(cd "$work" && npm pack --silent "@deno/linux-arm64-glibc@$DENO_VERSION" >/dev/null && tar xzf ./*.tgz)
arm_deno="$work/package/deno"
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
"$arm_deno" --version | head -1
# The npm packages are already in DENO_DIR from the native run; the emulated one reuses them.
# Run as root, the agent starts projects as the sandbox user, who cannot run a python3 under
# root's home (a pyenv): Debian's runs them.
printf 'sandbox:\n  python: /usr/bin/python3\n' >"$work/config.yaml"
token="ra_smoke_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
ROBOT_AGENT_TOKEN="$token" "$arm_deno" run --quiet --allow-net --allow-read --allow-write \
  --allow-run --allow-env --allow-sys \
  main.ts --port 0 --host 127.0.0.1 --storage "$work/storage" --config "$work/config.yaml" \
  >"$work/out" 2>"$work/err" &
agent_pid=$!
for _ in $(seq 1 120); do
  grep -q "listening on" "$work/out" && break
  sleep 1
done
url="$(grep -o 'ws://[^ ]*' "$work/out" | head -1)?token=$token"
grep -q "listening on" "$work/out" || { cat "$work/err"; echo "arm64 smoke: the agent did not start"; exit 1; }
echo "aarch64 agent at ${url%%\?*}"
python3 tests/seed_client.py "$url" | cut -c1-120
echo "arm64 smoke: the seed flows passed on aarch64 Deno"
