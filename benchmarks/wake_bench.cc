// B7 (docs/benchmarks.md): cross-thread wakeups.
//
// Ping-pong between two loops (headline: both threads pinned to CPU 0; also across CPUs):
//   raw      two threads, each blocked in epoll_wait on its own edge-triggered eventfd, never
//            drained (each write is a new edge); a hop is write(peer's eventfd): the floor
//   netpoll  two net::Loops, each run() by its thread; a hop is Loop::schedule(task) from the
//            other Loop's thread (remote queue + Backend::wake)
//   libuv    two uv loops; a hop is uv_async_send(peer's uv_async_t), as libuv's
//            async benchmarks do
// N threads hammering one loop with wakes (4 threads x M wakes, loop thread on CPU 0, wakers
// unpinned): wakes/s and eventfd writes per wake (coalescing):
//   raw      write(eventfd) per wake (no coalescing): what a naive wake costs
//   netpoll  Netpoll::wake() (an atomic flag; a write only when no wake is pending)
//   libuv    uv_async_send
// Verified: every hop arrives (the ping-pong counts match exactly) and every hammering run
// ends with the loop having observed the last wake.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/harness.h"
#include "netpoll/runtime/loop.h"
#include "netpoll/contract/clock.h"

namespace {
using namespace netpoll;
namespace bench = netpoll::bench;
using bench::Impl;
using bench::kImpls;
using bench::kLibuv;
using bench::kNetpoll;
using bench::kRaw;

// One eventfd signal. EAGAIN would mean the counter saturated, impossible within a run.
void signal(int efd) {
  const std::uint64_t one = 1;
  if (::write(efd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) bench::fail(bench::errno_text("eventfd write"));
}

// --- ping-pong ---------------------------------------------------------------------------------

struct PingResult {
  double rate = 0;  // round trips/s
};

// Runs `rounds` round trips (or for `seconds` if rounds == 0); each side counts what it saw.
double raw_pingpong(std::uint64_t rounds, double seconds, bool same_cpu) {
  int ep[2], efd[2];
  for (int i = 0; i < 2; ++i) {
    ep[i] = ::epoll_create1(EPOLL_CLOEXEC);
    efd[i] = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ::epoll_ctl(ep[i], EPOLL_CTL_ADD, efd[i], &ev);
  }
  std::atomic<bool> stop{false};
  std::uint64_t hops[2] = {0, 0};
  const std::int64_t end = rounds ? INT64_MAX : now_ns() + static_cast<std::int64_t>(seconds * 1e9);
  auto side = [&](int me) {
    bench::pin_to_cpu(same_cpu ? 0 : me);
    epoll_event evs[4];
    for (;;) {
      if (::epoll_wait(ep[me], evs, 4, -1) <= 0) continue;
      if (stop.load(std::memory_order_relaxed)) break;
      ++hops[me];
      if (me == 0 && ((rounds && hops[0] > rounds) || (!rounds && now_ns() >= end))) {
        stop.store(true);
        signal(efd[1]);
        break;
      }
      signal(efd[1 - me]);
    }
  };
  std::thread b(side, 1);
  const std::int64_t t0 = now_ns();
  std::thread a(side, 0);
  signal(efd[0]);
  a.join();
  const double secs = double(now_ns() - t0) / 1e9;
  b.join();
  for (int i = 0; i < 2; ++i) ::close(efd[i]), ::close(ep[i]);
  const std::uint64_t rt = hops[0] - 1;
  if (hops[1] != rt) bench::fail("raw ping-pong: sides disagree (" + std::to_string(hops[1]) + " vs " + std::to_string(rt) + ")");
  return double(rt) / secs;
}

struct Hop final : net::LoopTask {
  Hop() : LoopTask(&go) {}
  static void go(net::LoopTask* t) noexcept {
    auto* h = static_cast<Hop*>(t);
    ++h->count;
    if (h->first && ((h->rounds && h->count > h->rounds) || (!h->rounds && now_ns() >= h->end))) {
      h->loop()->stop();
      h->peer->loop()->stop();
      return;
    }
    h->peer->loop()->schedule(h->peer);
  }
  Hop* peer = nullptr;
  bool first = false;
  std::uint64_t count = 0, rounds = 0;
  std::int64_t end = 0;
};

double netpoll_pingpong(std::uint64_t rounds, double seconds, bool same_cpu) {
  net::Loop la, lb;
  Hop a, b;
  a.bind(&la);
  b.bind(&lb);
  a.peer = &b;
  b.peer = &a;
  a.first = true;
  a.rounds = rounds;
  a.end = rounds ? INT64_MAX : now_ns() + static_cast<std::int64_t>(seconds * 1e9);
  std::thread tb([&] {
    bench::pin_to_cpu(same_cpu ? 0 : 1);
    lb.run();
  });
  const std::int64_t t0 = now_ns();
  std::thread ta([&] {
    bench::pin_to_cpu(0);
    la.run();
  });
  la.schedule(&a);
  ta.join();
  const double secs = double(now_ns() - t0) / 1e9;
  tb.join();
  const std::uint64_t rt = a.count - 1;
  if (b.count != rt) bench::fail("netpoll ping-pong: sides disagree (" + std::to_string(b.count) + " vs " + std::to_string(rt) + ")");
  return double(rt) / secs;
}

struct UvSide {
  uv_loop_t loop;
  uv_async_t async;
  UvSide* peer = nullptr;
  bool first = false;
  std::uint64_t count = 0, rounds = 0;
  std::int64_t end = 0;
  std::atomic<bool>* stop = nullptr;
};

double libuv_pingpong(std::uint64_t rounds, double seconds, bool same_cpu) {
  UvSide s[2];
  std::atomic<bool> stop{false};
  for (int i = 0; i < 2; ++i) {
    uv_loop_init(&s[i].loop);
    uv_async_init(&s[i].loop, &s[i].async, [](uv_async_t* a) {
      auto* me = static_cast<UvSide*>(a->data);
      if (me->stop->load(std::memory_order_relaxed)) {
        uv_close(reinterpret_cast<uv_handle_t*>(&me->async), nullptr);
        return;
      }
      ++me->count;
      if (me->first && ((me->rounds && me->count > me->rounds) || (!me->rounds && now_ns() >= me->end))) {
        me->stop->store(true);
        uv_async_send(&me->peer->async);
        uv_close(reinterpret_cast<uv_handle_t*>(&me->async), nullptr);
        return;
      }
      uv_async_send(&me->peer->async);
    });
    s[i].async.data = &s[i];
    s[i].stop = &stop;
    s[i].peer = &s[1 - i];
  }
  s[0].first = true;
  s[0].rounds = rounds;
  s[0].end = rounds ? INT64_MAX : now_ns() + static_cast<std::int64_t>(seconds * 1e9);
  std::thread tb([&] {
    bench::pin_to_cpu(same_cpu ? 0 : 1);
    uv_run(&s[1].loop, UV_RUN_DEFAULT);
  });
  const std::int64_t t0 = now_ns();
  std::thread ta([&] {
    bench::pin_to_cpu(0);
    uv_run(&s[0].loop, UV_RUN_DEFAULT);
  });
  uv_async_send(&s[0].async);
  ta.join();
  const double secs = double(now_ns() - t0) / 1e9;
  tb.join();
  for (auto& x : s) uv_loop_close(&x.loop);
  const std::uint64_t rt = s[0].count - 1;
  // uv_async_send coalesces, but here only one send is ever outstanding per side: exact.
  if (s[1].count != rt) bench::fail("libuv ping-pong: sides disagree (" + std::to_string(s[1].count) + " vs " + std::to_string(rt) + ")");
  return double(rt) / secs;
}

double pingpong(Impl k, std::uint64_t rounds, double seconds, bool same_cpu) {
  return k == kRaw ? raw_pingpong(rounds, seconds, same_cpu)
         : k == kNetpoll ? netpoll_pingpong(rounds, seconds, same_cpu)
                         : libuv_pingpong(rounds, seconds, same_cpu);
}

// --- hammering ---------------------------------------------------------------------------------

constexpr int kWakers = 4;

struct HammerResult {
  double wakes_per_s = 0;
  double writes_per_wake = -1;  // eventfd writes (syscalls) per wake; -1 unknown
};

template <class WakeFn, class StartLoop, class StopLoop>
double hammer_threads(std::uint64_t per_thread, WakeFn wake, StartLoop start, StopLoop stop) {
  std::thread loop_thread(start);
  std::vector<std::thread> ws;
  const std::int64_t t0 = now_ns();
  for (int i = 0; i < kWakers; ++i)
    ws.emplace_back([&] {
      for (std::uint64_t j = 0; j < per_thread; ++j) wake();
    });
  for (auto& t : ws) t.join();
  const double secs = double(now_ns() - t0) / 1e9;
  stop();
  loop_thread.join();
  return double(per_thread * kWakers) / secs;
}

HammerResult hammer(Impl k, std::uint64_t per_thread) {
  HammerResult r;
  if (k == kRaw) {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC), efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    std::atomic<bool> done{false};
    r.wakes_per_s = hammer_threads(
        per_thread, [&] { signal(efd); },
        [&] {
          bench::pin_to_cpu(0);
          epoll_event e[4];
          while (!done.load()) ::epoll_wait(ep, e, 4, -1);
        },
        [&] { done.store(true); signal(efd); });
    r.writes_per_wake = 1.0;
    ::close(efd);
    ::close(ep);
  } else if (k == kNetpoll) {
    net::Loop loop;
    const auto before = loop.netpoll().backend().stats().wake_signals;
    r.wakes_per_s = hammer_threads(
        per_thread, [&] { loop.netpoll().wake(); },
        [&] { bench::pin_to_cpu(0); loop.run(); }, [&] { loop.stop(); });
    const double writes = double(loop.netpoll().backend().stats().wake_signals - before);
    r.writes_per_wake = writes / double(per_thread * kWakers);
  } else {
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_async_t wake, stop;
    static std::atomic<std::uint64_t> batches{0};
    batches = 0;
    uv_async_init(&loop, &wake, [](uv_async_t*) { batches.fetch_add(1, std::memory_order_relaxed); });
    uv_async_init(&loop, &stop, [](uv_async_t* s) {
      uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(s->data), nullptr);
    });
    stop.data = &wake;
    r.wakes_per_s = hammer_threads(
        per_thread, [&] { uv_async_send(&wake); },
        [&] { bench::pin_to_cpu(0); uv_run(&loop, UV_RUN_DEFAULT); }, [&] { uv_async_send(&stop); });
    uv_loop_close(&loop);
    if (batches.load() == 0) bench::fail("libuv hammer: the async callback never ran");
  }
  return r;
}
}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv, "", 5, 1.0, bench::kClassicImpls);
  bench::reject_unknown(o, "wake_bench");
  const std::uint64_t smoke_rounds = o.smoke ? 300 : 0;
  const double secs = o.smoke ? 0 : o.seconds;
  const std::uint64_t per_thread = o.smoke ? 1000 : 250000;
  std::fprintf(stderr, "B7 cross-thread wakeup: ping-pong between two loops; %d threads hammering one loop%s\n",
               kWakers, o.smoke ? " (smoke: figures meaningless)" : "");
  std::vector<double> same[kImpls], cross[kImpls], ham[kImpls];
  std::vector<double> writes[kImpls];
  bench::interleave(o, "B7 same CPU", [&](Impl k, int) { return pingpong(k, smoke_rounds, secs, true); }, same);
  bench::interleave(o, "B7 across CPUs", [&](Impl k, int) { return pingpong(k, smoke_rounds, secs, false); }, cross);
  bench::interleave(o, "B7 hammer", [&](Impl k, int) {
    HammerResult r = hammer(k, per_thread);
    writes[k].push_back(r.writes_per_wake);
    return r.wakes_per_s;
  }, ham);
  double s[kImpls], c[kImpls], h[kImpls], w[kImpls];
  bench::medians(same, s);
  bench::medians(cross, c);
  bench::medians(ham, h);
  bench::medians(writes, w);  // a disabled implementation has no samples: -1
  std::printf("%s", bench::table_header("B7 cross-thread wakeup").c_str());
  std::printf("%s", bench::table_row("ping-pong round trips/s, same CPU", s, 0).c_str());
  std::printf("%s", bench::table_row("ping-pong round trips/s, across CPUs", c, 0).c_str());
  std::printf("%s", bench::table_row("wakes/s, 4 threads hammering one loop", h, 0).c_str());
  std::printf("%s", bench::table_row("eventfd writes per wake (hammering)", w, 4, false).c_str());
  bench::Entry e;
  e.id = "B7";
  e.name = "cross-thread wakeup ping-pong between two loops, same CPU";
  e.metric = "round trips/s (median of " + std::to_string(o.reps) + " x " + bench::fmt(o.seconds, 1) + " s)";
  e.unit = "round trips/s";
  for (int k = 0; k < kImpls; ++k) e.value[k] = s[k];
  e.extra = "\"across_cpus\": " + bench::impls_json(c, 1) + ", \"hammer_wakes_per_s\": " + bench::impls_json(h, 1) +
            ", \"hammer_writes_per_wake\": " + bench::impls_json(w, 5);
  if (!bench::write_entry(o, e)) bench::fail("could not write the B7 result");
  return bench::failures() ? 1 : 0;
}
