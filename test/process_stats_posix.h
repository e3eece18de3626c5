// Shared by process_stats_posix.cc and its OS halves (process_stats_linux.cc, _macos.cc).
#pragma once

#include <time.h>

#include <cstdint>

namespace netpoll::testing {

// The clock's reading in ns; -1 if it cannot be read.
std::int64_t clock_ns(clockid_t cid);

}  // namespace netpoll::testing
