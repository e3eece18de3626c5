// TimerQueue: the TimerHeap behind a lock, plus the handshake that wakes a sleeping poller when
// a timer earlier than its sleep is scheduled from another thread (Go's pollUntil /
// wakeNetPoller).
//
// Lock order: a PollDesc's lock may be held while calling schedule/cancel (deadlines do); the
// queue's lock is never held while running a timer callback, and callbacks take PollDesc
// locks. So the order is PollDesc -> TimerQueue, never the reverse.
//
// Timer::seq: every schedule() and cancel() bumps it, under this queue's lock. fire_due()
// captures it when popping; a callback that finds a different seq on its timer knows the timer
// was reset or stopped after the pop, and does nothing (docs/testing.md case 13).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "netpoll/core/mutex.h"
#include "netpoll/core/timer_heap.h"
#include "netpoll/contract/timeout.h"

namespace netpoll {

class WaiterList;

class TimerQueue {
 public:
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();
  using WakeFn = void (*)(void* ctx) noexcept;

  // `wake` interrupts the poller's current wait (Backend::wake).
  TimerQueue(WakeFn wake, void* ctx) noexcept : wake_(wake), wake_ctx_(ctx) {}
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;
  ~TimerQueue();

  // Memory for timers whose owner keeps them for the queue's life (a PollDesc's deadline
  // block: a timer popped for a descriptor that has closed since may still fire, so its memory
  // must stay valid, as the PollDesc's does): `size` bytes, aligned for any object, carved
  // from 16 KiB chunks freed only with the queue. One allocation per chunk, not per block:
  // memory a poller keeps for its slots stays a handful of allocations (the soak test watches
  // the count). Thread-safe. Throws std::bad_alloc; `size` must be at most kLastingChunk / 4.
  static constexpr std::size_t kLastingChunk = 16 * 1024;
  void* lasting_block(std::size_t size);

  // Thread-safe. Arms (or moves) `t` to fire at absolute monotonic `when`. A timer scheduled
  // at or before the instant a fire_due() pass is using is pushed 1 ns past it, so a callback
  // that re-arms itself with zero delay runs in the next pass, after I/O (docs/testing.md case 16).
  void schedule(Timer* t, std::int64_t when);
  // Thread-safe. Stops `t` if queued; always bumps its seq. Returns whether it was queued: if
  // not, a callback already popped by a running fire_due() may still run (it will see the new
  // seq, which an owner holding its own lock around schedule/cancel can compare).
  bool cancel(Timer* t) noexcept;

  // Earliest queued `when`, kNone if empty. Lock-free (a mirror kept under the lock).
  std::int64_t next_when() const noexcept { return next_when_.load(std::memory_order_seq_cst); }
  std::size_t size() const noexcept;
  // Pre-sizes the heap so that up to n queued timers never allocate.
  void reserve(std::size_t n);
  // Queued timers the heap holds before scheduling a new one allocates (and may throw
  // std::bad_alloc: schedule() then leaves the timer as it was).
  std::size_t capacity() const noexcept;

  // --- the polling thread only -------------------------------------------------------------
  // Shortens `t` to the earliest timer and publishes "sleeping until" so schedule() from other
  // threads knows to wake us. Call right before a blocking wait, end_sleep() right after
  // (end_sleep before a zero-timeout poll is harmless; a stale "sleeping" state only costs a
  // spurious wake).
  Timeout begin_sleep(Timeout t) noexcept;
  void end_sleep() noexcept { sleeping_until_.store(kAwake, std::memory_order_relaxed); }
  // Runs the callbacks of every timer due at `now` (outside the lock). Returns how many ran.
  std::size_t fire_due(std::int64_t now, WaiterList& ready) noexcept;

 private:
  static constexpr std::int64_t kAwake = std::numeric_limits<std::int64_t>::min();
  void publish_next() noexcept NETPOLL_REQUIRES(mu_) {
    next_when_.store(heap_.empty() ? kNone : heap_.top().when, std::memory_order_seq_cst);
  }

  mutable Mutex mu_;
  TimerHeap heap_ NETPOLL_GUARDED_BY(mu_);
  // lasting_block's chunks: a list through each chunk's first word; the newest is carved from
  // its end backwards (chunk_left_ bytes remain, after the link).
  void* chunks_ NETPOLL_GUARDED_BY(mu_) = nullptr;
  std::size_t chunk_left_ NETPOLL_GUARDED_BY(mu_) = 0;
  std::int64_t firing_now_ NETPOLL_GUARDED_BY(mu_) = kAwake;  // the `now` of a running fire_due
  std::atomic<std::int64_t> next_when_{kNone};
  // Absolute time the poller sleeps until (kNone: infinitely), kAwake when not sleeping.
  // Dekker pair with next_when_: the poller stores this then loads next_when_; schedule()
  // stores next_when_ then loads this. Sequential consistency makes at least one see the
  // other, so a timer added concurrently with a sleep is never missed.
  std::atomic<std::int64_t> sleeping_until_{kAwake};
  WakeFn wake_;
  void* wake_ctx_;
};

}  // namespace netpoll
