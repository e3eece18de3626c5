// TimerHeap: a 4-ary min-heap of intrusive timers keyed by monotonic nanoseconds.
//
// Each Timer knows its heap index, so reset and cancel are O(log n) without a search, and the
// heap stores (when, Timer*) pairs so sift comparisons never touch the timers themselves.
// Why 4-ary: half the depth of a binary heap, and the four children of a node are 64
// contiguous bytes (one cache line) — the same choice as Go's runtime timer heap.
// Memory: the heap's array grows geometrically and never shrinks, so once it has held N
// timers, start/reset/cancel of up to N timers never allocates (benchmarks/micro_bench.cc).
//
// Not thread-safe: TimerQueue adds the lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netpoll {

struct Timer;
class WaiterList;

// Called without any netpoll lock held, with the sequence the timer had when it was taken off
// the heap; a callback compares it with the owner's current sequence to ignore a stale firing
// (the timer was reset or stopped after it was popped). Waiters to run go into `ready`.
using TimerFn = void (*)(Timer* timer, std::uint32_t seq, WaiterList& ready);

struct Timer {
  static constexpr std::uint32_t kNotQueued = ~std::uint32_t{0};

  std::int64_t when = 0;              // absolute monotonic ns; valid while queued
  TimerFn fire = nullptr;
  std::uint32_t index = kNotQueued;   // position in the heap, kNotQueued when not in it
  std::uint32_t seq = 0;              // bumped by the owner on every reset/stop

  bool queued() const noexcept { return index != kNotQueued; }
};

class TimerHeap {
 public:
  struct Entry {
    std::int64_t when;
    Timer* timer;
  };

  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  // Precondition: !empty().
  const Entry& top() const noexcept { return heap_.front(); }

  // Adds `t` (not queued) or moves it (queued) to `when`.
  void schedule(Timer* t, std::int64_t when);
  // Removes `t` if queued; no-op otherwise.
  void cancel(Timer* t) noexcept;
  // Removes and returns the earliest timer. Precondition: !empty().
  Timer* pop() noexcept;

  void reserve(std::size_t n) { heap_.reserve(n); }
  // Room for one more timer, growing geometrically (as push_back would): may throw
  // std::bad_alloc, before anything changed.
  void make_room() {
    if (heap_.size() == heap_.capacity()) heap_.reserve(heap_.empty() ? 16 : 2 * heap_.size());
  }
  // Timers it holds before the next schedule() of a new timer allocates.
  std::size_t capacity() const noexcept { return heap_.capacity(); }
  // For tests: checks the heap property and every timer's index.
  bool verify() const noexcept;

 private:
  static constexpr std::size_t kArity = 4;
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void place(std::size_t i, const Entry& e) noexcept {
    heap_[i] = e;
    e.timer->index = static_cast<std::uint32_t>(i);
  }
  void remove_at(std::size_t i) noexcept;

  std::vector<Entry> heap_;
};

}  // namespace netpoll
