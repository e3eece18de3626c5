// epoll-specific behaviour not covered by the cross-backend conformance suite.
#include "netpoll/backends/epoll/epoll_poller.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stddef.h>
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

TEST_CASE("epoll: the wake eventfd cannot be registered or removed through the contract") {
  EpollPoller p;
  const int wfd = netpoll::EpollPollerTestPeer::wakefd(p);
  CHECK(p.register_handle(wfd, netpoll::Token{1}) == netpoll::Errc::already_registered);
  CHECK(p.deregister_handle(wfd) == netpoll::Errc::not_registered);
  CHECK(p.deregister_handle(p.native_handle()) == netpoll::Errc::not_registered);
  p.wake();  // still works
  Event buf[4];
  auto n = p.wait(buf, Timeout::infinite());
  REQUIRE(n.ok());
  CHECK(p.stats().wakeups == 1);
}

TEST_CASE("epoll: epoll_pwait2 refused by a seccomp filter (EPERM) falls back, not fatal") {
  // In a child: install a filter that fails epoll_pwait2 with EPERM, then wait with ns timeouts.
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_epoll_pwait2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(3);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(3);
    EpollPoller p;
    Event buf[4];
    for (int i = 0; i < 3; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      auto n = p.wait(buf, Timeout::after(std::chrono::microseconds(300)));
      if (!n.ok() || *n != 0) _exit(4);
      if (std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(300)) _exit(5);
    }
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));  // a fatal_syscall abort would end it with SIGABRT
  CHECK(WEXITSTATUS(status) == 0);
}
