// The resolver pool and the waits on it (netpoll/net/internal/resolver.h), through Dial and Loop::shutdown, on
// every OS: the lookup is replaced by a test seam (ResolverPool::hooks) that blocks until the
// test lets it go, throws, or fails, so no DNS is needed. netpoll/net/resolver_dns_linux_test.cc runs the
// same waits against a real DNS stand-in that never answers (POSIX, network namespaces).
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "netpoll/net/net.h"
#include "netpoll/net/internal/resolver.h"
#include "test/net_test_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;

namespace {

using netpoll::testing::eventually;
using netpoll::testing::step_until;

// The failure guard of the seam's blocking call (a bug must not hang the test).
constexpr auto kCap = 10s;

// A lookup that blocks until the gate opens, counting the calls inside it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int inside = 0, peak = 0, calls = 0;
  int now_inside() {
    std::lock_guard<std::mutex> g(mu);
    return inside;
  }
};
Gate* g_gate = nullptr;

Addrs gated_lookup(std::string_view, std::string_view, bool) {
  Gate& g = *g_gate;
  std::unique_lock<std::mutex> lk(g.mu);
  ++g.calls;
  if (++g.inside > g.peak) g.peak = g.inside;
  g.cv.wait_for(lk, kCap, [&] { return g.open; });
  --g.inside;
  return AddrErrc::no_suitable_address;
}

// Installs the gated lookup; on the way out opens the gate and waits until the pool is idle,
// so that no lookup of this test outlives it.
struct GatedResolver {
  Gate gate;
  GatedResolver() {
    g_gate = &gate;
    ResolverPool::hooks().lookup = &gated_lookup;
  }
  void release() {
    {
      std::lock_guard<std::mutex> g(gate.mu);
      gate.open = true;
    }
    gate.cv.notify_all();
  }
  ~GatedResolver() {
    release();
    CHECK(eventually([] {
      const ResolverPool::Stats s = ResolverPool::instance().stats();
      return s.running == 0 && s.queued == 0;
    }));
    ResolverPool::hooks().lookup = nullptr;
    g_gate = nullptr;
  }
};

}  // namespace

TEST_SUITE("resolver") {

TEST_CASE("a Dial's timeout covers name resolution: deadline_exceeded while the lookup still runs") {
  GatedResolver r;
  Loop loop;
  Result<Conn> c = loop.block_on(Dial(loop, "tcp", "blocked.example:80", 200ms));
  REQUIRE(!c);
  CHECK(c.error() == Errc::deadline_exceeded);
  // The wait ended, not the lookup: it is still inside the (uninterruptible) call.
  CHECK(r.gate.now_inside() == 1);
  CHECK(ResolverPool::instance().stats().running == 1);
  // The same from a plain thread blocked in Dial while another thread runs the Loop.
  netpoll::testing::LoopThread lt;
  Result<Conn> t = Dial(lt.loop, "tcp", "blocked2.example:80", 200ms).wait();
  REQUIRE(!t);
  CHECK(t.error() == Errc::deadline_exceeded);
  CHECK(r.gate.now_inside() == 2);
  // Let them finish: their results go nowhere (the waiters are gone).
}

TEST_CASE("Loop::shutdown ends a pending lookup with Errc::closed") {
  GatedResolver r;
  Loop loop;
  std::error_code got;
  bool ended = false;
  loop.spawn([](Loop& l, std::error_code& e, bool& done) -> Task<void> {
    Result<Conn> c = co_await Dial(l, "tcp", "blocked.example:80");  // no timeout
    e = c ? std::error_code() : c.error();
    done = true;
  }(loop, got, ended));
  REQUIRE(step_until(loop, [&] { return r.gate.now_inside() == 1; }));
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  REQUIRE(left);
  CHECK(*left == 0);
  CHECK(ended);
  CHECK(got == Errc::closed);
  CHECK(r.gate.now_inside() == 1);  // the lookup runs on; shutdown did not wait for it
}

TEST_CASE("3,000 concurrent name Dials run on at most kMaxThreads threads; the rest queue") {
  GatedResolver r;
  Loop loop;
  constexpr int kDials = 3000;
  int ended = 0, expected_error = 0;
  for (int i = 0; i < kDials; ++i)
    loop.spawn([](Loop& l, int n, int& done, int& ok) -> Task<void> {
      Result<Conn> c = co_await Dial(l, "tcp", "host" + std::to_string(n) + ".example:80");
      if (!c && c.error() == AddrErrc::no_suitable_address) ++ok;  // what the seam answers
      ++done;
    }(loop, i, ended, expected_error));
  const std::size_t bound = ResolverPool::kMaxThreads;
  // Until every lookup is either inside the call or queued for one, and the pool's threads
  // (started as the first Dials queued) have each taken one.
  REQUIRE(step_until(loop, [&] {
    const int inside = r.gate.now_inside();
    return ResolverPool::instance().stats().queued + std::size_t(inside) == kDials && inside >= int(bound);
  }));
  const ResolverPool::Stats s = ResolverPool::instance().stats();
  CHECK(r.gate.now_inside() == int(bound));
  CHECK(s.queued == kDials - bound);  // a queued lookup holds no thread
  CHECK(s.threads <= bound);
  CHECK(s.peak_threads <= bound);
  CHECK(s.running == bound);
  r.release();
  REQUIRE(step_until(loop, [&] { return ended == kDials; }));
  CHECK(expected_error == kDials);
  CHECK(r.gate.peak <= int(bound));
  CHECK(r.gate.calls == kDials);
  CHECK(ResolverPool::instance().stats().peak_threads <= bound);
}

TEST_CASE("a lookup still queued when its waiter gives up is skipped, never called") {
  GatedResolver r;
  Loop loop;
  const std::size_t bound = ResolverPool::kMaxThreads;
  std::vector<int> busy(bound, 0);
  for (std::size_t i = 0; i < bound; ++i)  // occupy every thread
    loop.spawn([](Loop& l, int& done) -> Task<void> {
      (void)co_await Dial(l, "tcp", "busy.example:80");
      done = 1;
    }(loop, busy[i]));
  REQUIRE(step_until(loop, [&] { return r.gate.now_inside() == int(bound); }));
  const std::size_t skipped = ResolverPool::instance().stats().skipped;
  Result<Conn> c = loop.block_on(Dial(loop, "tcp", "queued.example:80", 50ms));
  REQUIRE(!c);
  CHECK(c.error() == Errc::deadline_exceeded);
  r.release();
  REQUIRE(step_until(loop, [&] {
    for (int b : busy)
      if (!b) return false;
    return ResolverPool::instance().stats().queued == 0;
  }));
  CHECK(ResolverPool::instance().stats().skipped == skipped + 1);
  CHECK(r.gate.calls == int(bound));  // the queued lookup never reached the call
}

TEST_CASE("idle pool threads exit: no thread outlives its work") {
  {
    GatedResolver r;
    r.release();
    Loop loop;
    (void)loop.block_on(Dial(loop, "tcp", "one.example:80"));
  }
  REQUIRE(ResolverPool::instance().stats().threads >= 1);
  ResolverPool::instance().exit_idle_threads();
  CHECK(eventually([] { return ResolverPool::instance().stats().threads == 0; }));
}

namespace {
Addrs throwing_lookup(std::string_view, std::string_view, bool) { throw std::bad_alloc(); }
void failing_thread_start() { throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again)); }
}  // namespace

TEST_CASE("bad_alloc in the lookup is an error result (ENOMEM), not std::terminate") {
  ResolverPool::hooks().lookup = &throwing_lookup;
  Loop loop;
  Result<Conn> c = loop.block_on(Dial(loop, "tcp", "throws.example:80", 5s));
  ResolverPool::hooks().lookup = nullptr;
  REQUIRE(!c);
  CHECK(c.error() == std::errc::not_enough_memory);
}

TEST_CASE("a pool thread that cannot start is an error result, not std::terminate") {
  ResolverPool::instance().exit_idle_threads();
  REQUIRE(eventually([] { return ResolverPool::instance().stats().threads == 0; }));
  ResolverPool::hooks().thread_start = &failing_thread_start;
  Loop loop;
  Result<Conn> c = loop.block_on(Dial(loop, "tcp", "nothread.example:80", 5s));
  ResolverPool::hooks().thread_start = nullptr;
  REQUIRE(!c);
  CHECK(c.error() == std::errc::resource_unavailable_try_again);
  CHECK(ResolverPool::instance().stats().queued == 0);  // not left behind for nobody
}

TEST_CASE("the thread that steps the Loop cannot block in a name Dial (its timer and shutdown need it)") {
  GatedResolver r;
  Loop loop;
  (void)loop.run_once(Timeout::zero());  // this thread is now the Loop's stepping thread
  Result<Conn> c = Dial(loop, "tcp", "embedded.example:80", 1s).wait();
  REQUIRE(!c);
  CHECK(c.error() == Errc::would_deadlock);
  CHECK(r.gate.calls == 0);  // refused before any lookup
}

}  // TEST_SUITE
