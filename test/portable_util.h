// Test helpers that need no OS interface beyond the C++ library, so every suite can use them,
// the Windows build's included.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "doctest/doctest.h"
#include "poller/event.h"
#include "poller/timeout.h"

namespace netpoll::testing {

using Clock = std::chrono::steady_clock;
inline std::int64_t elapsed_ns(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count();
}

// The stress size knob (testing.md): NETPOLL_STRESS=large (tools/test passes it through)
// multiplies iteration counts by 10; the default run is small.
inline int stress_scale() {
  const char* v = std::getenv("NETPOLL_STRESS");
  return (v && std::string_view(v) == "large") ? 10 : 1;
}

// One Backend::wait that must succeed; returns the number of events.
template <class B>
std::size_t wait_once(B& b, std::span<Event> out, Timeout t) {
  auto n = b.wait(out, t);
  REQUIRE(n.ok());
  return *n;
}

}  // namespace netpoll::testing
