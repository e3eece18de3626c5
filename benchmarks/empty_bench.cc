// B8 (docs/benchmarks.md): one event-loop iteration with nothing ready, pinned to CPU 0.
//
//   raw      epoll_wait(epfd, ..., 0) on an epoll set holding one idle eventfd: the floor
//   netpoll  net::Loop::run_once(Timeout::zero()) (remote-queue check, poll, timer check)
//   libuv    uv_run(loop, UV_RUN_NOWAIT) with one idle uv_async_t keeping the loop alive
//
// Each repetition times `iters` iterations of each implementation in turn (interleaved), ns per
// iteration, median and min over repetitions. Verified: no iteration reported an event or
// ran a callback (an "empty" loop that found work would measure something else).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <string>
#include <vector>

#include "benchmarks/harness.h"
#include "netpoll/runtime/loop.h"
#include "netpoll/contract/clock.h"

namespace {
using namespace netpoll;
namespace bench = netpoll::bench;
using bench::kImpls;

struct RawLoop {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  RawLoop() {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    if (ep < 0 || efd < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) bench::fail(bench::errno_text("raw setup"));
  }
  ~RawLoop() {
    ::close(efd);
    ::close(ep);
  }
  double run(int iters) {
    epoll_event evs[64];
    int seen = 0;
    const std::int64_t t0 = now_ns();
    for (int i = 0; i < iters; ++i) seen += ::epoll_wait(ep, evs, 64, 0);
    const double ns = double(now_ns() - t0) / iters;
    if (seen != 0) bench::fail("raw: an empty iteration saw events");
    return ns;
  }
};

struct NetpollLoop {
  net::Loop loop;
  double run(int iters) {
    std::size_t ran = 0;
    const std::int64_t t0 = now_ns();
    for (int i = 0; i < iters; ++i) ran += loop.run_once(Timeout::zero());
    const double ns = double(now_ns() - t0) / iters;
    if (ran != 0) bench::fail("netpoll: an empty iteration ran tasks");
    return ns;
  }
};

struct LibuvLoop {
  uv_loop_t loop;
  uv_async_t async;
  static inline int calls = 0;
  LibuvLoop() {
    uv_loop_init(&loop);
    uv_async_init(&loop, &async, [](uv_async_t*) { ++calls; });
  }
  ~LibuvLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  double run(int iters) {
    const std::int64_t t0 = now_ns();
    for (int i = 0; i < iters; ++i) uv_run(&loop, UV_RUN_NOWAIT);
    const double ns = double(now_ns() - t0) / iters;
    if (calls != 0) bench::fail("libuv: an empty iteration ran a callback");
    return ns;
  }
};
}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv, "", 5, 1.0, bench::kClassicImpls);
  bench::reject_unknown(o, "empty_bench");
  if (!o.smoke && o.reps < 7) o.reps = 7;
  const int iters = o.smoke ? 1000 : static_cast<int>(200000 * o.seconds);
  bench::pin_to_cpu(0);
  std::fprintf(stderr, "B8 empty loop iteration: %d iterations per run, CPU 0%s\n", iters,
               o.smoke ? " (smoke: figures meaningless)" : "");
  RawLoop raw;
  NetpollLoop np;
  LibuvLoop uv;
  raw.run(iters / 10 + 1);  // warm-up
  np.run(iters / 10 + 1);
  uv.run(iters / 10 + 1);
  std::vector<double> ns[kImpls];
  bench::interleave(o, "B8", [&](bench::Impl k, int) {
    return k == bench::kRaw ? raw.run(iters) : k == bench::kNetpoll ? np.run(iters) : uv.run(iters);
  }, ns);
  double med[kImpls], mn[kImpls];
  bench::medians(ns, med);
  bench::minima(ns, mn);
  std::printf("%s", bench::table_header("B8 empty loop iteration (lower is better)").c_str());
  std::printf("%s", bench::table_row("ns/iteration, median of " + std::to_string(o.reps), med, 1).c_str());
  std::printf("%s", bench::table_row("ns/iteration, min of " + std::to_string(o.reps), mn, 1).c_str());
  bench::Entry e;
  e.id = "B8";
  e.name = "empty loop iteration";
  e.metric = "ns per iteration (median of " + std::to_string(o.reps) + " x " + std::to_string(iters) + ")";
  e.unit = "ns/iteration";
  e.higher_is_better = false;
  for (int k = 0; k < kImpls; ++k) e.value[k] = med[k];
  e.extra = "\"min\": " + bench::impls_json(mn, 1) +
            ", \"what\": \"raw epoll_wait(0); netpoll Loop::run_once(zero); libuv uv_run(NOWAIT)\"";
  if (!bench::write_entry(o, e)) bench::fail("could not write the B8 result");
  return bench::failures() ? 1 : 0;
}
