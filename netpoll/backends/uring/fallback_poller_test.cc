// UringFallbackPoller: io_uring where the kernel allows it, epoll where io_uring_setup is
// refused (a seccomp filter makes the refusal here, in a forked child, as container runtimes'
// default profiles do), which one runs named by name() and the refusal kept; the preference
// (prefer(), NETPOLL_BACKEND) forces either.
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <system_error>
#include <thread>

#include "doctest/doctest.h"
#include "netpoll/backends/uring/fallback_poller.h"
#include "test/seccomp_refuse.h"
#include "test/test_util.h"

using netpoll::Event;
using netpoll::Timeout;
using netpoll::Token;
using netpoll::UringFallbackPoller;
using namespace netpoll::testing;

namespace {

// A poller that works: a registered socket's readiness or completion machinery aside, a wake
// from another thread ends an infinite wait. A wait may also return early, empty, on EINTR
// (the contract allows it): a ring this thread used in an earlier case still runs task work
// on it as it goes, which interrupts the thread's next blocking syscall. So it waits again
// until the wake was seen (at most a few times).
bool wakes(UringFallbackPoller& p) {
  Event buf[4];
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    p.wake();
  });
  bool ok = true;
  for (int i = 0; i < 5 && ok && p.stats().wakeups == 0; ++i) ok = p.wait(buf, Timeout::infinite()).ok();
  t.join();
  return ok && p.stats().wakeups == 1;
}

// Runs `body` in a child with io_uring_setup refused by errno `err`; the child's exit status.
template <class F>
int in_child_refusing(int err, F body) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!refuse_syscall(SYS_io_uring_setup, err)) _exit(90);
    _exit(body());
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));  // a fatal error or an uncaught exception would end it by signal
  return WEXITSTATUS(status);
}

struct RestorePreference {
  UringFallbackPoller::Preference saved = UringFallbackPoller::preference();
  ~RestorePreference() { UringFallbackPoller::prefer(saved); }
};

}  // namespace

TEST_CASE("uring fallback: io_uring where the kernel allows it") {
  RestorePreference r;
  UringFallbackPoller::prefer(UringFallbackPoller::Preference::automatic);
  UringFallbackPoller p;
  MESSAGE("backend: " << p.name() << " (refusal: " << p.ring_refusal().message() << ")");
  // This machine's kernel (6.x, io_uring enabled) allows it; elsewhere the refusal is named.
  CHECK((p.ring() ? !p.ring_refusal() : static_cast<bool>(p.ring_refusal())));
  CHECK(p.name() == (p.ring() ? "io_uring" : "epoll"));
  CHECK(wakes(p));
}

TEST_CASE("uring fallback: io_uring_setup refused (EPERM, ENOSYS, ENOMEM) -> epoll, with the reason") {
  for (int err : {EPERM, ENOSYS, ENOMEM}) {
    CAPTURE(err);
    const int rc = in_child_refusing(err, [err] {
      UringFallbackPoller::prefer(UringFallbackPoller::Preference::automatic);
      UringFallbackPoller p;
      if (p.ring()) return 1;
      if (p.name() != "epoll") return 2;
      if (p.ring_refusal() != std::error_code(err, std::generic_category())) return 3;
      // The epoll poller works: a registered socket's readiness is reported.
      Pair pr = unix_pair();
      if (p.register_handle(pr.b.get(), Token{7})) return 4;
      Event buf[4];
      auto n = p.wait(buf, Timeout::after(std::chrono::seconds(2)));
      if (!n || *n != 1 || buf[0].token != Token{7}) return 5;  // its first writability edge
      return 0;
    });
    CHECK(rc == 0);
  }
}

// A kernel older than 5.19 (io_uring without COOP_TASKRUN / SUBMIT_ALL) answers the setup's
// flags with EINVAL. It would half work (no multishot wake poll, no cancel by descriptor), so
// it is refused as ENOSYS and the Loop runs epoll.
TEST_CASE("uring fallback: a kernel without the flags (EINVAL from io_uring_setup) -> epoll, as ENOSYS") {
  const int rc = in_child_refusing(EINVAL, [] {
    UringFallbackPoller::prefer(UringFallbackPoller::Preference::automatic);
    UringFallbackPoller p;
    if (p.ring()) return 1;
    if (p.name() != "epoll") return 2;
    if (p.ring_refusal() != std::error_code(ENOSYS, std::generic_category())) return 3;
    return wakes(p) ? 0 : 4;
  });
  CHECK(rc == 0);
}

TEST_CASE("uring fallback: a refusal it must not hide is thrown") {
  SUBCASE("io_uring forced: the refusal is thrown") {
    const int rc = in_child_refusing(EPERM, [] {
      UringFallbackPoller::prefer(UringFallbackPoller::Preference::io_uring);
      try {
        UringFallbackPoller p;
        return 1;
      } catch (const std::system_error& e) {
        return e.code() == std::error_code(EPERM, std::generic_category()) ? 0 : 2;
      }
    });
    CHECK(rc == 0);
  }
  SUBCASE("another error (EMFILE) is not a reason to fall back") {
    const int rc = in_child_refusing(EMFILE, [] {
      UringFallbackPoller::prefer(UringFallbackPoller::Preference::automatic);
      try {
        UringFallbackPoller p;
        return 1;
      } catch (const std::system_error& e) {
        return e.code() == std::error_code(EMFILE, std::generic_category()) ? 0 : 2;
      }
    });
    CHECK(rc == 0);
  }
}

TEST_CASE("uring fallback: epoll preferred") {
  RestorePreference r;
  UringFallbackPoller::prefer(UringFallbackPoller::Preference::epoll);
  UringFallbackPoller p;
  CHECK(!p.ring());
  CHECK(p.name() == "epoll");
  CHECK(p.ring_refusal() == std::errc::operation_not_permitted);
  CHECK(!p.has_queued());
  CHECK(wakes(p));
}
