// The embedding test cases, written once and run by each host loop (netpoll/adapters/uv_test.cc,
// embed_poll_test.cc, embed_epoll_et_test.cc, embed_wait_windows_test.cc). A Host embeds a
// net::Loop in a foreign event loop and provides:
//
//   explicit Host(net::Loop& loop);       // on the test thread, which becomes the host thread
//   void run(std::function<bool()> done);  // runs the host loop on this thread; after every
//                                          // Loop step it calls done(), and returns when it is
//                                          // true or after kHostSafetyTimeout (timed_out)
//   const HostStats& stats() const;        // read after run() returns
//   bool sleeping() const;                 // any thread: the host has blocked at least once
//                                          // with no timer armed and no step pending
//
// The Loop is stepped only through the embedding contract: watch loop.native_handle() for
// readability (a Windows host waits for loop.host_handle() instead, embed_wait_windows_test.cc),
// call loop.run_once(Timeout::zero()), then sleep at most loop.next_timeout().
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "netpoll/net/net.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {

struct HostStats {
  int handle_wakeups = 0;  // steps because the native handle was readable
  int timer_wakeups = 0;   // steps because next_timeout() elapsed
  int zero_steps = 0;      // steps because next_timeout() was zero (tasks already queued)
  // Steps because the host's wait failed with EINTR. On the io_uring backend that is how a
  // completion can end the host's sleep: the kernel runs the ring's task work on the polling
  // thread, which interrupts that thread's blocking syscall (docs/embedding.md).
  int interrupted = 0;
  bool timed_out = false;  // the safety timeout ended run(): the test failed

  // For the test log: how the host stepped the Loop.
  std::string summary() const {
    return "host steps: " + std::to_string(handle_wakeups) + " on the handle, " +
           std::to_string(timer_wakeups) + " on the timer, " + std::to_string(zero_steps) +
           " with tasks queued, " + std::to_string(interrupted) + " interrupted";
  }
};

// What every Host shares: its stats and the "has slept" flag the cases read.
class HostBase {
 public:
  const HostStats& stats() const { return stats_; }
  bool sleeping() const { return sleeping_.load(std::memory_order_acquire); }

 protected:
  // An adapter's Steps (netpoll/adapters/steps.h) as the cases count them.
  template <class Steps>
  void record_steps(const Steps& s) {
    stats_.handle_wakeups = static_cast<int>(s.on_handle);
    stats_.timer_wakeups = static_cast<int>(s.on_timer);
    stats_.zero_steps = static_cast<int>(s.on_zero);
  }
  HostStats stats_;
  std::atomic<bool> sleeping_{false};
};

// All the steps an adapter made between two readings of its Steps.
template <class Steps>
std::uint64_t steps_between(const Steps& before, const Steps& after) {
  return (after.on_handle - before.on_handle) + (after.on_timer - before.on_timer) +
         (after.on_zero - before.on_zero);
}

using namespace std::chrono_literals;

// The body of a host that sleeps in one system call (poll(2), epoll_wait): step the Loop, ask
// next_timeout(), sleep at most that long in `wait(ms)` (-1 never: infinite becomes the safety
// cap, so a missed wake ends in timed_out, not a hang), repeat until `done`. `wait` returns as
// its system call does: > 0 the handle is readable, 0 the timeout passed, < 0 with errno set.
template <class Wait>
void run_sleeping_host(net::Loop& loop, HostStats& stats, std::atomic<bool>& sleeping,
                       const std::function<bool()>& done, Wait&& wait) {
  const Clock::time_point give_up = Clock::now() + kHostSafetyTimeout;
  for (;;) {
    // The first step runs whatever was queued before run() (spawned tasks).
    loop.run_once(Timeout::zero());
    if (done()) return;
    const Timeout t = loop.next_timeout();
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(give_up - Clock::now()).count();
    if (left <= 0) {
      stats.timed_out = true;
      return;
    }
    const int cap = static_cast<int>(std::min<long long>(left, INT_MAX));
    const int ms = t.is_infinite() ? cap : static_cast<int>(t.milliseconds_ceil(cap));
    if (t.is_infinite()) sleeping.store(true, std::memory_order_release);
    const int r = wait(ms);
    if (r < 0) {
      REQUIRE_MESSAGE(errno == EINTR, "host wait: ", std::strerror(errno));
      ++stats.interrupted;
      continue;
    }
    if (r > 0) {
      ++stats.handle_wakeups;
    } else if (t.is_infinite()) {
      // The safety cap ran out while the Loop had said "nothing until the handle fires": a
      // missed wake, or work left behind. A step now might finish the job and hide that.
      stats.timed_out = true;
      return;
    } else if (t.is_zero()) {
      ++stats.zero_steps;
    } else {
      ++stats.timer_wakeups;
    }
  }
}

// A listener on a free loopback port, its first `conns` connections served by echo_server.
struct EchoService {
  EchoService(net::Loop& loop, int conns) : ln(listen_loopback(loop)) {
    loop.spawn(echo_server(loop, ln, conns, rec));
  }
  EchoService(const EchoService&) = delete;  // the server coroutine holds ln and rec
  EchoService& operator=(const EchoService&) = delete;
  std::uint16_t port() const { return ln.Addr().port(); }

  static net::Listener listen_loopback(net::Loop& loop) {
    Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
    REQUIRE(ln);
    return std::move(*ln);
  }
  net::Listener ln;
  EchoRecord rec;
};

// Several client threads, several connections each, random data echoed byte for byte by
// coroutines on the embedded Loop; the host returns when every server coroutine has finished.
template <class Host>
void check_echo() {
  constexpr int kThreads = 4, kConnsPerThread = 3;
  constexpr std::size_t kBytes = 96 * 1024;
  constexpr int kConns = kThreads * kConnsPerThread;
  net::Loop loop;
  EchoService echo(loop, kConns);
  const std::uint16_t port = echo.port();
  const EchoRecord& rec = echo.rec;

  std::vector<std::string> client_errors(kThreads);
  std::vector<std::thread> clients;
  for (int i = 0; i < kThreads; ++i)
    clients.emplace_back([&, i] {
      client_errors[static_cast<std::size_t>(i)] =
          echo_client(port, kConnsPerThread, kBytes, 0x5eed0000u + static_cast<std::uint32_t>(i));
    });
  Host host(loop);
  host.run([&] { return loop.spawned() == 0; });
  for (auto& t : clients) t.join();

  MESSAGE(host.stats().summary());
  CHECK_FALSE(host.stats().timed_out);
  for (const std::string& e : client_errors) CHECK_MESSAGE(e.empty(), e);
  INFO("first server error: ", rec.first_error);
  CHECK(rec.errors == 0);
  CHECK(rec.accepted == kConns);
  CHECK(rec.finished == kConns);
  CHECK(rec.echoed == kConns * kBytes);
  CHECK(host.stats().handle_wakeups > 0);
  CHECK(loop.spawned() == 0);
}

// A sleep and a read deadline on an idle connection: nothing but the host's timer (armed from
// next_timeout()) can end them. Checked as "did fire" and "not early", never as a duration.
template <class Host>
void check_timers() {
  constexpr auto kSleep = 20ms;
  constexpr auto kDeadline = 50ms;
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  const std::uint16_t port = ln->Addr().port();
  SleepRecord sleep;
  DeadlineRecord deadline;
  loop.spawn(sleeper(loop, kSleep, sleep));
  loop.spawn(deadline_server(*ln, kDeadline, deadline));
  std::string client_error;
  std::thread client([&] { client_error = silent_client(port); });
  Host host(loop);
  host.run([&] { return loop.spawned() == 0; });
  client.join();

  MESSAGE(host.stats().summary());
  CHECK_FALSE(host.stats().timed_out);
  CHECK(sleep.done);
  CHECK(sleep.elapsed >= kSleep);
  // For the log (never asserted: a loaded machine is late): how late each timer fired
  // through this host.
  const auto late_us = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  };
  MESSAGE("lateness through the host: sleep_for ", late_us(sleep.elapsed - kSleep),
          " us, read deadline ", late_us(deadline.elapsed - kDeadline), " us");
  INFO("deadline server: ", deadline.first_error);
  CHECK(deadline.accepted);
  CHECK(deadline.read_error == Errc::deadline_exceeded);
  CHECK(deadline.elapsed >= kDeadline);
  CHECK(deadline.read_after_clear_ok);
  CHECK(deadline.done);
  CHECK_MESSAGE(client_error.empty(), client_error);
  CHECK(host.stats().timer_wakeups >= 1);
}

// A deadline set from another thread while the host sleeps with nothing armed (docs/pitfalls.md 7:
// the host's timeout must follow changes made behind its back). next_timeout() published the
// host's sleep, so the earlier timer wakes the native handle; the host steps, re-arms its timer
// from next_timeout(), and the parked Read ends with deadline_exceeded, not early. A host that
// is not woken, or does not re-arm, sleeps until its safety timeout and fails.
template <class Host>
void check_deadline_from_other_thread() {
  constexpr auto kDeadline = 30ms;
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  const std::uint16_t port = ln->Addr().port();
  DeadlineRecord deadline;
  loop.spawn(deadline_server(*ln, Clock::duration::zero(), deadline));
  std::string client_error;
  std::thread client([&] { client_error = silent_client(port); });
  Host host(loop);
  std::atomic<Clock::rep> set_at{0};
  std::string setter_error;
  std::thread setter([&] {
    const auto give_up = Clock::now() + kClientTimeout;
    net::Conn* c = nullptr;
    while (!(c = deadline.conn.load(std::memory_order_acquire)) && Clock::now() < give_up)
      std::this_thread::sleep_for(1ms);
    if (!c) return void(setter_error = "the server never accepted");
    // Give the Read time to park and the host time to go to sleep with no timer (this makes
    // the scenario likely; the checks below hold whatever the interleaving).
    std::this_thread::sleep_for(20ms);
    const Clock::time_point t = Clock::now();
    set_at.store(t.time_since_epoch().count());
    if (std::error_code ec = c->SetReadDeadline(t + kDeadline)) setter_error = ec.message();
  });
  host.run([&] { return loop.spawned() == 0; });
  setter.join();
  client.join();

  MESSAGE(host.stats().summary());
  CHECK_FALSE(host.stats().timed_out);
  CHECK_MESSAGE(setter_error.empty(), setter_error);
  INFO("deadline server: ", deadline.first_error);
  CHECK(deadline.read_error == Errc::deadline_exceeded);
  CHECK(deadline.read_returned - Clock::time_point(Clock::duration(set_at.load())) >= kDeadline);
  CHECK(deadline.read_after_clear_ok);
  CHECK(deadline.done);
  CHECK_MESSAGE(client_error.empty(), client_error);
  // Not checked: that a timer step ended the Read. If the setter or the host is descheduled
  // past the deadline, the step the wake caused fires it; a lost wake shows as timed_out.
}

// loop.post from other threads while the host sleeps with nothing armed: the wake must make
// the native handle readable, and every closure runs on the host thread.
template <class Host>
void check_post() {
  constexpr int kThreads = 4, kPosts = 50;
  net::Loop loop;
  const std::thread::id host_thread = std::this_thread::get_id();
  int ran = 0, on_wrong_thread = 0;  // the host thread only (posted closures run there)
  Host host(loop);
  std::atomic<int> posters_waited_out{0};
  std::vector<std::thread> posters;
  for (int i = 0; i < kThreads; ++i)
    posters.emplace_back([&] {
      // Post only once the host is blocked on the handle alone, so the wake is what ends its
      // sleep (a post before that would be picked up by a step already under way).
      const auto give_up = Clock::now() + kClientTimeout;
      while (!host.sleeping() && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
      if (!host.sleeping()) posters_waited_out.fetch_add(1);
      for (int k = 0; k < kPosts; ++k)
        loop.post([&] {
          if (std::this_thread::get_id() != host_thread) ++on_wrong_thread;
          ++ran;
        });
    });
  host.run([&] { return ran == kThreads * kPosts; });
  for (auto& t : posters) t.join();

  MESSAGE(host.stats().summary());
  CHECK_FALSE(host.stats().timed_out);
  CHECK(posters_waited_out.load() == 0);
  CHECK(ran == kThreads * kPosts);
  CHECK(on_wrong_thread == 0);
  // The wake ended a sleep: the handle became readable (or, on io_uring, the ring's task
  // work interrupted the host's wait).
  CHECK(host.stats().handle_wakeups + host.stats().interrupted >= 1);
  CHECK(host.stats().timer_wakeups == 0);  // nothing was armed: only the wake could end a sleep
}

// More end-of-stream events at once than one step takes (Netpoll::kBatch): the step leaves
// events in the kernel's ready list, and an edge-triggered host (or one that re-arms lazily)
// gets no new edge for them. next_timeout() must then say "step again now" (zero), or the host
// sleeps with work pending: here until its safety timeout, with connections unserved. A post()
// from another thread just before the closes puts the poller's own wake event in the first
// batch, which the backend does not report: the batch was full all the same (found in review).
template <class Host>
void check_full_batch() {
  constexpr int kConns = 300;
  static_assert(static_cast<std::size_t>(kConns) > 2 * Netpoll::kBatch, "several full batches");
  net::Loop loop;
  EchoService echo(loop, kConns);
  const std::uint16_t port = echo.port();
  const EchoRecord& rec = echo.rec;
  std::atomic<int> accepted{0};  // rec.accepted, published by the host thread after each step
  std::atomic<bool> closed{false};
  std::string client_error;
  std::thread client([&] {
    client_error = burst_close_client(port, kConns, accepted, closed, [&] { loop.post([] {}); });
  });
  Host host(loop);
  bool held = false;
  host.run([&] {
    accepted.store(rec.accepted, std::memory_order_release);
    if (rec.accepted == kConns && !held) {
      // Keep the host thread busy while every client closes, so all the end-of-stream events
      // are queued before the next step (not taken a few at a time as they come).
      held = true;
      const auto give_up = Clock::now() + kClientTimeout;
      while (!closed.load(std::memory_order_acquire) && Clock::now() < give_up)
        std::this_thread::sleep_for(1ms);
    }
    return loop.spawned() == 0;
  });
  client.join();

  MESSAGE(host.stats().summary());
  CHECK_FALSE(host.stats().timed_out);
  CHECK_MESSAGE(client_error.empty(), client_error);
  INFO("first server error: ", rec.first_error);
  CHECK(rec.errors == 0);
  CHECK(rec.accepted == kConns);
  CHECK(rec.finished == kConns);
  // After a failure the connections' coroutines are still parked: end them, so the Loop is
  // destroyed with no socket open (a no-op when the case passed).
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK(left);
  CHECK((left && *left == 0));
}

}  // namespace netpoll::embed_test
