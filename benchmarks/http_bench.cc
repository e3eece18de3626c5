// B3 (docs/benchmarks.md): an HTTP/1.1 plaintext server (13-byte body) driven by real clients.
//
// The servers are //benchmarks:http_bench_server (http_servers.cc): raw epoll, netpoll (exactly
// examples/http_server), libuv, and Asio's epoll and io_uring builds (http_asio_server.cc, each
// a program of its own that http_bench_server execs), one protocol engine (examples'
// http::Session), so only the I/O layer differs. raw_uring has no HTTP server. Each measured run starts a fresh server process pinned to CPU 0; the
// clients run pinned to CPU 1 (affinity is inherited through posix_spawn):
//
//   wrk -t1 -c50 -d<S>s --latency URL            closed loop, one request in flight per
//                                                 connection: req/s, latency p50 and p99
//   h2load --h1 -c50 -m16 -n<N> URL               16 requests pipelined per connection: req/s
//                                                 (N sized by a short pre-run to last ~S s)
//
// and the server's CPU time (user + system, the kernel's per-process CPU clock, the quantity
// /proc/<pid>/stat reports as utime + stime but in ns) over each client run, divided by the
// requests answered. The client saturates CPU 1 first, so CPU per request is what separates
// the servers; the headline is server CPU ns per request under h2load.
//
// Repetitions interleave raw, netpoll, libuv, asio, asio_uring; median (and min) reported. After the timed
// repetitions, a calibration pass counts the server's syscalls per request under each client
// with `perf stat -e raw_syscalls:sys_enter,... -p PID` (separately, as counting costs time;
// n/a where perf or its tracepoints are unavailable).
//
// Verified on every run, never a time: before the clients, a raw-socket probe (one request,
// 100 pipelined, Connection: close, HTTP/1.0, a malformed request followed by more input) whose
// transcript (Date masked) must be byte-identical for every server; wrk must report no
// "Non-2xx or 3xx responses" and no socket errors; h2load's succeeded and 2xx counts must equal
// N with nothing failed, errored or timed out; the server must then exit 0 on SIGTERM.
//
//   http_bench [--smoke] [--reps N] [--seconds S] [--results DIR] [--impl raw,netpoll,libuv]
//              [--requests N] [--no-perf] [--server PATH]
//
// --smoke (under 10 s; the bazel test twin): the probe on each server, then `h2load -n 200`
// and `wrk -d1s` when those clients are installed (skipped with a note when not).
//
// The parts, one job each: http_server_process.h (the server as a child process), http_probe.h
// (the raw-socket probe), http_clients.h (wrk / h2load command lines and output parsers),
// http_syscalls.h (the perf calibration); this file is the procedure and main.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benchmarks/harness.h"
#include "benchmarks/http_clients.h"
#include "benchmarks/http_probe.h"
#include "benchmarks/http_server_process.h"
#include "benchmarks/http_syscalls.h"
#include "test/child_process.h"

namespace {

namespace bench = netpoll::bench;
using bench::CpuPerRequest;
using bench::fail;
using bench::HttpServerProcess;
using bench::Impl;
using bench::kConns;
using bench::kImplName;
using bench::kImpls;
using bench::kPipeline;
using bench::kRaw;
using bench::kSysEvents;
using bench::kSysNames;
using netpoll::testing::Captured;

constexpr int kServerCpu = 0;
constexpr int kClientCpu = 1;
// Runs a client (looked up on PATH) pinned to kClientCpu to completion, bounded by `timeout`.
std::optional<Captured> run_client(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                                   std::string* error) {
  return netpoll::testing::run_captured(argv, {.search_path = true, .cpu = kClientCpu}, timeout, error);
}

std::optional<HttpServerProcess> start_server(const std::string& path, Impl impl, std::string* error) {
  return HttpServerProcess::start(path, impl, kServerCpu, error);
}

// --- one measured run ----------------------------------------------------------------------------

struct Sample {
  double wrk_rps = -1, wrk_p50_us = -1, wrk_p99_us = -1, h2_rps = -1;
  CpuPerRequest wrk_cpu, h2_cpu;
};

struct Config {
  std::string server;
  bool smoke = false;
  bool have_wrk = false, have_h2load = false;
  int wrk_secs = 3;
  std::uint64_t h2_requests = 0;
  std::string transcript[kImpls];  // the first probe's, per server
};

Sample run_once(Config& cfg, Impl impl) {
  Sample smp;
  const std::string who = std::string(kImplName[impl]) + ": ";
  std::string err;
  std::optional<HttpServerProcess> s = start_server(cfg.server, impl, &err);
  if (!s) {
    fail(who + err);
    return smp;
  }
  // Protocol check first: every run, identical (dates masked) for every server.
  const std::string t = bench::probe(s->port(), &err);
  if (!err.empty()) fail(who + err);
  else if (cfg.transcript[impl].empty()) cfg.transcript[impl] = t;
  else if (cfg.transcript[impl] != t) fail(who + "probe transcript changed between runs");

  if (err.empty() && cfg.have_wrk) {
    bench::WrkResult w;
    smp.wrk_cpu = bench::cpu_per_request(*s, [&]() -> std::uint64_t {
      std::string e;
      std::optional<Captured> r = run_client(bench::wrk_argv(s->url(), cfg.wrk_secs), std::chrono::seconds(cfg.wrk_secs + 60), &e);
      if (r) e = bench::parse_wrk(*r, &w);
      if (!e.empty()) {
        fail(who + e);
        return 0;
      }
      return w.requests;
    });
    smp.wrk_rps = w.rps;
    smp.wrk_p50_us = w.p50_us;
    smp.wrk_p99_us = w.p99_us;
  }
  if (err.empty() && cfg.have_h2load) {
    bench::H2Result h;
    smp.h2_cpu = bench::cpu_per_request(*s, [&]() -> std::uint64_t {
      std::string e;
      std::optional<Captured> r = run_client(bench::h2load_argv(s->url(), cfg.h2_requests), std::chrono::seconds(120), &e);
      if (r) e = bench::parse_h2load(*r, cfg.h2_requests, &h);
      if (!e.empty()) {
        fail(who + e);
        return 0;
      }
      return cfg.h2_requests;
    });
    smp.h2_rps = h.rps;
  }
  if (const std::string e = s->stop(); !e.empty()) fail(who + e);
  return smp;
}

// --- syscall calibration (perf stat on the server) ----------------------------------------------

struct Calibration {
  bench::SysCounts wrk, h2;
};

Calibration calibrate(const Config& cfg, Impl impl) {
  Calibration cal;
  cal.wrk.fill(-1);
  cal.h2.fill(-1);
  std::string err;
  std::optional<HttpServerProcess> s = start_server(cfg.server, impl, &err);
  if (!s) {
    fail(std::string(kImplName[impl]) + ": " + err);
    return cal;
  }
  // A third of a timed run's requests: counting is exact, so a shorter run suffices.
  const std::uint64_t unit = kConns * kPipeline;
  const std::uint64_t n = std::max<std::uint64_t>(unit, cfg.h2_requests / 3 / unit * unit);
  std::string client_err;
  cal.wrk = bench::count_syscalls(s->pid(), kClientCpu, [&]() -> std::uint64_t {
    bench::WrkResult w;
    std::optional<Captured> r = run_client(bench::wrk_argv(s->url(), 1), std::chrono::seconds(61), &client_err);
    if (r) client_err = bench::parse_wrk(*r, &w);
    return client_err.empty() ? w.requests : 0;
  }, &err);
  if (err.empty() && client_err.empty())
    cal.h2 = bench::count_syscalls(s->pid(), kClientCpu, [&]() -> std::uint64_t {
      bench::H2Result h;
      std::optional<Captured> r = run_client(bench::h2load_argv(s->url(), n), std::chrono::seconds(120), &client_err);
      if (r) client_err = bench::parse_h2load(*r, n, &h);
      return client_err.empty() ? n : 0;
    }, &err);
  // The clients are checked as in the timed runs: a wrong answer is a failure, while perf
  // being unavailable only leaves the figures n/a.
  if (!client_err.empty()) fail(std::string(kImplName[impl]) + ": " + client_err);
  if (!err.empty()) std::fprintf(stderr, "  [B3 syscall calibration, %s: %s]\n", kImplName[impl], err.c_str());
  if (const std::string e = s->stop(); !e.empty()) fail(std::string(kImplName[impl]) + ": " + e);
  return cal;
}

// --- sizing h2load's run -------------------------------------------------------------------------

// h2load's rate (req/s) against a fresh `impl` server over kH2SizingRequests; -1 on failure
// (reported).
double h2load_rate(const Config& cfg, Impl impl) {
  std::string err;
  std::optional<HttpServerProcess> s = start_server(cfg.server, impl, &err);
  if (!s) {
    fail(std::string(kImplName[impl]) + ": " + err);
    return -1;
  }
  bench::H2Result h;
  std::optional<Captured> r = run_client(bench::h2load_argv(s->url(), bench::kH2SizingRequests), std::chrono::seconds(120), &err);
  if (r) err = bench::parse_h2load(*r, bench::kH2SizingRequests, &h);
  if (!err.empty()) fail(std::string(kImplName[impl]) + ": " + err);
  if (const std::string e = s->stop(); !e.empty()) fail(std::string(kImplName[impl]) + ": " + e);
  return err.empty() ? h.rps : -1;
}

}  // namespace

int main(int argc, char** argv) {
  // B3's own defaults (a run is two clients of a few seconds each): 3 x 3 s unless given.
  // Every implementation with an HTTP server (http_servers.cc): raw_uring is an echo floor only.
  constexpr bench::ImplSet kHttpImpls =
      bench::impl_set({bench::kRaw, bench::kNetpoll, bench::kNetpollUring, bench::kLibuv, bench::kAsio,
                       bench::kAsioUring});
  bench::Options o =
      bench::parse_options(argc, argv, " [--requests N] [--no-perf] [--server PATH]", 3, 3, kHttpImpls);
  const bench::HttpArgs args = bench::parse_http_args(o, "http_bench", /*allow_no_perf=*/true);
  Config cfg;
  bool use_perf = !o.smoke && !args.no_perf;
  const std::uint64_t requests = args.requests;
  cfg.server = args.server;
  cfg.smoke = o.smoke;
  cfg.have_wrk = netpoll::testing::on_path("wrk");
  cfg.have_h2load = netpoll::testing::on_path("h2load");
  cfg.wrk_secs = o.smoke ? 1 : std::max(1, static_cast<int>(std::lround(o.seconds)));
  // h2load needs at least one request per connection.
  cfg.h2_requests = o.smoke ? 200 : requests ? std::max<std::uint64_t>(requests, kConns) : 0;
  if (!cfg.have_wrk || !cfg.have_h2load) {
    const std::string missing = std::string(cfg.have_wrk ? "" : "wrk ") + (cfg.have_h2load ? "" : "h2load (nghttp2-client)");
    if (!o.smoke) {
      std::fprintf(stderr, "http_bench: missing client(s): %s (tools/bench installs them)\n", missing.c_str());
      return 1;
    }
    std::fprintf(stderr, "http_bench: %s not installed: smoke run checks the servers with the raw-socket probe only\n",
                 missing.c_str());
  }
  use_perf = use_perf && netpoll::testing::on_path("perf");
  bench::pin_to_cpu(kClientCpu);
  const double t0 = bench::mono_s();
  std::fprintf(stderr,
               "B3 HTTP/1.1 plaintext: server on CPU %d, clients on CPU %d; wrk -t1 -c%d -d%ds; h2load --h1 -c%d -m%d%s\n",
               kServerCpu, kClientCpu, kConns, cfg.wrk_secs, kConns, kPipeline,
               o.smoke ? " (smoke: figures meaningless)" : "");

  if (cfg.h2_requests == 0) {
    const double rate = h2load_rate(cfg, bench::first_enabled(o));
    if (rate <= 0) {
      std::fprintf(stderr, "http_bench: the h2load sizing run failed\n");
      return 1;
    }
    cfg.h2_requests = bench::h2load_requests_for(rate, o.seconds);
  }
  std::fprintf(stderr, "  [B3 h2load -n%llu]\n", static_cast<unsigned long long>(cfg.h2_requests));

  std::vector<Sample> samples[kImpls];
  std::vector<double> headline[kImpls];
  bench::interleave(o, "B3 server CPU ns/req (h2load)", [&](Impl k, int) {
    samples[k].push_back(run_once(cfg, k));
    return samples[k].back().h2_cpu.total_ns;
  }, headline);

  // The servers all speak the same protocol byte for byte (Date aside).
  for (int k = 0; k < kImpls; ++k)
    for (int j = 0; j < k; ++j)
      if (!cfg.transcript[k].empty() && !cfg.transcript[j].empty())
        if (const std::string d = bench::transcript_difference(cfg.transcript[j], cfg.transcript[k]); !d.empty())
          fail(std::string("probe transcripts of ") + kImplName[j] + " and " + kImplName[k] + " differ " + d);

  Calibration cal[kImpls];
  for (auto& c : cal) c.wrk.fill(-1), c.h2.fill(-1);
  if (use_perf && !bench::failures()) {
    std::fprintf(stderr, "  [B3 syscall calibration: perf stat -p <server> under wrk -d1s and h2load]\n");
    for (int k = 0; k < kImpls; ++k)
      if (o.enabled[k]) cal[k] = calibrate(cfg, static_cast<Impl>(k));
  }

  using Arr = double[kImpls];
  // Median over the repetitions of get(sample) * scale, skipping runs that measured nothing.
  auto med = [&](auto get, double scale, Arr& out) {
    for (int k = 0; k < kImpls; ++k) {
      std::vector<double> v;
      for (const Sample& s : samples[k])
        if (get(s) >= 0) v.push_back(get(s) * scale);
      out[k] = o.enabled[k] && !v.empty() ? bench::median(v) : -1;
    }
  };
  Arr wrk_rps, wrk_p50, wrk_p99, wrk_cpu, wrk_user, h2_rps, h2_cpu, h2_user, h2_cpu_ns, h2_cpu_min, h2_cpu_min_us;
  med([](const Sample& s) { return s.wrk_rps; }, 1, wrk_rps);
  med([](const Sample& s) { return s.wrk_p50_us; }, 1, wrk_p50);
  med([](const Sample& s) { return s.wrk_p99_us; }, 1, wrk_p99);
  med([](const Sample& s) { return s.wrk_cpu.total_ns; }, 1e-3, wrk_cpu);
  med([](const Sample& s) { return s.wrk_cpu.user_ns; }, 1e-3, wrk_user);
  med([](const Sample& s) { return s.h2_rps; }, 1, h2_rps);
  med([](const Sample& s) { return s.h2_cpu.total_ns; }, 1e-3, h2_cpu);
  med([](const Sample& s) { return s.h2_cpu.user_ns; }, 1e-3, h2_user);
  med([](const Sample& s) { return s.h2_cpu.total_ns; }, 1, h2_cpu_ns);
  for (int k = 0; k < kImpls; ++k) {
    std::vector<double> v;
    for (double x : headline[k])
      if (x >= 0) v.push_back(x);
    h2_cpu_min[k] = o.enabled[k] && !v.empty() ? bench::minimum(v) : -1;  // ns
    h2_cpu_min_us[k] = h2_cpu_min[k] < 0 ? -1 : h2_cpu_min[k] / 1e3;
  }
  Arr sys_wrk[kSysEvents.size()], sys_h2[kSysEvents.size()];
  for (std::size_t e = 0; e < kSysEvents.size(); ++e)
    for (int k = 0; k < kImpls; ++k) {
      sys_wrk[e][k] = cal[k].wrk[e];
      sys_h2[e][k] = cal[k].h2[e];
    }

  const std::string reps = " (median of " + std::to_string(o.reps) + ")";
  std::printf("%s", bench::table_header("B3 HTTP/1.1 plaintext, server CPU 0, client CPU 1").c_str());
  std::printf("%s", bench::table_row("wrk -t1 -c50 req/s" + reps, wrk_rps, 0).c_str());
  std::printf("%s", bench::table_row("wrk latency p50, us", wrk_p50, 0).c_str());
  std::printf("%s", bench::table_row("wrk latency p99, us", wrk_p99, 0).c_str());
  std::printf("%s", bench::table_row("wrk: server CPU us/request", wrk_cpu, 3).c_str());
  std::printf("%s", bench::table_row("wrk: server CPU us/request, user space", wrk_user, 3).c_str());
  std::printf("%s", bench::table_row("h2load --h1 -c50 -m16 req/s" + reps, h2_rps, 0).c_str());
  std::printf("%s", bench::table_row("h2load: server CPU us/request (headline)", h2_cpu, 3).c_str());
  std::printf("%s", bench::table_row("h2load: server CPU us/request, min", h2_cpu_min_us, 3).c_str());
  std::printf("%s", bench::table_row("h2load: server CPU us/request, user space", h2_user, 3).c_str());
  std::printf("%s", bench::table_row("wrk: server syscalls/request (perf)", sys_wrk[0], 2, false).c_str());
  std::printf("%s", bench::table_row("h2load: server syscalls/request (perf)", sys_h2[0], 3, false).c_str());
  if (use_perf) {
    // The breakdown, where it was counted: which calls make up the totals above.
    for (std::size_t e = 1; e < kSysEvents.size(); ++e) {
      bool any = false;
      for (int k = 0; k < kImpls; ++k) any |= sys_wrk[e][k] > 0.005 || sys_h2[e][k] > 0.0005;
      if (!any) continue;
      std::printf("%s", bench::table_row(std::string("  ") + kSysNames[e] + "/request, wrk", sys_wrk[e], 2, false).c_str());
      std::printf("%s", bench::table_row(std::string("  ") + kSysNames[e] + "/request, h2load", sys_h2[e], 3, false).c_str());
    }
  }

  bench::Entry e;
  e.id = "B3";
  e.name = "HTTP/1.1 plaintext server driven by wrk -c50 and h2load -c50 -m16, server CPU 0, client CPU 1";
  e.metric = "server CPU ns per request under h2load --h1 -c50 -m16 (median of " + std::to_string(o.reps) + " x " +
             std::to_string(cfg.h2_requests) + " requests)";
  e.unit = "ns/request";
  e.higher_is_better = false;
  for (int k = 0; k < kImpls; ++k) e.value[k] = h2_cpu_ns[k];
  std::string sys_json;
  for (std::size_t k = 1; k < kSysEvents.size(); ++k)
    sys_json += std::string(", \"") + kSysNames[k] + "\": {\"wrk\": " + bench::impls_json(sys_wrk[k], 3) +
                ", \"h2load\": " + bench::impls_json(sys_h2[k], 4) + "}";
  e.extra = "\"min\": " + bench::impls_json(h2_cpu_min, 1) + ", \"wrk_requests_per_s\": " + bench::impls_json(wrk_rps, 0) +
            ", \"wrk_latency_p50_us\": " + bench::impls_json(wrk_p50, 1) +
            ", \"wrk_latency_p99_us\": " + bench::impls_json(wrk_p99, 1) +
            ", \"wrk_server_cpu_us_per_request\": " + bench::impls_json(wrk_cpu, 4) +
            ", \"wrk_server_user_cpu_us_per_request\": " + bench::impls_json(wrk_user, 4) +
            ", \"h2load_requests_per_s\": " + bench::impls_json(h2_rps, 0) +
            ", \"h2load_server_cpu_us_per_request\": " + bench::impls_json(h2_cpu, 4) +
            ", \"h2load_server_user_cpu_us_per_request\": " + bench::impls_json(h2_user, 4) +
            ", \"server_syscalls_per_request_perf\": {\"wrk\": " + bench::impls_json(sys_wrk[0], 3) +
            ", \"h2load\": " + bench::impls_json(sys_h2[0], 4) + "}" + ", \"syscall_breakdown_per_request\": {" +
            sys_json.substr(2) + "}" + ", \"wrk_seconds\": " + std::to_string(cfg.wrk_secs) +
            ", \"h2load_requests\": " + std::to_string(cfg.h2_requests);
  if (!bench::write_entry(o, e)) fail("could not write the B3 result");
  std::fprintf(stderr, "  [B3 took %.1f s]\n", bench::mono_s() - t0);
  return bench::exit_status("http_bench");
}
