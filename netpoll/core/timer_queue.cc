#include "netpoll/core/timer_queue.h"

#include <cstddef>
#include <cstring>
#include <new>

#include <mutex>

#include "netpoll/contract/clock.h"
#include "netpoll/core/waiter.h"

namespace netpoll {

TimerQueue::~TimerQueue() {
  MutexLock g(mu_);
  while (chunks_) {
    void* next;
    std::memcpy(&next, chunks_, sizeof next);
    ::operator delete(chunks_);
    chunks_ = next;
  }
}

void* TimerQueue::lasting_block(std::size_t size) {
  constexpr std::size_t kAlign = alignof(std::max_align_t);
  static_assert(kAlign >= sizeof(void*) && kLastingChunk % kAlign == 0);
  size = (size + kAlign - 1) / kAlign * kAlign;
  if (size > kLastingChunk / 4) throw std::bad_alloc();  // a misuse: blocks are small
  MutexLock g(mu_);
  if (chunk_left_ < size) {
    void* chunk = ::operator new(kLastingChunk);  // before any change: a throw leaves all as it was
    std::memcpy(chunk, &chunks_, sizeof chunks_);
    chunks_ = chunk;
    chunk_left_ = kLastingChunk - kAlign;  // the first kAlign bytes hold the link
  }
  chunk_left_ -= size;
  return static_cast<char*>(chunks_) + kAlign + chunk_left_;
}

void TimerQueue::schedule(Timer* t, std::int64_t when) {
  {
    MutexLock g(mu_);
    if (when <= firing_now_) when = firing_now_ + 1;
    // Room first: a bad_alloc must leave the timer exactly as it was, its seq included (a
    // firing popped before this call must still count as current, or the deadline it carries
    // would be dropped while the owner keeps the old value).
    if (!t->queued()) heap_.make_room();  // (reserve(size + 1) would regrow by one each time)
    ++t->seq;
    heap_.schedule(t, when);
    publish_next();
  }
  // Pairs with begin_sleep(): either it sees our next_when_, or we see its sleeping_until_.
  if (when < sleeping_until_.load(std::memory_order_seq_cst)) wake_(wake_ctx_);
}

bool TimerQueue::cancel(Timer* t) noexcept {
  MutexLock g(mu_);
  ++t->seq;
  if (!t->queued()) return false;
  heap_.cancel(t);
  publish_next();
  // No wake: a sleeping poller that wakes for a cancelled timer just finds nothing due.
  return true;
}

std::size_t TimerQueue::size() const noexcept {
  MutexLock g(mu_);
  return heap_.size();
}

std::size_t TimerQueue::capacity() const noexcept {
  MutexLock g(mu_);
  return heap_.capacity();
}

void TimerQueue::reserve(std::size_t n) {
  MutexLock g(mu_);
  heap_.reserve(n);
}

Timeout TimerQueue::begin_sleep(Timeout t) noexcept {
  std::int64_t next = next_when();
  if (next == kNone && t.is_infinite()) {
    sleeping_until_.store(kNone, std::memory_order_seq_cst);
    next = next_when();
    if (next == kNone) return t;
  }
  const std::int64_t now = now_ns();
  // An enormous finite timeout that would overflow is as good as infinite.
  std::int64_t until =
      (t.is_infinite() || t.nanoseconds() >= kNone - now) ? kNone : now + t.nanoseconds();
  if (next < until) until = next;
  sleeping_until_.store(until, std::memory_order_seq_cst);
  // A timer scheduled between our first load and the store above did not see us sleeping.
  next = next_when();
  if (next < until) until = next;
  if (until == kNone) return Timeout::infinite();
  return until <= now ? Timeout::zero() : Timeout::after_ns(until - now);
}

std::size_t TimerQueue::fire_due(std::int64_t now, WaiterList& ready) noexcept {
  std::size_t fired = 0;
  mu_.lock();
  firing_now_ = now;
  while (!heap_.empty() && heap_.top().when <= now) {
    Timer* t = heap_.pop();
    const std::uint32_t seq = t->seq;
    const TimerFn fn = t->fire;
    publish_next();
    mu_.unlock();
    fn(t, seq, ready);
    ++fired;
    mu_.lock();
  }
  firing_now_ = kAwake;
  mu_.unlock();
  return fired;
}

}  // namespace netpoll
