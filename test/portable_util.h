// Test helpers that need no OS interface beyond the C++ library, so every suite can use them,
// the Windows build's included.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <thread>

#include "netpoll/core/waiter.h"
#include "doctest/doctest.h"
#include "netpoll/contract/event.h"
#include "netpoll/contract/timeout.h"

namespace netpoll::testing {

using Clock = std::chrono::steady_clock;
inline std::int64_t elapsed_ns(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count();
}

// The stress size knob (docs/testing.md): NETPOLL_STRESS=large (tools/test passes it through)
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

constexpr std::int64_t ms(std::int64_t v) { return v * 1000000; }

// Polls `np` with short timeouts for `window`, collecting waiters into `ready`.
template <class N>
void poll_for(N& np, std::chrono::milliseconds window, WaiterList& ready) {
  const auto end = Clock::now() + window;
  while (Clock::now() < end) {
    auto n = np.poll(Timeout::after_ns(5'000'000), ready);
    REQUIRE(n.ok());
  }
}

// Runs BasicNetpoll::poll(infinite) on its own thread, notifying waiters, until destroyed.
template <class N>
class PollerThread {
 public:
  explicit PollerThread(N& np) : np_(np), thread_([this] { run(); }) {}
  ~PollerThread() {
    stop_.store(true);
    np_.wake();
    thread_.join();
  }
  std::uint64_t iterations() const { return iterations_.load(); }

 private:
  void run() {
    WaiterList ready;
    while (!stop_.load()) {
      CHECK(np_.poll(Timeout::infinite(), ready).ok());
      ready.notify_all();
      iterations_.fetch_add(1);
    }
  }
  N& np_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> iterations_{0};
  std::thread thread_;
};

// An open, idle handle of the kind backend B registers (a socket), closed at scope exit:
// defined per handle type beside the OS helpers (test/test_util.h for POSIX descriptors,
// netpoll/backends/iocp/iocp_test_util.h for Winsock sockets); test/idle_handle.h picks them up.
template <class B>
struct IdleHandle;

}  // namespace netpoll::testing
