// The kqueue backend's pipe wake, for kernels without EVFILT_USER: over the double only, which
// can hide the filter (set_user_filter_supported); F_SETPIPE_SZ is Linux's too.
#include "netpoll/backends/kqueue/kqueue_poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "netpoll/backends/kqueue/testing/kqueue_double.h"
#include "doctest/doctest.h"

namespace netpoll {
struct KqueuePollerTestPeer {
  static int wake_read_end(KqueuePoller& p) { return p.wake_pipe_[0]; }
  static int wake_write_end(KqueuePoller& p) { return p.wake_pipe_[1]; }
};
}  // namespace netpoll

using namespace std::chrono_literals;
using netpoll::Errc;
using netpoll::Event;
using netpoll::KqueuePoller;
using netpoll::KqueuePollerTestPeer;
using netpoll::Timeout;
using netpoll::Token;

namespace {

// A KqueuePoller built while the double claims to have no EVFILT_USER.
struct PipeWakePoller {
  PipeWakePoller() {
    netpoll::kqueue_double::set_user_filter_supported(false);
    p = std::make_unique<KqueuePoller>();
    netpoll::kqueue_double::set_user_filter_supported(true);
  }
  std::unique_ptr<KqueuePoller> p;
};

}  // namespace

TEST_CASE("kqueue: without EVFILT_USER, wake falls back to a pipe with the same contract") {
  PipeWakePoller w;
  KqueuePoller& p = *w.p;
  REQUIRE(p.wakes_through_pipe());
  for (int fd : {KqueuePollerTestPeer::wake_read_end(p), KqueuePollerTestPeer::wake_write_end(p)})
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  Event buf[4];
  SUBCASE("coalesced; consumed once; the waiter never drains; another thread's wake lands") {
    for (int i = 0; i < 100; ++i) p.wake();
    CHECK(p.stats().wake_signals == 1);
    auto n = p.wait(buf, Timeout::infinite());
    REQUIRE(n.ok());
    CHECK(*n == 0);
    CHECK(p.stats().wakeups == 1);
    CHECK(*p.wait(buf, Timeout::zero()) == 0);
    CHECK(p.stats().wakeups == 1);  // consumed once
    CHECK(p.stats().wake_drains == 0);
    std::thread t([&] {
      std::this_thread::sleep_for(20ms);
      p.wake();
    });
    n = p.wait(buf, Timeout::infinite());  // only that wake ends this
    t.join();
    REQUIRE(n.ok());
    CHECK(p.stats().wake_signals == 2);
    CHECK(p.stats().wakeups == 2);
  }
  SUBCASE("the pipe's own descriptors are not the caller's to register") {
    CHECK(p.register_handle(KqueuePollerTestPeer::wake_read_end(p), Token{1}) ==
          Errc::already_registered);
    CHECK(p.deregister_handle(KqueuePollerTestPeer::wake_write_end(p)) == Errc::not_registered);
  }
  SUBCASE("a full pipe is emptied by the waker, and the wake still lands") {
    // Smallest pipe (one page) so the unread bytes fill it quickly.
    const int size = fcntl(KqueuePollerTestPeer::wake_write_end(p), F_SETPIPE_SZ, 4096);
    REQUIRE(size > 0);
    for (int i = 0; i < size + 10; ++i) {
      p.wake();
      auto n = p.wait(buf, Timeout::infinite());
      REQUIRE(n.ok());
    }
    CHECK(p.stats().wake_drains >= 1);
    CHECK(p.stats().wakeups == static_cast<std::uint64_t>(size + 10));
  }
}

