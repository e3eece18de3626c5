// B6 (docs/benchmarks.md): timers.
//
// Churn (headline): with 10,000 timers queued, start and cancel one more (a deadline reset per
// read), ns per start+cancel pair, CPU 0:
//   raw      a minimal hand-written binary heap with per-timer index, no lock: the floor
//   netpoll  Netpoll::schedule_timer / cancel_timer (the locked 4-ary TimerQueue that
//            deadlines and sleeps use); also PollDesc deadline set+clear, reported beside it
//   libuv    uv_timer_start / uv_timer_stop
// Mass firing: 1,000,000 timers due uniformly in 1-1000 ms, all fired by the loop: lateness
// p50 / p99 (fire time - due time), timers that fired early, and the loop thread's CPU time
// per timer:
//   raw      the same heap + epoll_wait with the next due time in ms, rounded up
//   netpoll  net::Loop::run_once driving the Netpoll timers
//   libuv    uv_timer_t per timer, uv_run
// Verified: every timer fired exactly once; netpoll never early (the library's promise; the
// others are reported). Allocation counts of the churn are reported (netpoll must be 0).
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "benchmarks/harness.h"
#include "netpoll/runtime/loop.h"
#include "netpoll/contract/clock.h"
#include "test/alloc_counter.h"

namespace {
using namespace netpoll;
namespace bench = netpoll::bench;
using bench::Impl;
using bench::kImpls;
using bench::kLibuv;
using bench::kNetpoll;
using bench::kRaw;

// --- the raw floor: a binary min-heap of (when, timer) entries with back-indices ----------
// The due time is kept in the heap entry, not behind the pointer, so sifting touches only the
// heap array (the cache-friendly layout a careful C programmer would write).

struct RawTimer {
  std::int64_t when = 0;
  std::size_t index = SIZE_MAX;
  std::uint32_t id = 0;
};

class RawHeap {
 public:
  void reserve(std::size_t n) { h_.reserve(n); }
  bool empty() const { return h_.empty(); }
  RawTimer* top() const { return h_.front().t; }
  std::int64_t top_when() const { return h_.front().when; }
  void start(RawTimer* t, std::int64_t when) {
    if (t->index != SIZE_MAX) stop(t);
    t->when = when;
    t->index = h_.size();
    h_.push_back({when, t});
    up(t->index);
  }
  void stop(RawTimer* t) {
    const std::size_t i = t->index;
    t->index = SIZE_MAX;
    const Slot last = h_.back();
    h_.pop_back();
    if (i == h_.size()) return;
    h_[i] = last;
    last.t->index = i;
    up(i);
    down(last.t->index);
  }
  RawTimer* pop() {
    RawTimer* t = h_.front().t;
    stop(t);
    return t;
  }

 private:
  struct Slot {
    std::int64_t when;
    RawTimer* t;
  };
  void up(std::size_t i) {
    const Slot x = h_[i];
    while (i > 0) {
      const std::size_t p = (i - 1) / 2;
      if (h_[p].when <= x.when) break;
      h_[i] = h_[p];
      h_[i].t->index = i;
      i = p;
    }
    h_[i] = x;
    x.t->index = i;
  }
  void down(std::size_t i) {
    const Slot x = h_[i];
    const std::size_t n = h_.size();
    for (;;) {
      std::size_t m = 2 * i + 1;
      if (m >= n) break;
      if (m + 1 < n && h_[m + 1].when < h_[m].when) ++m;
      if (x.when <= h_[m].when) break;
      h_[i] = h_[m];
      h_[i].t->index = i;
      i = m;
    }
    h_[i] = x;
    x.t->index = i;
  }
  std::vector<Slot> h_;
};

constexpr std::size_t kQueued = 10000;

// --- churn -------------------------------------------------------------------------------------

struct Churn {
  double ns = -1;
  double allocs = -1;
};

Churn churn(Impl k, std::size_t ops) {
  std::mt19937_64 rng(1);
  std::vector<std::int64_t> offsets(1024);
  for (auto& o : offsets) o = static_cast<std::int64_t>(1'000'000'000 + rng() % 1'000'000'000'000ULL);
  const std::int64_t base = now_ns();
  Churn c;
  if (k == kRaw) {
    RawHeap heap;
    heap.reserve(kQueued + 1);
    std::vector<RawTimer> ts(kQueued + 1);
    for (std::size_t i = 0; i < kQueued; ++i) heap.start(&ts[i], base + offsets[i % offsets.size()]);
    RawTimer& t = ts[kQueued];
    const std::uint64_t a0 = netpoll::testing::allocation_count();
    const std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < ops; ++i) {
      heap.start(&t, base + offsets[i & 1023]);
      heap.stop(&t);
    }
    c.ns = double(now_ns() - t0) / double(ops);
    c.allocs = double(netpoll::testing::allocation_count() - a0) / double(ops);
  } else if (k == kNetpoll) {
    net::Loop loop;
    Netpoll& np = loop.netpoll();
    np.timers().reserve(kQueued + 1);
    std::vector<Timer> ts(kQueued + 1);
    for (auto& t : ts) t.fire = [](Timer*, std::uint32_t, WaiterList&) {};
    for (std::size_t i = 0; i < kQueued; ++i) np.schedule_timer(&ts[i], base + offsets[i % offsets.size()]);
    Timer& t = ts[kQueued];
    const std::uint64_t a0 = netpoll::testing::allocation_count();
    const std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < ops; ++i) {
      np.schedule_timer(&t, base + offsets[i & 1023]);
      np.cancel_timer(&t);
    }
    c.ns = double(now_ns() - t0) / double(ops);
    c.allocs = double(netpoll::testing::allocation_count() - a0) / double(ops);
    for (std::size_t i = 0; i < kQueued; ++i) np.cancel_timer(&ts[i]);
  } else {
    uv_loop_t loop;
    uv_loop_init(&loop);
    std::vector<uv_timer_t> ts(kQueued + 1);
    for (auto& t : ts) uv_timer_init(&loop, &t);
    auto cb = [](uv_timer_t*) {};
    for (std::size_t i = 0; i < kQueued; ++i) uv_timer_start(&ts[i], cb, static_cast<std::uint64_t>(offsets[i % offsets.size()] / 1'000'000), 0);
    uv_timer_t& t = ts[kQueued];
    const std::uint64_t a0 = netpoll::testing::allocation_count();
    const std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < ops; ++i) {
      uv_timer_start(&t, cb, static_cast<std::uint64_t>(offsets[i & 1023] / 1'000'000), 0);
      uv_timer_stop(&t);
    }
    c.ns = double(now_ns() - t0) / double(ops);
    c.allocs = double(netpoll::testing::allocation_count() - a0) / double(ops);  // libuv uses malloc: 0 here means unseen
    for (auto& x : ts) uv_close(reinterpret_cast<uv_handle_t*>(&x), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  return c;
}

// PollDesc deadline set + clear: what SetReadDeadline costs per read.
double deadline_churn(std::size_t ops) {
  net::Loop loop;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  Result<PollDesc*> pd = loop.netpoll().open(sv[0]);
  if (!pd) return -1;
  const std::int64_t base = now_ns() + 1'000'000'000'000LL;
  const std::int64_t t0 = now_ns();
  for (std::size_t i = 0; i < ops; ++i) {
    loop.netpoll().set_deadline(*pd, base + static_cast<std::int64_t>(i & 1023), kRead);
    loop.netpoll().set_deadline(*pd, 0, kRead);
  }
  const double ns = double(now_ns() - t0) / double(ops);
  (void)loop.netpoll().close(*pd);
  ::close(sv[0]);
  ::close(sv[1]);
  return ns;
}

// --- mass firing -------------------------------------------------------------------------------

struct Mass {
  double p50_us = -1, p99_us = -1;
  std::size_t early = 0;
  double cpu_ns_per_timer = -1;
};

Mass summarize(std::vector<std::int64_t>& late, double cpu_ns) {
  Mass m;
  std::sort(late.begin(), late.end());
  for (std::int64_t l : late) m.early += l < 0;
  m.p50_us = double(late[late.size() / 2]) / 1e3;
  m.p99_us = double(late[late.size() * 99 / 100]) / 1e3;
  m.cpu_ns_per_timer = cpu_ns / double(late.size());
  return m;
}

struct NpMassTimer {
  Timer t;  // first member: the callback recovers the struct from the Timer*
  std::int64_t* late_slot;
};
std::size_t g_np_fired = 0;

Mass mass(Impl k, std::size_t n) {
  std::mt19937_64 rng(2);
  std::vector<std::int64_t> delay_ms(n);
  for (auto& d : delay_ms) d = static_cast<std::int64_t>(1 + rng() % 1000);
  std::vector<std::int64_t> late(n, INT64_MIN);
  std::size_t fired = 0;
  double cpu0 = 0;
  if (k == kRaw) {
    RawHeap heap;
    heap.reserve(n);
    std::vector<RawTimer> ts(n);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    cpu0 = bench::thread_cpu_ns();
    const std::int64_t start = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
      ts[i].id = static_cast<std::uint32_t>(i);
      heap.start(&ts[i], start + delay_ms[i] * 1'000'000);
    }
    epoll_event ev[8];
    while (!heap.empty()) {
      const std::int64_t now = now_ns();
      if (heap.top_when() > now) {
        const std::int64_t wait = heap.top_when() - now;
        ::epoll_wait(ep, ev, 8, static_cast<int>((wait + 999'999) / 1'000'000));
        continue;
      }
      while (!heap.empty() && heap.top_when() <= now) {
        RawTimer* t = heap.pop();
        late[t->id] = now_ns() - t->when;
        ++fired;
      }
    }
    ::close(ep);
  } else if (k == kNetpoll) {
    net::Loop loop;
    loop.netpoll().timers().reserve(n);
    std::vector<NpMassTimer> ts(n);
    g_np_fired = 0;
    cpu0 = bench::thread_cpu_ns();
    const std::int64_t start = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
      ts[i].late_slot = &late[i];
      ts[i].t.fire = [](Timer* t, std::uint32_t, WaiterList&) {
        *reinterpret_cast<NpMassTimer*>(t)->late_slot = now_ns() - t->when;
        ++g_np_fired;
      };
      loop.netpoll().schedule_timer(&ts[i].t, start + delay_ms[i] * 1'000'000);
    }
    while (g_np_fired < n) loop.run_once(Timeout::infinite());
    fired = g_np_fired;
  } else {
    struct UvMass {
      uv_timer_t t;
      std::int64_t due;
      std::int64_t* slot;
      std::size_t* fired;
    };
    uv_loop_t loop;
    uv_loop_init(&loop);
    std::vector<UvMass> ts(n);
    cpu0 = bench::thread_cpu_ns();
    uv_update_time(&loop);
    const std::int64_t start = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
      uv_timer_init(&loop, &ts[i].t);
      ts[i].t.data = &ts[i];
      ts[i].due = start + delay_ms[i] * 1'000'000;
      ts[i].slot = &late[i];
      ts[i].fired = &fired;
      uv_timer_start(&ts[i].t, [](uv_timer_t* t) {
        auto* m = static_cast<UvMass*>(t->data);
        *m->slot = now_ns() - m->due;
        ++*m->fired;
      }, static_cast<std::uint64_t>(delay_ms[i]), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (auto& x : ts) uv_close(reinterpret_cast<uv_handle_t*>(&x.t), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  const double cpu = bench::thread_cpu_ns() - cpu0;
  if (fired != n) bench::fail(std::string(bench::kImplName[k]) + ": " + std::to_string(fired) + " of " + std::to_string(n) + " timers fired");
  for (std::int64_t l : late)
    if (l == INT64_MIN) {
      bench::fail(std::string(bench::kImplName[k]) + ": a timer never fired");
      break;
    }
  Mass m = summarize(late, cpu);
  if (k == kNetpoll && m.early) bench::fail("netpoll: " + std::to_string(m.early) + " timers fired early");
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv, "", 5, 1.0, bench::kClassicImpls);
  bench::reject_unknown(o, "timer_bench");
  bench::pin_to_cpu(0);
  const std::size_t ops = o.smoke ? 10000 : 2'000'000;
  const std::size_t n = o.smoke ? 20000 : 1'000'000;
  std::fprintf(stderr, "B6 timers: start+cancel with %zu queued (%zu ops); %zu timers due in 1-1000 ms%s\n", kQueued,
               ops, n, o.smoke ? " (smoke: figures meaningless)" : "");
  std::vector<double> ns[kImpls], allocs[kImpls];
  bench::interleave(o, "B6 churn ns/op", [&](Impl k, int) {
    Churn c = churn(k, ops);
    allocs[k].push_back(c.allocs);
    return c.ns;
  }, ns);
  const double deadline_ns = deadline_churn(ops);
  bench::Options mo = o;
  mo.reps = o.smoke ? 1 : 3;
  std::vector<double> p99[kImpls];
  std::vector<double> p50v[kImpls], earlyv[kImpls], cpuv[kImpls];
  bench::interleave(mo, "B6 1M timers p99 us", [&](Impl k, int) {
    const Mass m = mass(k, n);
    p50v[k].push_back(m.p50_us);
    earlyv[k].push_back(double(m.early));
    cpuv[k].push_back(m.cpu_ns_per_timer);
    return m.p99_us;
  }, p99);
  double med[kImpls], al[kImpls], p50[kImpls], p99m[kImpls], early[kImpls], cpu[kImpls];
  bench::medians(ns, med);
  bench::medians(allocs, al);  // a disabled implementation has no samples: -1
  bench::medians(p50v, p50);
  bench::medians(p99, p99m);
  bench::medians(earlyv, early);
  bench::medians(cpuv, cpu);
  double dl[kImpls];
  bench::set_only(dl, kNetpoll, deadline_ns);
  std::printf("%s", bench::table_header("B6 timers").c_str());
  std::printf("%s", bench::table_row("start+cancel ns/op, 10,000 queued (lower is better)", med, 1).c_str());
  std::printf("%s", bench::table_row("PollDesc read deadline set+clear ns/op", dl, 1, false).c_str());
  std::printf("%s", bench::table_row("allocations per start+cancel", al, 3, false).c_str());
  std::printf("%s", bench::table_row("1M timers: lateness p50 us", p50, 1).c_str());
  std::printf("%s", bench::table_row("1M timers: lateness p99 us", p99m, 1).c_str());
  std::printf("%s", bench::table_row("1M timers: fired early (count)", early, 0, false).c_str());
  std::printf("%s", bench::table_row("1M timers: loop CPU ns per timer", cpu, 1).c_str());
  bench::Entry e;
  e.id = "B6";
  e.name = "timer start+cancel with 10,000 queued";
  e.metric = "ns per start+cancel (median of " + std::to_string(o.reps) + " x " + std::to_string(ops) + ")";
  e.unit = "ns/op";
  e.higher_is_better = false;
  for (int k = 0; k < kImpls; ++k) e.value[k] = med[k];
  e.extra = "\"deadline_set_clear_ns\": " + bench::json_num(deadline_ns, 1) + ", \"allocs_per_op\": " + bench::impls_json(al, 3) +
            ", \"mass_1m_p50_us\": " + bench::impls_json(p50, 1) + ", \"mass_1m_p99_us\": " + bench::impls_json(p99m, 1) +
            ", \"mass_1m_early\": " + bench::impls_json(early, 0) + ", \"mass_1m_cpu_ns_per_timer\": " + bench::impls_json(cpu, 1);
  if (!bench::write_entry(o, e)) bench::fail("could not write the B6 result");
  return bench::failures() ? 1 : 0;
}
