// The one clock netpoll uses, backends and core alike: monotonic nanoseconds (steady_clock;
// CLOCK_MONOTONIC via the vDSO on Linux, ~20 ns). Deadlines are absolute values of this
// clock; 0 means "none".
#pragma once

#include <chrono>
#include <cstdint>

namespace netpoll {

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace netpoll
