// IocpPoller's host mode (host_wait_handle): a watcher thread dequeues the port and sets a
// waitable event for a Windows host loop; wait() on the polling thread takes the batch.
// Each case states what the host relies on; docs/embedding.md ("Platforms") is the contract.
#include <windows.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <ratio>
#include <string>
#include <thread>
#include <vector>

#include "netpoll/backends/iocp/iocp_poller.h"
#include "netpoll/backends/iocp/iocp_test_util.h"
#include "doctest/doctest.h"

using namespace std::chrono_literals;
using netpoll::Event;
using netpoll::IocpOperation;
using netpoll::IocpPoller;
using netpoll::Timeout;
using netpoll::Token;
using namespace netpoll::testing;

namespace {

using Clock = std::chrono::steady_clock;
constexpr Token kA{0x0000000700000011ull};

bool signaled(HANDLE h, DWORD ms) { return WaitForSingleObject(h, ms) == WAIT_OBJECT_0; }

std::size_t take(IocpPoller& p, std::span<Event> out) {
  const auto n = p.wait(out, Timeout::zero());
  REQUIRE(n);
  return *n;
}

}  // namespace

TEST_CASE("iocp host mode: the handle is one event, unset while the port is empty") {
  IocpPoller p;
  const HANDLE h = p.host_wait_handle();
  REQUIRE(h != nullptr);
  CHECK(p.host_wait_handle() == h);
  CHECK_FALSE(signaled(h, 30));
  Event evs[8];
  CHECK(take(p, evs) == 0);
}

TEST_CASE("iocp host mode: a wake from another thread sets the handle; wait(zero) reports it") {
  IocpPoller p;
  const HANDLE h = p.host_wait_handle();
  for (int round = 0; round < 20; ++round) {
    const std::uint64_t before = p.stats().wakeups;
    std::thread t([&] {
      std::this_thread::sleep_for(2ms);
      p.wake();
    });
    REQUIRE(signaled(h, 10000));
    t.join();
    Event evs[8];
    CHECK(take(p, evs) == 0);
    CHECK(p.stats().wakeups == before + 1);
    // Taken: the event is reset, and the wake is not reported twice.
    CHECK_FALSE(signaled(h, 0));
    CHECK(take(p, evs) == 0);
    CHECK(p.stats().wakeups == before + 1);
  }
}

TEST_CASE("iocp host mode: a receive's completion sets the handle and is reported once, with bytes") {
  Winsock ws;
  IocpPoller p;
  Pair pr;
  REQUIRE(!p.register_handle(pr.b, kA));
  const HANDLE h = p.host_wait_handle();
  IocpOperation rop;
  char buf[64];
  REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
  CHECK_FALSE(signaled(h, 30));  // nothing completed yet
  REQUIRE(send(pr.a, "hello", 5, 0) == 5);
  REQUIRE(signaled(h, 10000));
  Event evs[8];
  REQUIRE(take(p, evs) == 1);
  CHECK(evs[0].token == kA);
  CHECK(evs[0].flags == Event::kReadable);
  CHECK(evs[0].result == 5);
  const auto r = rop.result(pr.b);
  CHECK(r.error == 0);
  CHECK(r.bytes == 5);
  CHECK(std::string(buf, 5) == "hello");
  // Exactly once: the handle stays unset and neither a poll nor a timed wait sees it again.
  CHECK_FALSE(signaled(h, 30));
  CHECK(take(p, evs) == 0);
  const auto n = p.wait(evs, Timeout::after(20ms));
  REQUIRE(n);
  CHECK(*n == 0);

  SUBCASE("a timed wait (the Loop's own run) is ended by the completion") {
    REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
    std::thread t([&] {
      std::this_thread::sleep_for(20ms);
      send(pr.a, "abc", 3, 0);
    });
    const auto m = p.wait(evs, Timeout::after(10s));
    t.join();
    REQUIRE(m);
    REQUIRE(*m == 1);
    CHECK(evs[0].result == 3);
    CHECK_FALSE(signaled(h, 0));
  }
}

TEST_CASE("iocp host mode: more packets than a batch all arrive, once each, in order") {
  IocpPoller p;
  const HANDLE h = p.host_wait_handle();
  // Posted as completions of our own operations (tagged by begin), as the kernel would queue
  // them; 3.5 batches, taken through a buffer smaller than a batch.
  constexpr std::size_t kPackets = IocpPoller::kMaxBatch * 3 + IocpPoller::kMaxBatch / 2;
  auto ops = std::make_unique<IocpOperation[]>(kPackets);
  for (std::size_t i = 0; i < kPackets; ++i) {
    const Token t{i + 1};
    OVERLAPPED* ov = ops[i].begin(t, Event::kReadable);
    REQUIRE(PostQueuedCompletionStatus(p.native_handle(), static_cast<DWORD>(i),
                                       static_cast<ULONG_PTR>(t.value), ov));
  }
  std::vector<Event> got;
  Event evs[50];
  const Clock::time_point give_up = Clock::now() + 20s;
  while (got.size() < kPackets && Clock::now() < give_up) {
    if (!signaled(h, 1000)) continue;
    const std::size_t n = take(p, evs);
    got.insert(got.end(), evs, evs + n);
  }
  REQUIRE(got.size() == kPackets);
  for (std::size_t i = 0; i < kPackets; ++i) {
    CHECK(got[i].token.value == i + 1);
    CHECK(got[i].result == i);
  }
  CHECK_FALSE(signaled(h, 30));
  CHECK(take(p, evs) == 0);
}

TEST_CASE("iocp host mode: a timed wait never returns early, and a wake ends it") {
  IocpPoller p;
  (void)p.host_wait_handle();
  Event evs[8];
  // Fractions of a millisecond: a wait rounded down to whole ms would end early.
  for (const auto d : {1us, 500us, 1000us, 1500us, 2500us, 15500us, 50000us}) {
    const Clock::time_point t0 = Clock::now();
    const auto n = p.wait(evs, Timeout::after(d));
    const auto took = Clock::now() - t0;
    REQUIRE(n);
    CHECK(*n == 0);
    CHECK_MESSAGE(took >= d, "waited ", std::chrono::duration<double, std::micro>(took).count(),
                  " us of ", d.count());
  }
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    p.wake();
  });
  const Clock::time_point t0 = Clock::now();
  const auto n = p.wait(evs, Timeout::infinite());
  t.join();
  REQUIRE(n);
  CHECK(*n == 0);
  CHECK(Clock::now() - t0 < 10s);
}

TEST_CASE("iocp host mode: destroying the poller stops the watcher, blocked or holding a batch") {
  // Handles the process holds before and after: the watcher's thread and events must go.
  DWORD before = 0, after = 0;
  const bool counted = GetProcessHandleCount(GetCurrentProcess(), &before);
  for (int i = 0; i < 50; ++i) {
    IocpPoller p;
    const HANDLE h = p.host_wait_handle();
    if (i % 2 == 1) {
      // A batch published and never taken: the watcher waits for "consumed".
      p.wake();
      REQUIRE(signaled(h, 10000));
    } else {
      std::this_thread::sleep_for(1ms);  // the watcher blocked in the dequeue (usually)
    }
  }
  // A poller that never entered host mode has no thread to stop.
  { IocpPoller p; }
  if (!counted || !GetProcessHandleCount(GetCurrentProcess(), &after)) {
    MESSAGE("GetProcessHandleCount unavailable: leak check skipped");
    return;
  }
  CHECK_MESSAGE(after <= before, "handles before ", before, ", after 50 host-mode pollers ", after);
}
