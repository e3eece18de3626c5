// What only the kqueue backend does (the shared contract is checked by
// //test:poller_conformance_test): the EVFILT_USER wake, the benign EPIPE registration, the
// 24-hour cap. Over the real kqueue on macOS / FreeBSD, over the double on Linux (BUILD); the
// pipe wake fallback, which needs the double to hide EVFILT_USER, is kqueue_pipe_wake_test.cc.
#include "netpoll/backends/kqueue/kqueue_poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "doctest/doctest.h"
#include "test/posix_fd.h"
#include "test/test_util.h"

using namespace std::chrono_literals;
using netpoll::Errc;
using netpoll::Event;
using netpoll::KqueuePoller;
using netpoll::Timeout;
using netpoll::Token;
using netpoll::testing::collect_until;
using netpoll::testing::Fd;

TEST_CASE("kqueue: EVFILT_USER wakes by default") {
  KqueuePoller p;
  CHECK(!p.wakes_through_pipe());
  MESSAGE("backend: " << KqueuePoller::kName);
}

TEST_CASE("kqueue: EPIPE on registering a pipe whose reader is gone is benign; the writer is woken") {
  KqueuePoller p;
  int fds[2];
  REQUIRE(netpoll::testing::pipe_cloexec(fds, /*nonblock=*/true) == 0);
  Fd r(fds[0]), w(fds[1]);
  r.reset();
  REQUIRE(!p.register_handle(w.get(), Token{5}));
  auto evs = collect_until(p, [](auto& v) { return !v.empty(); }, 2s);
  REQUIRE(!evs.empty());
  CHECK(evs[0].token == Token{5});
  CHECK(evs[0].wakes_writer());
  CHECK(evs[0].has(Event::kReadHangup));
  // Deregistration: the write filter was never added (ENOENT), the read filter was.
  CHECK(!p.deregister_handle(w.get()));
  CHECK(p.deregister_handle(w.get()) == Errc::not_registered);
}

TEST_CASE("kqueue: a finite wait longer than the kernel's 24-hour cap is still woken") {
  KqueuePoller p;
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    p.wake();
  });
  Event buf[2];
  auto n = p.wait(buf, Timeout::after(std::chrono::hours(48)));
  t.join();
  REQUIRE(n.ok());
  CHECK(*n == 0);
}
