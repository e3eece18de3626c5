#include "netpoll/core/poll_desc.h"

#include <cstddef>
#include <mutex>
#include <new>
#include <type_traits>

#include "netpoll/core/timer_queue.h"
#include "netpoll/contract/error.h"

namespace netpoll {

// docs/benchmarks.md B5: one cache line of core state per registered descriptor.
static_assert(sizeof(PollDesc) == 64, "PollDesc grew past one cache line");

PollDesc::Deadlines::Deadlines(PollDesc* o) noexcept : owner(o) {
  // offsetof in the *_deadline_fired thunks needs a standard-layout type: the timers find
  // their block that way.
  static_assert(std::is_standard_layout_v<Deadlines>);
  // The queue frees its lasting memory wholesale, running no destructor.
  static_assert(std::is_trivially_destructible_v<Deadlines>);
  rt.fire = &read_deadline_fired;
  wt.fire = &write_deadline_fired;
}


std::error_code PollDesc::check(Mode m) const noexcept {
  const std::uint32_t info = info_.load();
  if (info & kClosing) return Errc::closed;
  if (m == kRead ? (info & kReadExpired) : (info & kWriteExpired)) return Errc::deadline_exceeded;
  // Only reads report the event error: a write learns a more specific error from its syscall.
  if (m == kRead && (info & kEventErr)) return Errc::event_error;
  return {};
}

std::error_code PollDesc::prepare(Mode m) noexcept {
  if (auto e = check(m)) return e;
  // Only the operation's owner touches the slot now (nobody is parked), so a store suffices.
  slot(m).store(kIdle);
  return {};
}

bool PollDesc::begin_park(Mode m) noexcept {
  auto& s = slot(m);
  for (;;) {
    std::uintptr_t old = kReady;
    if (s.compare_exchange_strong(old, kIdle)) return true;
    old = kIdle;
    if (s.compare_exchange_strong(old, kWaiting)) return false;
    if (old != kReady) fatal("PollDesc: two operations parked on one direction");
  }
}

bool PollDesc::commit_park(Mode m, Waiter* w) noexcept {
  // A close or deadline that ran before our kWaiting store found nothing to unblock; its bit is
  // visible here (see the header on the seq_cst pairing).
  if (check(m)) return false;
  std::uintptr_t expected = kWaiting;
  return slot(m).compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(w));
}

bool PollDesc::commit_park_for_completion(Mode m, Waiter* w) noexcept {
  std::uintptr_t expected = kWaiting;
  return slot(m).compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(w));
}

void PollDesc::wait_completion(Mode m, ThreadWaiter& w) noexcept {
  // Not a spin: each round sleeps until an event, a close or a deadline moves the slot, and
  // a close or deadline fires once.
  for (;;) {
    if (begin_park(m)) return;
    if (commit_park_for_completion(m, &w)) w.park();
    if (end_park(m)) return;
  }
}

bool PollDesc::end_park(Mode m) noexcept {
  const std::uintptr_t old = slot(m).exchange(kIdle);
  if (old > kWaiting) fatal("PollDesc: waiter still published after it was woken");
  return old == kReady;
}

std::error_code PollDesc::wait(Mode m, ThreadWaiter& w) noexcept {
  for (;;) {
    if (begin_park(m)) return {};
    if (commit_park(m, &w)) w.park();
    if (end_park(m)) return {};
    if (auto e = check(m)) return e;
    // Woken by a deadline that has since been reset (Go's pollWait comment): wait again.
  }
}

Waiter* PollDesc::unblock(Mode m, bool ioready) noexcept {
  auto& s = slot(m);
  std::uintptr_t old = s.load();
  for (;;) {
    if (old == kReady) return nullptr;  // repeated event before anyone consumed: one load
    if (old == kIdle && !ioready) return nullptr;
    if (s.compare_exchange_weak(old, ioready ? kReady : kIdle)) {
      return old > kWaiting ? reinterpret_cast<Waiter*>(old) : nullptr;
    }
  }
}

void PollDesc::set_event_error(bool on, std::uint32_t seq) noexcept {
  if (((info_.load(std::memory_order_relaxed) & kEventErr) != 0) == on) return;
  MutexLock g(lock_);
  if (fdseq_.load(std::memory_order_relaxed) != seq) return;  // reused since the event
  if (on) info_.fetch_or(kEventErr);
  else info_.fetch_and(~kEventErr);
}

void PollDesc::set_read_hangup(std::uint32_t seq) noexcept {
  if (info_.load(std::memory_order_relaxed) & kReadHup) return;
  MutexLock g(lock_);
  if (fdseq_.load(std::memory_order_relaxed) != seq) return;  // reused since the event
  info_.fetch_or(kReadHup);
}

void PollDesc::publish_expired() noexcept {
  std::uint32_t info = info_.load(std::memory_order_relaxed) & ~(kReadExpired | kWriteExpired);
  if (deadlines_->rd < 0) info |= kReadExpired;
  if (deadlines_->wd < 0) info |= kWriteExpired;
  info_.store(info);
}

void PollDesc::update_direction(std::int64_t& cur, Timer& t, std::int64_t v, TimerQueue& q) {
  if (cur == v) return;
  // Arm first: if schedule() throws (bad_alloc growing the heap), cur keeps its old value and
  // a retry with the same deadline is not mistaken for "unchanged".
  if (v > 0) q.schedule(&t, v);
  else q.cancel(&t);  // cleared or already expired: no timer, and any in-flight firing is stale
  cur = v;
}

void PollDesc::set_deadline(std::int64_t deadline, std::int64_t now, Mode m, TimerQueue& q,
                            WaiterList& ready) {
  const std::int64_t v = deadline == 0 ? 0 : (deadline <= now ? -1 : deadline);
  MutexLock g(lock_);
  if (info_.load(std::memory_order_relaxed) & kClosing) return;
  if (!deadlines_) {
    if (v == 0) return;  // clearing what was never set
    // Once per slot for the poller's life (see Deadlines), from the queue's lasting memory:
    // std::bad_alloc is thrown as the heap's growth is.
    deadlines_ = new (q.lasting_block(sizeof(Deadlines))) Deadlines(this);
  }
  Deadlines& d = *deadlines_;
  try {
    if (m & kRead) update_direction(d.rd, d.rt, v, q);
    if (m & kWrite) update_direction(d.wd, d.wt, v, q);
  } catch (...) {
    publish_expired();  // the read direction may have changed before the write one threw
    throw;
  }
  publish_expired();
  if (d.rd < 0)
    if (Waiter* w = unblock(kRead, false)) ready.push(w);
  if (d.wd < 0)
    if (Waiter* w = unblock(kWrite, false)) ready.push(w);
}

void PollDesc::deadline_fired(Mode m, std::uint32_t seq, WaiterList& ready) noexcept {
  MutexLock g(lock_);
  Deadlines& d = *deadlines_;  // set: its timer fired
  Timer& t = m == kRead ? d.rt : d.wt;
  if (t.seq != seq) return;  // reset, cleared or closed after the timer was popped
  (m == kRead ? d.rd : d.wd) = -1;
  publish_expired();
  if (Waiter* w = unblock(m, false)) ready.push(w);
}

void PollDesc::read_deadline_fired(Timer* t, std::uint32_t seq, WaiterList& ready) noexcept {
  auto* d = reinterpret_cast<Deadlines*>(reinterpret_cast<char*>(t) - offsetof(Deadlines, rt));
  d->owner->deadline_fired(kRead, seq, ready);
}

void PollDesc::write_deadline_fired(Timer* t, std::uint32_t seq, WaiterList& ready) noexcept {
  auto* d = reinterpret_cast<Deadlines*>(reinterpret_cast<char*>(t) - offsetof(Deadlines, wt));
  d->owner->deadline_fired(kWrite, seq, ready);
}

void PollDesc::evict(TimerQueue& q, WaiterList& ready) noexcept {
  MutexLock g(lock_);
  if (info_.load(std::memory_order_relaxed) & kClosing) return;
  info_.fetch_or(kClosing);
  if (deadlines_) {
    q.cancel(&deadlines_->rt);
    q.cancel(&deadlines_->wt);
  }
  if (Waiter* w = unblock(kRead, false)) ready.push(w);
  if (Waiter* w = unblock(kWrite, false)) ready.push(w);
}

void PollDesc::reset_for_open(std::intptr_t handle, void* user, TimerQueue& q) noexcept {
  MutexLock g(lock_);
  if (!quiescent()) fatal("PollDesc: reused while an operation was parked on it");
  handle_ = handle;
  user_ = user;
  if (deadlines_) {
    deadlines_->rd = deadlines_->wd = 0;
    // Bump the timer sequences: a firing popped for the previous owner is now stale.
    q.cancel(&deadlines_->rt);
    q.cancel(&deadlines_->wt);
  }
  rg_.store(kIdle);
  wg_.store(kIdle);
  info_.store(0);
}

bool PollDesc::quiescent() const noexcept {
  const auto r = rg_.load(), w = wg_.load();
  return r <= kReady && w <= kReady;
}

}  // namespace netpoll
