// WaitDeadline: for backends whose kernel wait cannot express every Timeout (epoll_wait's int
// milliseconds, kevent's 24-hour cap): the wait is made in pieces until the caller's timeout
// has really passed, so Backend::wait never returns early (docs/pitfalls.md 6).
#pragma once

#include <cstdint>

#include "netpoll/contract/clock.h"
#include "netpoll/contract/timeout.h"

namespace netpoll {

class WaitDeadline {
 public:
  // Saturates instead of overflowing for absurd timeouts.
  explicit WaitDeadline(Timeout t) noexcept {
    if (t.is_infinite() || t.is_zero()) return;  // a poll: nothing to wait out, no clock read
    end_ = t.deadline_from(now_ns());
  }
  // After a piece that reported nothing: true, with *left set to the rest, if the timeout has
  // not passed yet; false once it has, always for a zero timeout, and always for an infinite
  // wait (which the kernel only ends with an event, a wake or a signal).
  bool more(Timeout* left) const noexcept {
    if (end_ == 0) return false;
    const std::int64_t rest = end_ - now_ns();
    if (rest <= 0) return false;
    *left = Timeout::after_ns(rest);
    return true;
  }

 private:
  std::int64_t end_ = 0;  // absolute now_ns() value; 0 for infinite or zero
};

}  // namespace netpoll
