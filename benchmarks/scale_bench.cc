// B9 (docs/benchmarks.md): "a loop per core". B3's HTTP/1.1 plaintext servers
// (//benchmarks:http_bench_server: raw epoll, netpoll, libuv over one protocol engine) run with
// 1 and then 2 event loops, one thread each, every loop with its own SO_REUSEPORT listener on
// the same port (--loops N; netpoll's is net::LoopGroup through examples' run_server_loops,
// exactly examples/http_server --loops N), driven by
//
//   h2load --h1 -c50 -m16 -t2 -n<N> URL     two client threads, 16 requests pipelined per
//                                           connection (N sized by a short pre-run to last
//                                           ~S s; the same N for every run)
//
// Nothing is pinned: with 2 loops the server wants both CPUs of a 2-vCPU machine, and so does
// the client, so on such a machine "req/s 2 loops / 1 loop" measures what a second loop buys
// while server and client share the cores, not how the server scales on idle ones. Measured
// per run: h2load's req/s and the server's CPU time (user + system, every thread: the kernel's
// per-process CPU clock) over the client run, divided by the requests. The headline is server
// CPU ns per request with 2 loops: the loops share nothing, so where it differs from the
// 1-loop figure the cause is how the loops and the client's threads share the cores (batch
// sizes per wakeup, switching), not state the loops contend for.
//
// Repetitions interleave raw, netpoll, libuv, each at 1 then 2 loops; median reported.
//
// Verified on every run, never a time: B3's raw-socket probe (http_probe.h), whose transcript
// (Date masked) must be byte-identical for every server and loop count; h2load's succeeded and
// 2xx counts must equal N with nothing failed, errored or timed out; the server must then exit
// 0 on SIGTERM (each loop closes its connections; a sanitizer build reports leaks at exit).
//
//   scale_bench [--smoke] [--reps N] [--seconds S] [--results DIR] [--impl raw,netpoll,libuv]
//               [--requests N] [--server PATH]
//
// --smoke (a few seconds; the bazel test twin): every server at 1 and 2 loops, the probe and,
// when h2load is installed, `h2load -n 800` (skipped with a note when not).
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/harness.h"
#include "benchmarks/http_clients.h"
#include "benchmarks/http_probe.h"
#include "benchmarks/http_server_process.h"
#include "test/child_process.h"

namespace {

namespace bench = netpoll::bench;
using bench::CpuPerRequest;
using bench::fail;
using bench::HttpServerProcess;
using bench::Impl;
using bench::kImplName;
using bench::kImpls;
using netpoll::testing::Captured;

// The loop counts compared, and h2load's client threads (-t): as many as the server's loops at
// most, so the client is not the first thing that stops scaling on a 2-CPU machine.
constexpr int kLoops[] = {1, 2};
constexpr int kLoopCounts = 2;
constexpr int kClientThreads = 2;

struct Sample {
  double rps = -1;
  CpuPerRequest cpu;
};

struct Config {
  std::string server;
  bool have_h2load = false;
  std::uint64_t requests = 0;  // h2load -n
  std::string transcript;      // the first probe's: every later one must equal it
  std::string transcript_of;   // whose it was, for the message
};

// One fresh server (`impl`, `loops` loops, not pinned): the probe, then h2load over
// `requests`, then SIGTERM. Failures are reported; what they left unmeasured stays -1.
Sample run_once(Config& cfg, Impl impl, int loops, std::uint64_t requests) {
  Sample smp;
  const std::string who = std::string(kImplName[impl]) + ", " + std::to_string(loops) + " loop(s): ";
  std::string err;
  std::optional<HttpServerProcess> s = HttpServerProcess::start(cfg.server, impl, /*cpu=*/-1, &err, loops);
  if (!s) {
    fail(who + err);
    return smp;
  }
  const std::string t = bench::probe(s->port(), &err);
  if (!err.empty()) {
    fail(who + err);
  } else if (cfg.transcript.empty()) {
    cfg.transcript = t;
    cfg.transcript_of = who;
  } else if (const std::string d = bench::transcript_difference(t, cfg.transcript); !d.empty()) {
    fail(who + "probe transcript differs from " + cfg.transcript_of + "'s " + d);
  }
  if (err.empty() && cfg.have_h2load) {
    bench::H2Result h;
    smp.cpu = bench::cpu_per_request(*s, [&]() -> std::uint64_t {
      std::string e;
      std::optional<Captured> r = netpoll::testing::run_captured(
          bench::h2load_argv(s->url(), requests, kClientThreads), {.search_path = true}, std::chrono::seconds(120), &e);
      if (r) e = bench::parse_h2load(*r, requests, &h);
      if (!e.empty()) {
        fail(who + e);
        return 0;
      }
      return requests;
    });
    smp.rps = h.rps;
  }
  if (const std::string e = s->stop(); !e.empty()) fail(who + e);
  return smp;
}

// CPUs this process (and so every child it starts) may run on.
int usable_cpus() {
  cpu_set_t set;
  return ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  // B9's own defaults (six runs per repetition): 3 x 2 s unless given.
  bench::Options o = bench::parse_options(argc, argv, " [--requests N] [--server PATH]", 3, 2,
                                          bench::kClassicImpls);
  const bench::HttpArgs args = bench::parse_http_args(o, "scale_bench", /*allow_no_perf=*/false);
  Config cfg;
  const std::uint64_t requests = args.requests;
  cfg.server = args.server;
  cfg.have_h2load = netpoll::testing::on_path("h2load");
  if (!cfg.have_h2load) {
    if (!o.smoke) {
      std::fprintf(stderr, "scale_bench: missing client: h2load (nghttp2-client; tools/bench installs it)\n");
      return 1;
    }
    std::fprintf(stderr, "scale_bench: h2load not installed: smoke run checks the servers with the probe only\n");
  }
  // h2load needs at least one request per connection; the smoke's c*m is one per slot.
  cfg.requests = o.smoke      ? std::uint64_t{bench::kConns * bench::kPipeline}
                 : requests ? std::max<std::uint64_t>(requests, bench::kConns)
                            : 0;
  const double t0 = bench::mono_s();
  std::fprintf(stderr, "B9 a loop per core: server and h2load --h1 -c%d -m%d -t%d unpinned, %d usable CPUs%s\n",
               bench::kConns, bench::kPipeline, kClientThreads, usable_cpus(),
               o.smoke ? " (smoke: figures meaningless)" : "");

  if (cfg.have_h2load && cfg.requests == 0) {
    const Sample pre = run_once(cfg, bench::first_enabled(o), 1, bench::kH2SizingRequests);
    if (pre.rps <= 0) {
      std::fprintf(stderr, "scale_bench: the h2load sizing run failed\n");
      return 1;
    }
    cfg.requests = bench::h2load_requests_for(pre.rps, o.seconds);
  }
  std::fprintf(stderr, "  [B9 h2load -n%llu]\n", static_cast<unsigned long long>(cfg.requests));

  std::vector<Sample> samples[kLoopCounts][kImpls];
  std::vector<double> headline[kImpls];
  bench::interleave(o, "B9 server CPU ns/req, 2 loops", [&](Impl k, int) {
    for (int l = 0; l < kLoopCounts; ++l) samples[l][k].push_back(run_once(cfg, k, kLoops[l], cfg.requests));
    return samples[kLoopCounts - 1][k].back().cpu.total_ns;
  }, headline);

  using Arr = double[kImpls];
  // Median over the repetitions at loop count index l, skipping runs that measured nothing.
  auto med = [&](int l, auto get, Arr& out) {
    for (int k = 0; k < kImpls; ++k) {
      std::vector<double> v;
      for (const Sample& s : samples[l][k])
        if (get(s) >= 0) v.push_back(get(s));
      out[k] = o.enabled[k] && !v.empty() ? bench::median(v) : -1;
    }
  };
  Arr rps[kLoopCounts], cpu[kLoopCounts], user[kLoopCounts], scaling, cpu_min;
  for (int l = 0; l < kLoopCounts; ++l) {
    med(l, [](const Sample& s) { return s.rps; }, rps[l]);
    med(l, [](const Sample& s) { return s.cpu.total_ns; }, cpu[l]);
    med(l, [](const Sample& s) { return s.cpu.user_ns; }, user[l]);
  }
  for (int k = 0; k < kImpls; ++k) {
    std::vector<double> v;
    for (double x : headline[k])
      if (x >= 0) v.push_back(x);
    cpu_min[k] = o.enabled[k] && !v.empty() ? bench::minimum(v) : -1;
  }
  for (int k = 0; k < kImpls; ++k) scaling[k] = bench::ratio(rps[1][k], rps[0][k]);

  const std::string reps = " (median of " + std::to_string(o.reps) + ")";
  std::printf("%s", bench::table_header("B9 a loop per core: h2load --h1 -c50 -m16 -t2, nothing pinned, " +
                                        std::to_string(usable_cpus()) + " CPUs").c_str());
  for (int l = 0; l < kLoopCounts; ++l) {
    const std::string at = kLoops[l] == 1 ? ", 1 loop" : ", " + std::to_string(kLoops[l]) + " loops";
    std::printf("%s", bench::table_row("h2load req/s" + at + reps, rps[l], 0).c_str());
    std::printf("%s", bench::table_row("server CPU ns/request" + at, cpu[l], 0).c_str());
    std::printf("%s", bench::table_row("server CPU ns/request, user space" + at, user[l], 0).c_str());
  }
  std::printf("%s", bench::table_row("req/s 2 loops / 1 loop", scaling, 3).c_str());

  bench::Entry e;
  e.id = "B9";
  e.name = "a loop per core: HTTP/1.1 plaintext server with 1 and 2 loops (SO_REUSEPORT), h2load --h1 -c50 -m16 -t2, "
           "nothing pinned";
  e.metric = "server CPU ns per request with 2 loops (median of " + std::to_string(o.reps) + " x " +
             std::to_string(cfg.requests) + " requests)";
  e.unit = "ns/request";
  e.higher_is_better = false;
  for (int k = 0; k < kImpls; ++k) e.value[k] = cpu[1][k];
  e.extra = "\"min\": " + bench::impls_json(cpu_min, 1) +
            ", \"requests_per_s_1_loop\": " + bench::impls_json(rps[0], 0) +
            ", \"requests_per_s_2_loops\": " + bench::impls_json(rps[1], 0) +
            ", \"requests_per_s_2_over_1\": " + bench::impls_json(scaling, 4) +
            ", \"server_cpu_ns_per_request_1_loop\": " + bench::impls_json(cpu[0], 1) +
            ", \"server_user_cpu_ns_per_request_1_loop\": " + bench::impls_json(user[0], 1) +
            ", \"server_user_cpu_ns_per_request_2_loops\": " + bench::impls_json(user[1], 1) +
            ", \"usable_cpus\": " + std::to_string(usable_cpus()) +
            ", \"h2load_requests\": " + std::to_string(cfg.requests);
  if (!bench::write_entry(o, e)) fail("could not write the B9 result");
  std::fprintf(stderr, "  [B9 took %.1f s]\n", bench::mono_s() - t0);
  return bench::exit_status("scale_bench");
}
