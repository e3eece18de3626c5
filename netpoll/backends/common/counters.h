// The counters behind Backend::stats() (netpoll::PollerStats), kept the same way by every
// backend: a helper for writing a backend, not part of the contract.
#pragma once

#include <atomic>
#include <cstdint>

#include "netpoll/contract/backend.h"

namespace netpoll {

// A counter with one writer (the waiting thread) and any number of readers: a relaxed
// load+store compiles to a plain add, unlike fetch_add's locked instruction, so it can sit on
// the wait path.
class SingleWriterCounter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// The counters behind PollerStats, kept the same way by every backend.
struct PollerCounters {
  SingleWriterCounter waits;    // the waiting thread only
  SingleWriterCounter wakeups;  // the waiting thread only
  std::atomic<std::uint64_t> wake_signals{0};  // from any thread
  std::atomic<std::uint64_t> wake_drains{0};
  std::atomic<std::uint64_t> registrations{0};
  std::atomic<std::uint64_t> deregistrations{0};

  static void bump(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }
  PollerStats snapshot() const noexcept {
    PollerStats s;
    s.waits = waits.get();
    s.wakeups = wakeups.get();
    s.wake_signals = wake_signals.load(std::memory_order_relaxed);
    s.wake_drains = wake_drains.load(std::memory_order_relaxed);
    s.registrations = registrations.load(std::memory_order_relaxed);
    s.deregistrations = deregistrations.load(std::memory_order_relaxed);
    return s;
  }
};

}  // namespace netpoll
