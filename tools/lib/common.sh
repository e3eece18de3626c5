# Shared by tools/test and tools/bench: package checks and Bazel invocation.
# shellcheck shell=bash

NETPOLL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian packages every build needs (offline Bazel 4.2.3 + rules, doctest, the compiler), plus
# what the tests drive: libuv1-dev, libglib2.0-dev and libasio-dev (the host loops of the adapters'
# tests, netpoll/adapters/; the library needs neither), curl (the HTTP example's
# client), freebsd-manpages (the kevent(2) manual the kqueue test double is written from and its
# suite quotes: `man 2 kevent`; netpoll/backends/kqueue/testing/), and the Windows build: the mingw-w64
# cross compiler and wine to run its tests. cmake, pkg-config and make: the CMake build and its
# consumer projects (tools/cmake_check). liburing-dev: the io_uring backend (--config=uring).
NETPOLL_BUILD_PACKAGES=(bazel-bootstrap bazel-rules-cc bazel-rules-java bazel-platforms doctest-dev g++
  libuv1-dev libglib2.0-dev libasio-dev curl freebsd-manpages g++-mingw-w64-x86-64-posix wine64 wine
  cmake pkg-config make liburing-dev)
# What tools/bench adds: the real HTTP clients for B3, strace and perf for syscall counts.
NETPOLL_BENCH_PACKAGES=(wrk nghttp2-client strace linux-perf)
# What tools/fuzz adds (tools/test runs it in regression mode): clang-14 and its runtime
# libraries, which hold libFuzzer (libclang_rt.fuzzer) and the sanitizers it links with.
NETPOLL_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

# ensure_packages PKG...: installs the missing ones (as root), or prints the exact command
# and exits 2 (not root). Nothing else is ever installed by hand.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "netpoll: missing Debian packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "netpoll: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || { echo "netpoll: apt-get update failed" >&2; exit 2; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { echo "netpoll: apt-get install ${missing[*]} failed" >&2; exit 2; }
}

# Bazel with plain output suitable for logs and CI.
bazel_cmd() {
  (cd "$NETPOLL_ROOT" && bazel "$1" --color=no --curses=no --noshow_progress "${@:2}")
}
