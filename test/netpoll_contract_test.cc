// The core's deadlines over every backend built for the target, Windows included: they need
// only a registered handle (IdleHandle), no readiness. Cases refer to docs/testing.md numbers; the
// rest of the core suite (readiness, hangups, stale events) is netpoll_conformance_test.cc.
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "netpoll/core/netpoll.h"
#include "doctest/doctest.h"
#include "netpoll/contract/clock.h"
#include "netpoll/contract/error.h"
#include "test/backend_list.h"
#include "test/idle_handle.h"

using namespace std::chrono_literals;
using netpoll::BasicNetpoll;
using netpoll::Errc;
using netpoll::kRead;
using netpoll::kReadWrite;
using netpoll::kWrite;
using netpoll::now_ns;
using netpoll::PollDesc;
using netpoll::ThreadWaiter;
using netpoll::Timeout;
using netpoll::WaiterList;
using namespace netpoll::testing;

namespace {

// A Netpoll with one registered idle handle; closed, and checked, at scope exit.
template <class B>
struct Opened {
  BasicNetpoll<B> np;
  IdleHandle<B> h;
  PollDesc* pd = *np.open(h.get());
  ~Opened() { CHECK(!np.close(pd)); }
};

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("netpoll: deadlines fire, never early, and wake a sleeping poller", B,
                          np_deadline) {
  Opened<B> f;
  auto& [np, h, pd] = f;
  PollerThread<BasicNetpoll<B>> poller(np);  // sleeps infinitely until a timer is armed
  for (std::int64_t d : {std::int64_t{1}, std::int64_t{1000}, ms(1), ms(20), ms(100)}) {
    CAPTURE(d);
    const std::int64_t start = now_ns();
    np.set_deadline(pd, start + d, kRead);
    ThreadWaiter w;
    (void)pd->prepare(kRead);
    std::error_code ec = pd->check(kRead);
    if (!ec) ec = pd->wait(kRead, w);
    CHECK(ec == Errc::deadline_exceeded);
    CHECK(now_ns() >= start + d);  // never early (case 10)
    np.set_deadline(pd, 0, kRead);  // clearing works
    CHECK(!pd->check(kRead));
  }
}
TEST_CASE_TEMPLATE_APPLY(np_deadline, Backends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: a deadline in the past unblocks a parked read at once", B,
                          np_past_deadline) {
  Opened<B> f;
  auto& [np, h, pd] = f;
  PollerThread<BasicNetpoll<B>> poller(np);
  std::error_code ec;
  std::atomic<bool> started{false};
  std::thread reader([&] {
    ThreadWaiter w;
    (void)pd->prepare(kRead);
    started.store(true);
    ec = pd->wait(kRead, w);
  });
  while (!started.load()) std::this_thread::yield();
  std::this_thread::sleep_for(10ms);
  np.set_deadline(pd, now_ns() - ms(1000), kRead);
  reader.join();
  CHECK(ec == Errc::deadline_exceeded);
  CHECK(!pd->check(kWrite));  // only the read side expired
  CHECK(np.timers().size() == 0);  // a past deadline arms no timer
}
TEST_CASE_TEMPLATE_APPLY(np_past_deadline, Backends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: a reset deadline never fires with its old value (case 13)",
                          B, np_deadline_reset) {
  BasicNetpoll<B> np;
  IdleHandle<B> h;
  PollDesc* pd = *np.open(h.get());
  WaiterList ready;
  SUBCASE("reset later before it fires") {
    np.set_deadline(pd, now_ns() + ms(30), kReadWrite);
    np.set_deadline(pd, now_ns() + ms(60000), kRead);
    np.set_deadline(pd, 0, kWrite);
    poll_for(np, 80ms, ready);
    CHECK(!pd->check(kRead));
    CHECK(!pd->check(kWrite));
    CHECK(np.timers().size() == 1);
  }
  SUBCASE("racing resets from another thread while the poller fires timers") {
    std::atomic<bool> stop{false};
    std::thread poller([&] {
      WaiterList r;
      while (!stop.load()) {
        REQUIRE(np.poll(Timeout::after(200us), r).ok());
        r.notify_all();
      }
    });
    for (int i = 0; i < 20000 * stress_scale(); ++i) {
      // A deadline about to fire, immediately moved far out: a firing popped in between must
      // be recognised as stale and leave no expired state behind.
      np.set_deadline(pd, now_ns() + (i % 50) * 1000, kRead);
      np.set_deadline(pd, now_ns() + ms(60000), kRead);
      REQUIRE(!pd->check(kRead));
    }
    stop.store(true);
    poller.join();
    CHECK(!pd->check(kRead));
  }
  CHECK(!np.close(pd));
  CHECK(np.timers().size() == 0);  // close stops the deadline timers
}
TEST_CASE_TEMPLATE_APPLY(np_deadline_reset, Backends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: concurrent SetDeadline from several threads (case 12, core)",
                          B, np_concurrent_deadline) {
  Opened<B> f;
  auto& [np, h, pd] = f;
  PollerThread<BasicNetpoll<B>> poller(np);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 5000 * stress_scale(); ++i) {
        const auto m = (rng() & 1) ? kRead : kWrite;
        np.set_deadline(pd, rng() % 3 == 0 ? 0 : now_ns() + (rng() % 2000) * 1000, m);
      }
    });
  for (auto& t : ts) t.join();
  np.set_deadline(pd, 0, kReadWrite);
  CHECK(!pd->check(kRead));
  CHECK(!pd->check(kWrite));
  CHECK(np.timers().size() == 0);
}
TEST_CASE_TEMPLATE_APPLY(np_concurrent_deadline, Backends);
