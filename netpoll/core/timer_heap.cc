#include "netpoll/core/timer_heap.h"

namespace netpoll {

void TimerHeap::schedule(Timer* t, std::int64_t when) {
  t->when = when;
  if (t->queued()) {
    const std::size_t i = t->index;
    const std::int64_t old = heap_[i].when;
    heap_[i].when = when;
    if (when < old) sift_up(i);
    else sift_down(i);
    return;
  }
  heap_.push_back({when, t});
  t->index = static_cast<std::uint32_t>(heap_.size() - 1);
  sift_up(heap_.size() - 1);
}

void TimerHeap::cancel(Timer* t) noexcept {
  if (t->queued()) remove_at(t->index);
}

Timer* TimerHeap::pop() noexcept {
  Timer* t = heap_.front().timer;
  remove_at(0);
  return t;
}

void TimerHeap::remove_at(std::size_t i) noexcept {
  heap_[i].timer->index = Timer::kNotQueued;
  const std::size_t last = heap_.size() - 1;
  if (i != last) {
    const Entry moved = heap_[last];
    heap_.pop_back();
    place(i, moved);
    // The moved entry may belong above or below its new position.
    if (i > 0 && moved.when < heap_[(i - 1) / kArity].when) sift_up(i);
    else sift_down(i);
  } else {
    heap_.pop_back();
  }
}

void TimerHeap::sift_up(std::size_t i) noexcept {
  const Entry e = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / kArity;
    if (heap_[parent].when <= e.when) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, e);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
  const std::size_t n = heap_.size();
  const Entry e = heap_[i];
  for (;;) {
    const std::size_t first = i * kArity + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t end = first + kArity < n ? first + kArity : n;
    for (std::size_t c = first + 1; c < end; ++c)
      if (heap_[c].when < heap_[best].when) best = c;
    if (e.when <= heap_[best].when) break;
    place(i, heap_[best]);
    i = best;
  }
  place(i, e);
}

bool TimerHeap::verify() const noexcept {
  for (std::size_t i = 0; i < heap_.size(); ++i) {
    if (heap_[i].timer->index != i || heap_[i].timer->when != heap_[i].when) return false;
    if (i > 0 && heap_[(i - 1) / kArity].when > heap_[i].when) return false;
  }
  return true;
}

}  // namespace netpoll
