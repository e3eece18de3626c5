// The core (PollDesc + PollCache + timers + BasicNetpoll glue) over every backend built for
// this target. Cases refer to docs/testing.md numbers.
//
// Not built for Windows (POSIX_ONLY): every case drives readiness on a socketpair (or a
// poll(2) host). The core over IOCP is tested by netpoll/backends/iocp/iocp_netpoll_test.cc
// (completion readies a park, deadline/close -> cancel -> wait for the aborted packet, stale
// packets after slot reuse) and test/netpoll_contract_test.cc (deadlines), and end to end by
// the net suite (test/net_conformance_test.cc), all of which run on IOCP.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "netpoll/contract/clock.h"
#include "netpoll/core/netpoll.h"
#include "doctest/doctest.h"
#include "test/alloc_counter.h"
#include "netpoll/contract/error.h"
#include "test/backend_list.h"
#include "test/test_util.h"

using namespace std::chrono_literals;
using netpoll::BasicNetpoll;
using netpoll::Errc;
using netpoll::Event;
using netpoll::kRead;
using netpoll::kReadWrite;
using netpoll::kWrite;
using netpoll::now_ns;
using netpoll::PollDesc;
using netpoll::ThreadWaiter;
using netpoll::Timeout;
using netpoll::Timer;
using netpoll::WaiterList;
using namespace netpoll::testing;


namespace {

// True if readiness is recorded for `m` (consumes it, as the next operation would).
bool take_ready(PollDesc* pd, netpoll::Mode m) {
  if (pd->begin_park(m)) return true;
  CHECK(!pd->end_park(m));  // nothing happened in between; back to idle
  return false;
}

// A Netpoll with one registered socket pair end (p.b); closed, and checked, at scope exit.
template <class B>
struct Opened {
  BasicNetpoll<B> np;
  Pair p = unix_pair();
  PollDesc* pd = *np.open(p.b.get());
  ~Opened() { CHECK(!np.close(pd)); }
};

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("netpoll: open, readiness, close, reuse", B, np_basic) {
  BasicNetpoll<B> np;
  MESSAGE("backend: " << B::kName);
  Pair p = unix_pair();
  auto r = np.open(p.b.get(), &p);
  REQUIRE(r.ok());
  PollDesc* pd = *r;
  CHECK(pd->user() == &p);
  CHECK(pd->handle() == p.b.get());
  CHECK(np.cache().in_use() == 1);
  WaiterList ready;
  REQUIRE(np.poll(Timeout::after(1s), ready).ok());
  CHECK(take_ready(pd, kWrite));  // initial writability
  CHECK(!take_ready(pd, kRead));
  write_all(p.a.get(), "x");
  REQUIRE(np.poll(Timeout::after(1s), ready).ok());
  CHECK(take_ready(pd, kRead));
  CHECK(ready.empty());  // nobody was parked
  const auto tok = pd->token();
  CHECK(!np.close(pd));
  CHECK(np.cache().in_use() == 0);
  // The slot is reused with a new sequence.
  Pair q = unix_pair();
  auto r2 = np.open(q.b.get());
  REQUIRE(r2.ok());
  CHECK(*r2 == pd);
  CHECK(pd->token() != tok);
  CHECK(PollDesc::token_index(pd->token()) == PollDesc::token_index(tok));
  CHECK(np.cache().lookup(tok) == nullptr);
  CHECK(np.cache().lookup(pd->token()) == pd);
  CHECK(!np.close(pd));
}
TEST_CASE_TEMPLATE_APPLY(np_basic, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: stale events in one wait batch are dropped (case 1)", B,
                          np_stale) {
  BasicNetpoll<B> np;
  Pair p = unix_pair();
  PollDesc* pd = *np.open(p.b.get());
  WaiterList ready;
  poll_for(np, 20ms, ready);
  (void)take_ready(pd, kWrite);
  write_all(p.a.get(), "stale");
  close_with_reset(p.a);  // error + hangup for the old owner, too
  // Take the batch from the kernel, but do not dispatch it yet.
  Event evs[16];
  std::size_t n = 0;
  for (int i = 0; i < 100 && n == 0; ++i) n = *np.backend().wait(std::span<Event>(evs), Timeout::after(20ms));
  REQUIRE(n > 0);
  CHECK(evs[0].token == pd->token());
  // Inside the batch: close the descriptor, reuse its number and its PollDesc slot.
  const int num = p.b.get();
  CHECK(!np.close(pd));
  p.b.reset();
  Pair q = unix_pair();
  if (q.b.get() != num) {
    REQUIRE(dup2(q.b.get(), num) == num);
    q.b.reset(num);
  }
  PollDesc* pd2 = *np.open(num);
  REQUIRE(pd2 == pd);  // same memory, new sequence
  // Now deliver the old batch: nothing reaches the new owner.
  CHECK(np.dispatch(std::span<const Event>(evs, n), ready) == 0);
  CHECK(!take_ready(pd2, kRead));
  CHECK(!take_ready(pd2, kWrite));
  CHECK(!pd2->check(kRead));  // no stale error flag either
  // A forged error-only event with the old token does not flag the new owner.
  Event err{evs[0].token, Event::kError, 0};
  np.dispatch(std::span<const Event>(&err, 1), ready);
  CHECK(!pd2->check(kRead));
  CHECK(!np.close(pd2));
}
TEST_CASE_TEMPLATE_APPLY(np_stale, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: an error-only event flags reads until cleared", B,
                          np_event_err) {
  Opened<B> f;
  auto& [np, p, pd] = f;
  WaiterList ready;
  Event err{pd->token(), Event::kError, 0};
  np.dispatch(std::span<const Event>(&err, 1), ready);
  CHECK(pd->check(kRead) == Errc::event_error);
  CHECK(!pd->check(kWrite));  // a write learns its own, more specific error
  Event ok{pd->token(), Event::kReadable, 0};
  np.dispatch(std::span<const Event>(&ok, 1), ready);
  CHECK(!pd->check(kRead));
}
TEST_CASE_TEMPLATE_APPLY(np_event_err, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: a parked thread is woken by readiness", B, np_park) {
  Opened<B> f;
  auto& [np, p, pd] = f;
  {
    PollerThread<BasicNetpoll<B>> poller(np);
    for (int round = 0; round < 50; ++round) {
      std::error_code ec = make_error_code(Errc::invalid_argument);
      std::string got;
      std::thread reader([&] {
        ThreadWaiter w;
        for (;;) {
          REQUIRE(!pd->prepare(kRead));
          std::string s = drain(p.b.get());
          if (!s.empty()) {
            got = s;
            ec = {};
            return;
          }
          ec = pd->wait(kRead, w);
          if (ec) return;
        }
      });
      std::this_thread::sleep_for(1ms);
      write_all(p.a.get(), "r" + std::to_string(round));
      reader.join();
      CHECK(!ec);
      CHECK(got == "r" + std::to_string(round));
    }
  }
}
TEST_CASE_TEMPLATE_APPLY(np_park, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: close unblocks a parked read and write (case 7, core)", B,
                          np_close_unblocks) {
  Opened<B> f;
  auto& [np, p, pd] = f;
  PollerThread<BasicNetpoll<B>> poller(np);
  // Fill the send buffer so a writer has to park.
  std::string chunk(65536, 'x');
  while (write_all(p.b.get(), chunk) == chunk.size()) {
  }
  std::error_code rerr, werr;
  std::atomic<int> parked{0};
  auto park = [&](netpoll::Mode m, std::error_code& out) {
    ThreadWaiter w;
    (void)pd->prepare(m);
    parked.fetch_add(1);
    out = pd->wait(m, w);
  };
  std::thread r([&] { park(kRead, rerr); });
  std::thread w([&] { park(kWrite, werr); });
  while (parked.load() < 2) std::this_thread::yield();
  std::this_thread::sleep_for(10ms);
  np.evict(pd);
  r.join();
  w.join();
  CHECK(rerr == Errc::closed);
  CHECK(werr == Errc::closed);
  CHECK(rerr.message() == "use of closed network connection");
  CHECK(pd->prepare(kRead) == Errc::closed);  // and every later operation
}
TEST_CASE_TEMPLATE_APPLY(np_close_unblocks, ReadinessBackends);

namespace {
struct Rearming : Timer {
  void* np = nullptr;
  int fired = 0;
  void (*rearm)(Rearming*) = nullptr;
};
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("netpoll: a zero-delay timer re-armed from its callback does not "
                          "starve I/O (case 16)", B, np_timer_starve) {
  Opened<B> f;
  auto& [np, p, pd] = f;
  WaiterList ready;
  poll_for(np, 10ms, ready);
  (void)take_ready(pd, kWrite);
  Rearming t;
  t.np = &np;
  t.rearm = [](Rearming* self) {
    static_cast<BasicNetpoll<B>*>(self->np)->schedule_timer(self, now_ns());
  };
  t.fire = [](Timer* base, std::uint32_t, WaiterList&) noexcept {
    auto* self = static_cast<Rearming*>(base);
    ++self->fired;
    self->rearm(self);
  };
  np.schedule_timer(&t, now_ns());
  write_all(p.a.get(), "io");
  std::this_thread::sleep_for(5ms);  // the data is surely queued before the first poll
  REQUIRE(np.poll(Timeout::infinite(), ready).ok());
  CHECK(t.fired == 1);  // once per pass, not forever
  CHECK(take_ready(pd, kRead));
  REQUIRE(np.poll(Timeout::infinite(), ready).ok());  // due at once: does not block
  CHECK(t.fired == 2);
  np.cancel_timer(&t);
  CHECK(np.next_timer() == netpoll::TimerQueue::kNone);
  CHECK(np.next_timeout().is_infinite());
}
TEST_CASE_TEMPLATE_APPLY(np_timer_starve, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: readiness racing a park is never lost (ping-pong)", B,
                          np_race) {
  Opened<B> f;
  auto& [np, p, pd] = f;
  PollerThread<BasicNetpoll<B>> poller(np);
  const int kRounds = 2000 * stress_scale();
  std::thread server([&] {
    ThreadWaiter w;
    int got = 0;
    while (got < kRounds) {
      REQUIRE(!pd->prepare(kRead));
      std::string s = drain(p.b.get());
      if (s.empty()) {
        REQUIRE(!pd->wait(kRead, w));
        continue;
      }
      got += static_cast<int>(s.size());
      write_all(p.b.get(), s);  // echo
    }
  });
  // Client: one byte, wait for the echo (blocking read on the other end), repeat. A lost
  // wakeup would leave the server parked and this loop (and the test) stuck.
  int fl = fcntl(p.a.get(), F_GETFL);
  fcntl(p.a.get(), F_SETFL, fl & ~O_NONBLOCK);
  for (int i = 0; i < kRounds; ++i) {
    char c = static_cast<char>('a' + i % 26), back = 0;
    REQUIRE(::write(p.a.get(), &c, 1) == 1);
    REQUIRE(::read(p.a.get(), &back, 1) == 1);
    REQUIRE(back == c);
  }
  server.join();
}
TEST_CASE_TEMPLATE_APPLY(np_race, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: misuse aborts are not reachable by bad input (case 25)", B,
                          np_bad_input) {
  BasicNetpoll<B> np;
  SUBCASE("open of a bad handle returns the error and leaks no PollDesc") {
    auto r = np.open(-1);
    CHECK(!r.ok());
    CHECK(r.error() == std::errc::bad_file_descriptor);
    CHECK(np.cache().in_use() == 0);
  }
  SUBCASE("open twice for one handle") {
    Pair p = unix_pair();
    auto a = np.open(p.a.get());
    REQUIRE(a.ok());
    auto b = np.open(p.a.get());
    CHECK(b.error() == Errc::already_registered);
    CHECK(np.cache().in_use() == 1);
    CHECK(!np.close(*a));
  }
  SUBCASE("close after the handle was already closed reports it, still frees") {
    Pair p = unix_pair();
    PollDesc* pd = *np.open(p.a.get());
    p.a.reset();
    CHECK(np.close(pd) == std::errc::bad_file_descriptor);
    CHECK(np.cache().in_use() == 0);
  }
  SUBCASE("evict twice, deadlines after close") {
    Pair p = unix_pair();
    PollDesc* pd = *np.open(p.a.get());
    np.evict(pd);
    np.evict(pd);
    np.set_deadline(pd, now_ns() + ms(10), kRead);  // ignored once closing
    CHECK(np.timers().size() == 0);
    CHECK(pd->check(kRead) == Errc::closed);
    CHECK(!np.close(pd));
  }
  SUBCASE("absurd deadlines") {
    Pair p = unix_pair();
    PollDesc* pd = *np.open(p.a.get());
    np.set_deadline(pd, std::numeric_limits<std::int64_t>::max(), kRead);  // ~292 years
    CHECK(!pd->check(kRead));
    np.set_deadline(pd, std::numeric_limits<std::int64_t>::min(), kWrite);  // long past
    CHECK(pd->check(kWrite) == Errc::deadline_exceeded);
    WaiterList ready;
    REQUIRE(np.poll(Timeout::zero(), ready).ok());
    CHECK(!np.close(pd));
  }
}
TEST_CASE_TEMPLATE_APPLY(np_bad_input, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: embedded in a poll(2) host loop, a deadline set from "
                          "another thread wakes the host (docs/pitfalls.md 7)", B, np_embed) {
  Opened<B> f;
  auto& [np, p, pd] = f;
  std::error_code ec;
  std::atomic<bool> parked{false}, done{false};
  std::thread reader([&] {
    ThreadWaiter w;
    (void)pd->prepare(kRead);
    parked.store(true);
    ec = pd->wait(kRead, w);
    done.store(true);
  });
  while (!parked.load()) std::this_thread::yield();
  std::thread setter([&] {
    std::this_thread::sleep_for(30ms);  // the host is asleep with no timer by now
    np.set_deadline(pd, now_ns() + ms(10), kRead);
  });
  // The host loop: sleep on the native handle for next_timeout(), then run one poll step.
  // An infinite sleep is capped at 5 s so a missed wake fails the test instead of hanging it.
  // The host stops once the deadline has woken the reader (it notified a waiter): after that
  // nothing would wake an infinite sleep, and a slow reader thread must not be mistaken for a
  // missed wake.
  int rounds = 0, missed_wakes = 0;
  bool woke_reader = false;
  WaiterList ready;
  while (!woke_reader && rounds < 1000) {
    const Timeout t = np.next_timeout();
    pollfd pfd{np.backend().native_handle(), POLLIN, 0};
    const int ms_timeout = t.is_infinite() ? 5000 : static_cast<int>(t.milliseconds_ceil(60000));
    const int r = ::poll(&pfd, 1, ms_timeout);
    REQUIRE(r >= 0);
    if (r == 0 && t.is_infinite()) ++missed_wakes;
    REQUIRE(np.poll(Timeout::zero(), ready).ok());
    woke_reader = ready.notify_all() > 0;
    ++rounds;
  }
  setter.join();
  reader.join();
  CHECK(done.load());
  CHECK(ec == Errc::deadline_exceeded);
  CHECK(missed_wakes == 0);
  CHECK(rounds < 1000);
}
TEST_CASE_TEMPLATE_APPLY(np_embed, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("netpoll: steady state allocates nothing (open/close, deadlines, "
                          "park/ready, poll)", B, np_no_alloc) {
  BasicNetpoll<B> np;
  np.timers().reserve(64);
  std::vector<Pair> pairs;
  for (int i = 0; i < 32; ++i) pairs.push_back(unix_pair());
  WaiterList ready;
  auto cycle = [&] {
    for (auto& p : pairs) {
      PollDesc* pd = *np.open(p.b.get());
      np.set_deadline(pd, now_ns() + ms(60000), kReadWrite);
      np.set_deadline(pd, now_ns() + ms(30000), kRead);
      write_all(p.a.get(), "x");
      REQUIRE(np.poll(Timeout::after(50ms), ready).ok());
      (void)take_ready(pd, kRead);
      drain(p.b.get());
      np.set_deadline(pd, 0, kReadWrite);
      REQUIRE(!np.close(pd));
    }
  };
  cycle();  // warm-up: the first slab and the heap's array are allocated here
  const auto before = netpoll::testing::allocation_count();
  for (int r = 0; r < 5; ++r) cycle();
  CHECK(netpoll::testing::allocation_count() - before == 0);
  CHECK(np.cache().in_use() == 0);
}
TEST_CASE_TEMPLATE_APPLY(np_no_alloc, ReadinessBackends);
