// Microbenchmarks of the foundation (not timed tests: nothing here asserts a time).
//
//   timers   start+cancel on a heap that already holds 10,000 timers: the bare TimerHeap,
//            the locked TimerQueue, and a PollDesc read deadline set+clear through Netpoll
//            (the "reset a deadline per read" path); heap allocations counted per operation.
//   wake     round trip between two threads, each blocked in its own Poller::wait and waking
//            the other's; vs the same ping-pong over bare eventfds (blocking read/write).
//   empty    one loop iteration with nothing ready: Poller::wait(zero), Netpoll::poll(zero)
//            with and without armed timers, vs bare epoll_wait(timeout 0), interleaved.
//
// Each figure is the median of several repetitions run interleaved with its baseline.
// --smoke runs tiny sizes and only checks that every workload completed.
#include <errno.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/harness.h"
#include "test/alloc_counter.h"
#include "netpoll/contract/clock.h"
#include "netpoll/core/netpoll.h"
#include "netpoll/platform/netpoll.h"
#include "netpoll/core/timer_heap.h"
#include "netpoll/core/timer_queue.h"
#include "netpoll/platform/poller.h"

namespace {

using netpoll::now_ns;
bool g_smoke = false;

using netpoll::bench::fail;
using netpoll::bench::median;
using netpoll::bench::pin_to_cpu;

void unpin() {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);
}

struct Row {
  std::string name, unit, netpoll, baseline, ratio, note;
};
std::vector<Row> g_rows;

std::string fmt(double v, int prec = 1) { return netpoll::bench::fmt(v, prec); }

// Runs each variant `reps` times, interleaved, and returns the medians (ns per op).
std::vector<double> interleaved(int reps, const std::vector<std::function<double()>>& variants) {
  std::vector<std::vector<double>> samples(variants.size());
  for (int r = 0; r < reps; ++r)
    for (std::size_t i = 0; i < variants.size(); ++i) samples[i].push_back(variants[i]());
  std::vector<double> out;
  for (auto& s : samples) out.push_back(median(s));
  return out;
}

// ---------------------------------------------------------------------------------------------
void bench_timers() {
  const int kBackground = g_smoke ? 100 : 10000;
  const int kOps = g_smoke ? 1000 : 2000000;
  std::mt19937_64 rng(7);
  std::vector<netpoll::Timer> background(static_cast<std::size_t>(kBackground));
  const std::int64_t base = now_ns() + 3600LL * 1000000000;
  std::vector<std::int64_t> whens(4096);
  for (auto& w : whens) w = base + static_cast<std::int64_t>(rng() % 1000000000);

  netpoll::TimerHeap heap;
  for (auto& t : background) heap.schedule(&t, base + static_cast<std::int64_t>(rng() % 1000000000));
  netpoll::TimerQueue queue([](void*) noexcept {}, nullptr);
  std::vector<netpoll::Timer> qbackground(static_cast<std::size_t>(kBackground));
  for (auto& t : qbackground) queue.schedule(&t, base + static_cast<std::int64_t>(rng() % 1000000000));
  netpoll::Netpoll np;
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
  auto opened = np.open(sv[0]);
  if (!opened) {
    fail("Netpoll::open: " + opened.error().message());
    return;
  }
  netpoll::PollDesc* pd = *opened;
  std::vector<netpoll::Timer> nbackground(static_cast<std::size_t>(kBackground));
  for (auto& t : nbackground) np.schedule_timer(&t, base + static_cast<std::int64_t>(rng() % 1000000000));

  netpoll::Timer one;
  std::uint64_t allocs_heap = 0, allocs_queue = 0, allocs_deadline = 0;
  // Times kOps calls of op(when) and adds the allocations they made to *allocs.
  auto timed = [&](std::uint64_t* allocs, auto op) {
    return [&, allocs, op] {
      const auto a0 = netpoll::testing::allocation_count();
      const std::int64_t t0 = now_ns();
      for (int i = 0; i < kOps; ++i) op(whens[static_cast<std::size_t>(i) & 4095]);
      const double ns = double(now_ns() - t0) / kOps;
      *allocs += netpoll::testing::allocation_count() - a0;
      return ns;
    };
  };
  auto run_heap = timed(&allocs_heap, [&](std::int64_t when) {
    heap.schedule(&one, when);
    heap.cancel(&one);
  });
  auto run_queue = timed(&allocs_queue, [&](std::int64_t when) {
    queue.schedule(&one, when);
    queue.cancel(&one);
  });
  auto run_deadline = timed(&allocs_deadline, [&](std::int64_t when) {
    np.set_deadline(pd, when, netpoll::kRead);
    np.set_deadline(pd, 0, netpoll::kRead);
  });
  // Warm up once so every heap has grown to its working size.
  run_heap(), run_queue(), run_deadline();
  allocs_heap = allocs_queue = allocs_deadline = 0;
  auto m = interleaved(g_smoke ? 1 : 7, {run_heap, run_queue, run_deadline});
  const double total_ops = double(kOps) * (g_smoke ? 1 : 7);
  if (heap.size() != static_cast<std::size_t>(kBackground) || !heap.verify()) fail("timer heap corrupted");
  if (queue.size() != static_cast<std::size_t>(kBackground)) fail("timer queue lost timers");
  if (np.timers().size() != static_cast<std::size_t>(kBackground)) fail("netpoll deadline timers leaked");
  if (pd->check(netpoll::kRead)) fail("deadline fired during the benchmark");
  const std::string bg = std::to_string(kBackground);
  g_rows.push_back({"timer start+cancel, TimerHeap (" + bg + " queued)", "ns/op", fmt(m[0]), "", "",
                    fmt(double(allocs_heap) / total_ops, 3) + " allocs/op"});
  g_rows.push_back({"timer start+cancel, TimerQueue (locked)", "ns/op", fmt(m[1]), fmt(m[0]),
                    fmt(m[1] / m[0], 2) + "x heap", fmt(double(allocs_queue) / total_ops, 3) + " allocs/op"});
  g_rows.push_back({"deadline set+clear, Netpoll::set_deadline", "ns/op", fmt(m[2]), fmt(m[0]),
                    fmt(m[2] / m[0], 2) + "x heap", fmt(double(allocs_deadline) / total_ops, 3) + " allocs/op"});
  for (auto& t : background) heap.cancel(&t);
  for (auto& t : qbackground) queue.cancel(&t);
  for (auto& t : nbackground) np.cancel_timer(&t);
  (void)np.close(pd);
  close(sv[0]);
  close(sv[1]);
}

// ---------------------------------------------------------------------------------------------
// Two threads ping-pong `rounds` times; returns ns per round trip.
double wake_pingpong_poller(int rounds, bool same_cpu, std::uint64_t* syscalls) {
  netpoll::Poller a, b;
  std::atomic<int> turn{0};
  netpoll::Event evs[4];
  std::thread peer([&] {
    pin_to_cpu(same_cpu ? 0 : 1);
    for (int i = 0; i < rounds; ++i) {
      while (turn.load(std::memory_order_acquire) != 2 * i + 1) (void)b.wait(evs, netpoll::Timeout::infinite());
      turn.store(2 * i + 2, std::memory_order_release);
      a.wake();
    }
  });
  pin_to_cpu(0);
  const std::int64_t t0 = now_ns();
  for (int i = 0; i < rounds; ++i) {
    turn.store(2 * i + 1, std::memory_order_release);
    b.wake();
    while (turn.load(std::memory_order_acquire) != 2 * i + 2) (void)a.wait(evs, netpoll::Timeout::infinite());
  }
  const double ns = double(now_ns() - t0) / rounds;
  peer.join();
  if (turn.load() != 2 * rounds) fail("wake ping-pong did not complete");
  const auto sa = a.stats(), sb = b.stats();
  *syscalls = sa.waits + sa.wake_signals + sa.wake_drains + sb.waits + sb.wake_signals + sb.wake_drains;
  return ns;
}

double wake_pingpong_eventfd(int rounds, bool same_cpu) {
  const int ea = eventfd(0, EFD_CLOEXEC), eb = eventfd(0, EFD_CLOEXEC);
  std::uint64_t v = 1, got = 0;
  int completed = 0;
  std::thread peer([&] {
    pin_to_cpu(same_cpu ? 0 : 1);
    std::uint64_t x = 1, y;
    for (int i = 0; i < rounds; ++i) {
      if (read(eb, &y, 8) != 8) return;
      if (write(ea, &x, 8) != 8) return;
    }
  });
  pin_to_cpu(0);
  const std::int64_t t0 = now_ns();
  for (int i = 0; i < rounds; ++i) {
    if (write(eb, &v, 8) != 8 || read(ea, &got, 8) != 8) break;
    ++completed;
  }
  const double ns = double(now_ns() - t0) / rounds;
  peer.join();
  close(ea);
  close(eb);
  if (completed != rounds) fail("eventfd ping-pong did not complete");
  return ns;
}

void bench_wake() {
  const int rounds = g_smoke ? 200 : 50000;
  for (bool same : {true, false}) {
    std::uint64_t sys = 0;
    auto m = interleaved(g_smoke ? 1 : 5, {
        [&] { return wake_pingpong_poller(rounds, same, &sys); },
        [&] { return wake_pingpong_eventfd(rounds, same); },
    });
    unpin();
    g_rows.push_back({std::string("wake round trip, Poller::wait/wake, ") + (same ? "same CPU" : "CPU 0 <-> CPU 1"),
                      "ns/rt", fmt(m[0]), fmt(m[1]), fmt(m[0] / m[1], 2) + "x eventfd",
                      fmt(double(sys) / rounds, 2) + " syscalls/rt (bare: 4)"});
  }
}

// ---------------------------------------------------------------------------------------------
void bench_empty() {
  pin_to_cpu(0);
  const int iters = g_smoke ? 1000 : 1000000;
  netpoll::Poller p;
  netpoll::Netpoll np;
  netpoll::Netpoll np_timers;
  const int bare = epoll_create1(EPOLL_CLOEXEC);
  std::vector<netpoll::Timer> timers(1000);
  for (auto& t : timers) np_timers.schedule_timer(&t, now_ns() + 3600LL * 1000000000);
  netpoll::Event evs[128];
  epoll_event kev[128];
  std::size_t seen = 0;
  auto run_bare = [&] {
    const std::int64_t t0 = now_ns();
    for (int i = 0; i < iters; ++i) seen += static_cast<std::size_t>(epoll_wait(bare, kev, 128, 0));
    return double(now_ns() - t0) / iters;
  };
  auto run_poller = [&] {
    const std::int64_t t0 = now_ns();
    for (int i = 0; i < iters; ++i) seen += *p.wait(evs, netpoll::Timeout::zero());
    return double(now_ns() - t0) / iters;
  };
  netpoll::WaiterList ready;
  auto run_np = [&](netpoll::Netpoll& n) {
    const std::int64_t t0 = now_ns();
    for (int i = 0; i < iters; ++i) seen += *n.poll(netpoll::Timeout::zero(), ready);
    return double(now_ns() - t0) / iters;
  };
  auto m = interleaved(g_smoke ? 1 : 9, {run_bare, run_poller, [&] { return run_np(np); },
                                         [&] { return run_np(np_timers); }});
  if (seen != 0 || !ready.empty()) fail("empty loop saw events");
  if (p.stats().waits < static_cast<std::uint64_t>(iters)) fail("Poller::wait did not reach the kernel");
  g_rows.push_back({"empty iteration, bare epoll_wait(0)", "ns/iter", fmt(m[0]), "", "", "the floor"});
  g_rows.push_back({"empty iteration, Poller::wait(zero)", "ns/iter", fmt(m[1]), fmt(m[0]),
                    fmt(m[1] / m[0], 3) + "x bare", "1 syscall/iter"});
  g_rows.push_back({"empty iteration, Netpoll::poll(zero)", "ns/iter", fmt(m[2]), fmt(m[0]),
                    fmt(m[2] / m[0], 3) + "x bare", "no timers armed"});
  g_rows.push_back({"empty iteration, Netpoll::poll(zero), 1,000 timers", "ns/iter", fmt(m[3]), fmt(m[0]),
                    fmt(m[3] / m[0], 3) + "x bare", "reads the clock once"});
  for (auto& t : timers) np_timers.cancel_timer(&t);
  close(bare);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--smoke") g_smoke = true;
    else if (a == "timers" || a == "wake" || a == "empty") only.push_back(a);
    else {
      std::fprintf(stderr, "usage: micro_bench [--smoke] [timers] [wake] [empty]\n");
      return 2;
    }
  }
  auto want = [&](const char* n) { return only.empty() || std::find(only.begin(), only.end(), n) != only.end(); };
  std::fprintf(stderr, "micro_bench: backend %s%s\n", std::string(netpoll::Poller::kName).c_str(),
               g_smoke ? " (smoke: tiny sizes, figures meaningless)" : "");
  if (want("timers")) { std::fprintf(stderr, "  [1/3] timers...\n"); bench_timers(); }
  if (want("wake")) { std::fprintf(stderr, "  [2/3] wake...\n"); bench_wake(); }
  if (want("empty")) { std::fprintf(stderr, "  [3/3] empty loop...\n"); bench_empty(); }

  std::printf("| benchmark | unit | netpoll | baseline | ratio | note |\n|---|---|---:|---:|---:|---|\n");
  for (auto& r : g_rows)
    std::printf("| %s | %s | %s | %s | %s | %s |\n", r.name.c_str(), r.unit.c_str(), r.netpoll.c_str(),
                r.baseline.c_str(), r.ratio.c_str(), r.note.c_str());
  if (netpoll::bench::failures()) {
    std::fprintf(stderr, "micro_bench: %d workload(s) failed\n", netpoll::bench::failures());
    return 1;
  }
  return 0;
}
