// How a host loop stepped a net::Loop through an adapter: diagnostics every adapter reports
// the same way (and its tests read).
#pragma once

#include <cstdint>

namespace netpoll::adapters {

struct Steps {
  std::uint64_t on_handle = 0;  // the Loop's native handle was readable
  std::uint64_t on_timer = 0;   // the timeout next_timeout() asked for elapsed
  std::uint64_t on_zero = 0;    // next_timeout() was zero: step again at once
};

}  // namespace netpoll::adapters
