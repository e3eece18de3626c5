// BasicNetpoll<Backend>: the glue between one Backend, the PollCache and the timers (the
// runtime side of Go's netpoll.go). `netpoll::Netpoll` is the one for the target OS.
//
// One thread polls (poll() / dispatch(); typically the Loop thread or a dedicated poller
// thread); every other member is thread-safe. Waiters come back in a WaiterList for the
// caller to notify; operations that unblock waiters on the caller's thread (evict, deadlines)
// notify them before returning.
//
// Lifetime: the Netpoll must outlive every PollDesc it handed out; PollDesc memory is owned by
// its PollCache and released only when the Netpoll is destroyed.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "netpoll/contract/clock.h"
#include "netpoll/core/poll_cache.h"
#include "netpoll/core/poll_desc.h"
#include "netpoll/core/timer_queue.h"
#include "netpoll/core/waiter.h"
#include "netpoll/contract/backend.h"
#include "netpoll/contract/error.h"
#include "netpoll/contract/result.h"

namespace netpoll {

template <class B>
class BasicNetpoll {
  static_assert(Backend<B>);

 public:
  using backend_type = B;
  using handle_type = typename B::handle_type;
  // Events handled per poll(); see EpollPoller::kMaxBatch for the figure behind 128.
  static constexpr std::size_t kBatch = 128;

  BasicNetpoll() : timers_(&wake_thunk, this) {}
  BasicNetpoll(const BasicNetpoll&) = delete;
  BasicNetpoll& operator=(const BasicNetpoll&) = delete;

  B& backend() noexcept { return backend_; }
  PollCache& cache() noexcept { return cache_; }
  TimerQueue& timers() noexcept { return timers_; }

  // Go's pollOpen: a PollDesc for `h`, registered with the backend for its whole life.
  Result<PollDesc*> open(handle_type h, void* user = nullptr) noexcept {
    PollDesc* pd = cache_.alloc();
    if (!pd) return Errc::too_many_descriptors;
    pd->reset_for_open(static_cast<std::intptr_t>(h), user, timers_);
    if (std::error_code ec = backend_.register_handle(h, pd->token())) {
      cache_.free(pd);
      return ec;
    }
    return pd;
  }

  // Go's pollUnblock: from now on every operation on pd fails with Errc::closed, and parked
  // ones are woken (here, on the calling thread). Idempotent.
  void evict(PollDesc* pd) noexcept {
    WaiterList ready;
    pd->evict(timers_, ready);
    ready.notify_all();
  }

  // Shutdown: evicts every descriptor of this poller, so every operation parked on or later
  // started against one fails with Errc::closed. Free PollDescs are evicted too (harmless:
  // opening one resets it); a descriptor opened concurrently may or may not be evicted.
  void evict_all() noexcept {
    WaiterList ready;
    cache_.for_each([&](PollDesc* pd) { pd->evict(timers_, ready); });
    ready.notify_all();
  }

  // Go's pollClose: deregisters (before the caller closes the handle, so a dup'd or inherited
  // copy does not keep reporting) and returns pd to the cache. Evicts first if needed.
  // Precondition: no operation is parked on or about to use pd (the FD layer's reference
  // count guarantees it); violating it aborts. The error is deregister's; pd is freed anyway.
  std::error_code close(PollDesc* pd) noexcept {
    std::error_code ec = deregister(pd);
    release(pd);
    return ec;
  }
  // close() in two steps, for a handle closed while operations still hold its PollDesc:
  // deregister (any time after evict, before the handle is closed; events already queued for
  // it land on the evicted PollDesc, harmlessly), then release once none holds it.
  std::error_code deregister(PollDesc* pd) noexcept {
    return backend_.deregister_handle(static_cast<handle_type>(pd->handle()));
  }
  void release(PollDesc* pd) noexcept {
    evict(pd);
    if (!pd->quiescent()) fatal("Netpoll::close: an operation is still parked on the PollDesc");
    cache_.free(pd);
  }

  // Absolute monotonic ns (now_ns()); 0 clears; a time not after now expires at once and wakes
  // a parked operation for that direction with Errc::deadline_exceeded.
  void set_deadline(PollDesc* pd, std::int64_t deadline, Mode m) {
    WaiterList ready;
    pd->set_deadline(deadline, deadline > 0 ? now_ns() : 0, m, timers_, ready);
    ready.notify_all();
  }

  // General-purpose timers (the Loop's sleeps, user callbacks), fired on the polling thread.
  // `t->fire` must be set. cancel_timer() returns true if the timer was queued, so its
  // callback will not run; false if it was not queued, in which case it may be firing right
  // now on the polling thread. Destroy a timer only after a cancel that returned true, or on
  // the polling thread (where no firing can be in progress).
  void schedule_timer(Timer* t, std::int64_t when) { timers_.schedule(t, when); }
  bool cancel_timer(Timer* t) noexcept { return timers_.cancel(t); }

  // The earliest timer (absolute ns) or TimerQueue::kNone.
  std::int64_t next_timer() const noexcept { return timers_.next_when(); }
  // For a host loop embedding this poller (it waits on backend().native_handle()): how long it
  // may sleep before calling poll() again. Calling it also tells other threads that the poller
  // is asleep until then, so a timer or deadline added meanwhile that is earlier wakes the
  // native handle (docs/pitfalls.md 7); the next poll() ends that state. Polling thread only.
  // Zero, without entering that state, while the last poll() filled its batch: the kernel may
  // hold more events, and they raise no new edge on the handle, so a host that watches it
  // edge-triggered (or re-arms it lazily) would otherwise sleep with work pending. Only poll()
  // records that: an embedder that calls the backend and dispatch() itself decides on its own.
  // Zero, too, while the backend holds calls it submits only in its next wait (io_uring
  // prepares its queued SQEs there): until then nothing can complete or raise the handle.
  Timeout next_timeout() noexcept {
    if (batch_full_) return Timeout::zero();
    if constexpr (requires(const B& b) { { b.has_queued() } -> std::same_as<bool>; })
      if (backend_.has_queued()) return Timeout::zero();
    return timers_.begin_sleep(Timeout::infinite());
  }

  // Waits up to `timeout` (shortened to the nearest timer), dispatches the events, fires due
  // timers, and appends the waiters to run to `ready`. Returns the number of kernel events
  // (0 on timeout, wake or EINTR). The polling thread only.
  // Always inlined, like the backends' zero-timeout wait: frames live across the syscall are
  // what an empty loop iteration pays for (see EpollPoller::wait).
  [[gnu::always_inline]] Result<std::size_t> poll(Timeout timeout, WaiterList& ready) noexcept {
    // begin_sleep also shortens the wait to the nearest timer; a zero timeout needs neither.
    if (!timeout.is_zero()) timeout = timers_.begin_sleep(timeout);
    Result<std::size_t> n = backend_.wait(events_, timeout);
    timers_.end_sleep();
    if (n && *n == 0 && timers_.next_when() == TimerQueue::kNone) [[likely]] {
      batch_full_ = false;
      return n;
    }
    return after_wait(n, ready);
  }

  // Applies events already taken from the backend (poll() does this; an embedder calling the
  // backend itself may too). Events whose token is stale — the PollDesc was closed, maybe
  // reused, after the kernel queued them — are dropped. Returns waiters appended.
  std::size_t dispatch(std::span<const Event> events, WaiterList& ready) noexcept {
    std::size_t woken = 0;
    for (const Event& e : events) {
      PollDesc* pd = cache_.lookup(e.token);
      if (!pd) continue;
      // As Go: only an event that is nothing but an error flags the descriptor.
      pd->set_event_error(e.flags == Event::kError, PollDesc::token_seq(e.token));
      // Before unblocking: a reader woken by this event must see the hangup (see PollDesc).
      if (e.flags & (Event::kReadHangup | Event::kHangup | Event::kError))
        pd->set_read_hangup(PollDesc::token_seq(e.token));
      if (e.wakes_reader())
        if (Waiter* w = pd->unblock(kRead, true)) ready.push(w), ++woken;
      if (e.wakes_writer())
        if (Waiter* w = pd->unblock(kWrite, true)) ready.push(w), ++woken;
    }
    return woken;
  }

  void wake() noexcept { backend_.wake(); }

 private:
  // Out of line: run_once, with poll inlined into it, must stay small enough to inline.
  [[gnu::noinline]] Result<std::size_t> after_wait(Result<std::size_t> n, WaiterList& ready) noexcept {
    // The backend reports the events it took minus its own wake event (at most one per
    // batch): one short of the batch may still have been a full kernel batch.
    batch_full_ = n && *n + 1 >= events_.size();
    if (!n) return n;
    if (*n != 0) dispatch(std::span<const Event>(events_.data(), *n), ready);
    if (timers_.next_when() != TimerQueue::kNone) {
      const std::int64_t now = now_ns();
      if (timers_.next_when() <= now) timers_.fire_due(now, ready);
    }
    return n;
  }

  static void wake_thunk(void* self) noexcept { static_cast<BasicNetpoll*>(self)->backend_.wake(); }

  B backend_;
  PollCache cache_;
  TimerQueue timers_;
  std::array<Event, kBatch> events_{};  // the polling thread's batch buffer
  bool batch_full_ = false;  // the last poll() filled events_ (see next_timeout); polling thread
};

}  // namespace netpoll
