// The PollDesc state machine on its own (no backend): transitions, errors, and the
// park/unblock race run on two threads.
#include "netpoll/core/poll_desc.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "netpoll/contract/clock.h"
#include "netpoll/core/mutex.h"
#include "netpoll/core/poll_cache.h"
#include "netpoll/core/timer_queue.h"
#include "doctest/doctest.h"
#include "netpoll/contract/error.h"
#include "test/alloc_counter.h"

using netpoll::Errc;
using netpoll::kRead;
using netpoll::kReadWrite;
using netpoll::kWrite;
using netpoll::PollDesc;
using netpoll::Waiter;
using netpoll::WaiterList;

namespace {
void no_wake(void*) noexcept {}
struct Flag : Waiter {
  Flag() : Waiter([](Waiter* w) noexcept { ++static_cast<Flag*>(w)->n; }) {}
  int n = 0;
};
}  // namespace

TEST_CASE("PollDesc: readiness before a park is consumed without sleeping") {
  auto owned = std::make_unique<PollDesc>();  // heap: ASan's fake stack drops alignas(64)
  PollDesc& pd = *owned;
  CHECK(pd.unblock(kRead, true) == nullptr);
  CHECK(pd.unblock(kRead, true) == nullptr);  // repeated: still one readiness
  CHECK(pd.begin_park(kRead));                // consumed
  CHECK(!pd.begin_park(kRead));               // now committing
  Flag f;
  CHECK(pd.commit_park(kRead, &f));
  Waiter* w = pd.unblock(kRead, true);
  CHECK(w == &f);
  w->notify();
  CHECK(f.n == 1);
  CHECK(pd.end_park(kRead));  // woken by readiness
  // The write side is independent.
  CHECK(!pd.begin_park(kWrite));
  CHECK(pd.unblock(kWrite, true) == nullptr);  // lands between begin and commit
  CHECK(!pd.commit_park(kWrite, &f));          // so the commit fails: no sleep
  CHECK(pd.end_park(kWrite));
}

TEST_CASE("PollDesc: close and deadline wake without readiness") {
  netpoll::TimerQueue q(&no_wake, nullptr);
  auto owned = std::make_unique<PollDesc>();  // heap: ASan's fake stack drops alignas(64)
  PollDesc& pd = *owned;
  WaiterList ready;
  Flag f;
  CHECK(!pd.begin_park(kRead));
  CHECK(pd.commit_park(kRead, &f));
  const std::int64_t now = netpoll::now_ns();
  pd.set_deadline(now - 1, now, kRead, q, ready);
  CHECK(ready.size() == 1);
  CHECK(ready.notify_all() == 1);
  CHECK(!pd.end_park(kRead));
  CHECK(pd.check(kRead) == Errc::deadline_exceeded);
  CHECK(!pd.check(kWrite));
  // A park after the deadline passed does not commit.
  CHECK(!pd.begin_park(kRead));
  CHECK(!pd.commit_park(kRead, &f));
  CHECK(!pd.end_park(kRead));
  pd.set_deadline(0, 0, kRead, q, ready);
  CHECK(!pd.check(kRead));
  // Close wakes a parked writer.
  CHECK(!pd.begin_park(kWrite));
  CHECK(pd.commit_park(kWrite, &f));
  pd.evict(q, ready);
  CHECK(ready.size() == 1);
  ready.notify_all();
  CHECK(!pd.end_park(kWrite));
  CHECK(pd.check(kWrite) == Errc::closed);
  CHECK(pd.prepare(kRead) == Errc::closed);
  CHECK(pd.closing());
}

TEST_CASE("PollDesc: readiness racing park on two threads loses nothing") {
  auto owned = std::make_unique<PollDesc>();  // heap: ASan's fake stack drops alignas(64)
  PollDesc& pd = *owned;
  constexpr int kRounds = 100000;
  std::atomic<int> consumed{0};
  std::thread waiter([&] {
    netpoll::ThreadWaiter w;
    for (int i = 0; i < kRounds; ++i) {
      if (!pd.begin_park(kRead)) {
        if (pd.commit_park(kRead, &w)) w.park();
        REQUIRE(pd.end_park(kRead));
      }
      consumed.store(i + 1, std::memory_order_release);
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    if (Waiter* w = pd.unblock(kRead, true)) w->notify();
    // One readiness per round: wait until it was consumed (a lost one hangs here).
    while (consumed.load(std::memory_order_acquire) <= i) std::this_thread::yield();
  }
  waiter.join();
  CHECK(consumed.load() == kRounds);
}

TEST_CASE("PollCache: slots are reused with a new sequence; lookup rejects stale tokens") {
  netpoll::PollCache c;
  PollDesc* a = c.alloc();
  PollDesc* b = c.alloc();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a != b);
  CHECK(c.in_use() == 2);
  CHECK(c.capacity() == netpoll::PollCache::kSlabSize);
  const auto ta = a->token();
  CHECK(c.lookup(ta) == a);
  c.free(a);
  CHECK(c.lookup(ta) == nullptr);
  PollDesc* a2 = c.alloc();
  CHECK(a2 == a);  // type-stable: same memory
  CHECK(a2->token() != ta);
  CHECK(c.lookup(a2->token()) == a2);
  CHECK(c.lookup(netpoll::Token{0xffffffffull}) == nullptr);               // index past the end
  CHECK(c.lookup(netpoll::Token{(1ull << 32) | 200000}) == nullptr);        // slab never made
  // Growing past one slab keeps earlier PollDescs where they were.
  std::vector<PollDesc*> many;
  for (std::uint32_t i = 0; i < 3 * netpoll::PollCache::kSlabSize; ++i) many.push_back(c.alloc());
  CHECK(c.lookup(a2->token()) == a2);
  for (PollDesc* p : many) {
    REQUIRE(p);
    CHECK(c.lookup(p->token()) == p);
    c.free(p);
  }
  c.free(a2);
  c.free(b);
  CHECK(c.in_use() == 0);
}

TEST_CASE("Mutex: mutual exclusion under contention") {
  netpoll::Mutex mu;
  long counter = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        std::lock_guard<netpoll::Mutex> g(mu);
        ++counter;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(counter == 80000);
  CHECK(mu.try_lock());
  CHECK(!mu.try_lock());
  mu.unlock();
}

TEST_CASE("deadline blocks: made on a slot's first deadline, from the queue's chunks, kept by the slot") {
  netpoll::TimerQueue q(&no_wake, nullptr);
  netpoll::PollCache cache;
  constexpr int kSlots = 1000;
  q.reserve(2 * kSlots);  // the heap's growth is not what is counted here
  std::vector<PollDesc*> pds;
  for (int i = 0; i < kSlots; ++i) pds.push_back(cache.alloc());
  WaiterList ready;
  const std::int64_t now = netpoll::now_ns();
  const std::uint64_t a0 = netpoll::testing::allocation_count();
  for (PollDesc* pd : pds) pd->set_deadline(now + 60'000'000'000, now, kRead, q, ready);
  // 16 KiB chunks of 80-byte blocks (72 rounded to the alignment): 1,000 blocks take 5; one
  // allocation per block would be 1,000.
  const std::uint64_t made = netpoll::testing::allocation_count() - a0;
  CHECK(made <= 6);
  CHECK(q.size() == kSlots);
  // The same slot keeps its block: clearing and setting again allocates nothing.
  const std::uint64_t a1 = netpoll::testing::allocation_count();
  for (PollDesc* pd : pds) {
    pd->set_deadline(0, now, kRead, q, ready);
    pd->set_deadline(now + 60'000'000'000, now, kReadWrite, q, ready);
  }
  CHECK(netpoll::testing::allocation_count() == a1 + 0);
  CHECK(q.size() == 2 * kSlots);  // both directions now
  // Blocks are distinct and aligned for any object.
  std::set<void*> seen;
  for (int i = 0; i < 300; ++i) {
    void* b = q.lasting_block(72);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % alignof(std::max_align_t) == 0);
    CHECK(seen.insert(b).second);
  }
  for (PollDesc* pd : pds) {
    pd->evict(q, ready);  // stops the timers
    cache.free(pd);
  }
  CHECK(q.size() == 0);
}
