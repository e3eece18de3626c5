// epoll-specific behaviour not covered by the cross-backend conformance suite.
#include "backends/epoll/epoll_poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

#include "doctest/doctest.h"

namespace netpoll {
struct EpollPollerTestPeer {
  static int wakefd(EpollPoller& p) { return p.wakefd_; }
  // Forces the epoll_wait(ms) path kernels before 5.11 take.
  static void disable_pwait2(EpollPoller& p) { p.have_pwait2_ = false; }
};
}  // namespace netpoll

using netpoll::EpollPoller;
using netpoll::Event;
using netpoll::Timeout;

TEST_CASE("epoll: a saturated wake counter is reset, not fatal, and the wake still lands") {
  EpollPoller p;
  Event buf[4];
  // Put the eventfd counter at its maximum (2^64 - 2): the next write would block.
  const std::uint64_t max = 0xfffffffffffffffeull;
  REQUIRE(write(netpoll::EpollPollerTestPeer::wakefd(p), &max, sizeof max) == sizeof max);
  auto n = p.wait(buf, Timeout::zero());  // consume that edge
  REQUIRE(n.ok());
  p.wake();
  CHECK(p.stats().wake_drains == 1);
  CHECK(p.stats().wake_signals == 1);
  n = p.wait(buf, Timeout::infinite());  // returns: the wake landed after the reset
  REQUIRE(n.ok());
  CHECK(*n == 0);
}

TEST_CASE("epoll: the wake eventfd is close-on-exec and never reported as an event") {
  EpollPoller p;
  CHECK((fcntl(netpoll::EpollPollerTestPeer::wakefd(p), F_GETFD) & FD_CLOEXEC) != 0);
  p.wake();
  Event buf[4];
  auto n = p.wait(buf, Timeout::after(std::chrono::seconds(5)));
  REQUIRE(n.ok());
  CHECK(*n == 0);
  CHECK(p.stats().wakeups == 1);
}

TEST_CASE("epoll: without epoll_pwait2, sub-millisecond timeouts round up, never down to zero") {
  EpollPoller p;
  netpoll::EpollPollerTestPeer::disable_pwait2(p);
  Event buf[4];
  using std::chrono::nanoseconds;
  for (auto d : {nanoseconds(1), nanoseconds(1000), nanoseconds(999999), nanoseconds(1000001)}) {
    CAPTURE(d.count());
    const auto t0 = std::chrono::steady_clock::now();
    auto n = p.wait(buf, Timeout::after(d));
    REQUIRE(n.ok());
    CHECK(*n == 0);
    CHECK(std::chrono::steady_clock::now() - t0 >= d);
  }
}
