// B3's syscall calibration (docs/benchmarks.md): the server's syscalls per request under a
// client run, counted by `perf stat -e <tracepoints> -p <server>` (n/a where perf or its
// tracepoints are unavailable). Counting costs time, so it runs apart from the timed runs.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>

namespace netpoll::bench {

// Syscall counters: the total and the ones an event loop's steady state is made of.
// (io_uring_enter: the asio_uring server's.)
inline constexpr std::array<const char*, 9> kSysEvents = {
    "raw_syscalls:sys_enter",        "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait",
    "syscalls:sys_enter_read",       "syscalls:sys_enter_recvfrom",   "syscalls:sys_enter_write",
    "syscalls:sys_enter_sendto",     "syscalls:sys_enter_epoll_ctl",  "syscalls:sys_enter_io_uring_enter"};
inline constexpr std::array<const char*, 9> kSysNames = {"total",    "epoll_wait", "epoll_pwait",
                                                         "read",     "recvfrom",   "write",
                                                         "sendto",   "epoll_ctl",  "io_uring_enter"};
using SysCounts = std::array<double, kSysEvents.size()>;  // per request; -1: not counted

// Runs `client` (returning the requests it had answered, 0 on failure) while perf, pinned to
// `perf_cpu`, counts kSysEvents in process `server`. Per request; all -1 if the client failed,
// and also (with `*error` set) if perf could not count.
SysCounts count_syscalls(pid_t server, int perf_cpu, const std::function<std::uint64_t()>& client,
                         std::string* error);

}  // namespace netpoll::bench
