// The Backend contract's portable half, run on every backend compiled for the target (epoll,
// kqueue and its Linux double, IOCP under wine): identity, wake (from another thread, coalesced,
// never lost) and timeouts (never early, zero never blocks, absurdly long ones). The half that
// needs POSIX descriptors is in poller_conformance_test.cc; IOCP's completion-based
// counterpart of it is netpoll/backends/iocp/iocp_poller_test.cc.
#include <atomic>
#include <chrono>
#include <limits>
#include <string_view>
#include <thread>
#include <vector>

#include "doctest/doctest.h"
#include "netpoll/contract/backend.h"
#include "test/backend_list.h"
#include "test/portable_util.h"

using namespace std::chrono_literals;
using netpoll::Event;
using netpoll::Timeout;
using namespace netpoll::testing;

TEST_CASE_TEMPLATE_DEFINE("poller: backend identifies itself", B, poller_name) {
  B b;
  MESSAGE("backend: " << B::kName);
  CHECK(!std::string_view(B::kName).empty());
}
TEST_CASE_TEMPLATE_APPLY(poller_name, Backends);

TEST_CASE_TEMPLATE_DEFINE("poller: wake interrupts an infinite wait from another thread", B,
                          poller_wake) {
  B b;
  Event buf[8];
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    auto n = b.wait(std::span<Event>(buf), Timeout::infinite());
    CHECK(n.ok());
    CHECK(*n == 0);  // the wake itself is not an event
    returned.store(true);
  });
  // Keep waking until it returns: a wake issued before the thread blocks must still work (it
  // stays pending), and one issued while it blocks interrupts it.
  std::this_thread::sleep_for(20ms);
  b.wake();
  waiter.join();
  CHECK(returned.load());
  const auto s = b.stats();
  CHECK(s.wake_signals == 1);
  CHECK(s.wakeups == 1);
  CHECK(s.wake_drains == 0);  // the waiting side paid no syscall for the wake
}
TEST_CASE_TEMPLATE_APPLY(poller_wake, Backends);

TEST_CASE_TEMPLATE_DEFINE("poller: wakes coalesce and are never lost (case 14)", B,
                          poller_coalesce) {
  B b;
  Event buf[8];
  SUBCASE("1,000 wakes before a wait -> one syscall, one wakeup") {
    for (int i = 0; i < 1000; ++i) b.wake();
    CHECK(b.stats().wake_signals == 1);
    CHECK(wait_once(b, buf, Timeout::after(5s)) == 0);
    CHECK(b.stats().wakeups == 1);
    // Consumed once: the next waits do not see it again (no busy loop on a stale wake).
    CHECK(wait_once(b, buf, Timeout::zero()) == 0);
    CHECK(wait_once(b, buf, Timeout::after(20ms)) == 0);
    CHECK(b.stats().wakeups == 1);
    CHECK(b.stats().wake_drains == 0);
    // And the next wake works again, many times over.
    for (int i = 0; i < 100; ++i) {
      b.wake();
      CHECK(wait_once(b, buf, Timeout::infinite()) == 0);
    }
    CHECK(b.stats().wake_signals == 101);
    CHECK(b.stats().wakeups == 101);
  }
  SUBCASE("M threads x N wakes while the poller loops") {
    constexpr int kThreads = 4;
    const int kWakes = 2000 * stress_scale();
    std::atomic<int> done{0};
    std::atomic<std::uint64_t> returns{0};
    std::thread poller([&] {
      Event evs[8];
      while (done.load() < kThreads) {
        auto n = b.wait(std::span<Event>(evs), Timeout::infinite());
        REQUIRE(n.ok());
        returns.fetch_add(1);
      }
    });
    std::vector<std::thread> wakers;
    for (int t = 0; t < kThreads; ++t)
      wakers.emplace_back([&] {
        for (int i = 0; i < kWakes; ++i) b.wake();
        done.fetch_add(1);
        b.wake();  // the poller must observe `done`; a lost wake would hang this test
      });
    for (auto& w : wakers) w.join();
    poller.join();
    const auto s = b.stats();
    MESSAGE(B::kName << ": " << kThreads * (kWakes + 1) << " wakes -> " << s.wake_signals
                     << " signalling syscalls, " << s.wakeups << " wakeups, " << returns.load()
                     << " returns");
    CHECK(s.wake_signals >= 1);
    CHECK(s.wake_signals <= static_cast<std::uint64_t>(kThreads * (kWakes + 1)));
    // Every signal is consumed by exactly one wakeup, except possibly the last still pending.
    CHECK(s.wake_signals <= s.wakeups + 1);
    CHECK(s.wakeups <= s.wake_signals);
    CHECK(s.wakeups <= returns.load());
  }
}
TEST_CASE_TEMPLATE_APPLY(poller_coalesce, Backends);

TEST_CASE_TEMPLATE_DEFINE("poller: timeouts never return early; zero never blocks", B,
                          poller_timeouts) {
  B b;
  Event buf[8];
  for (auto d : {std::chrono::nanoseconds(1us), std::chrono::nanoseconds(1ms),
                 std::chrono::nanoseconds(50ms), std::chrono::nanoseconds(1500us)}) {
    CAPTURE(d.count());
    const auto t0 = Clock::now();
    CHECK(wait_once(b, buf, Timeout::after(d)) == 0);
    CHECK(elapsed_ns(t0) >= d.count());
  }
  // Zero: returns at once with nothing ready (a hang here fails by the test's own timeout).
  for (int i = 0; i < 1000; ++i) CHECK(wait_once(b, buf, Timeout::zero()) == 0);
  // Negative durations are clamped to zero (documented in netpoll/contract/timeout.h).
  CHECK(Timeout::after(-5s).is_zero());
  CHECK(wait_once(b, buf, Timeout::after(-5s)) == 0);
}
TEST_CASE_TEMPLATE_APPLY(poller_timeouts, Backends);

TEST_CASE_TEMPLATE_DEFINE("poller: an absurdly long timeout still waits and can be woken", B,
                          poller_long_timeout) {
  B b;
  Event buf[4];
  // Ten years is finite (fits int64 ns) and beyond epoll_wait's int milliseconds.
  const Timeout ten_years = Timeout::after(std::chrono::hours(24 * 365 * 10));
  CHECK(!ten_years.is_infinite());
  CHECK(Timeout::after(std::chrono::years(1000)).is_infinite());  // past int64 ns: infinite
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    b.wake();
  });
  const auto t0 = Clock::now();
  CHECK(wait_once(b, buf, ten_years) == 0);
  CHECK(elapsed_ns(t0) > 0);
  t.join();
  // The largest finite timeout: no overflow computing when it ends (UBSan checks).
  std::thread t2([&] {
    std::this_thread::sleep_for(20ms);
    b.wake();
  });
  CHECK(wait_once(b, buf, Timeout::after_ns(std::numeric_limits<std::int64_t>::max() - 1)) == 0);
  t2.join();
}
TEST_CASE_TEMPLATE_APPLY(poller_long_timeout, Backends);
