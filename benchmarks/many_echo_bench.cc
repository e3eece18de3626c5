// B2 (docs/benchmarks.md): many-connection echo. 50 and 500 loopback TCP connections, each
// ping-ponging 5-byte messages, driven by one client thread with its own epoll loop
// (echo_clients.h), against the echo servers of echo_servers.h (raw epoll, raw io_uring,
// netpoll's coroutine Loop, libuv, Asio's two builds), run interleaved; once with the server on CPU 0 and the client on
// CPU 1, once with both on CPU 0. Plus a pump: one connection streaming 8 KiB writes (at most
// 128 KiB unechoed) across the two CPUs, in Gbit/s.
//
// Reported per configuration: the client's rate (median and min of the repetitions), the
// server thread's CPU time per message (getrusage RUSAGE_THREAD; a message is a round trip, or
// 8 KiB of the pump) and its syscalls per message where it counts them (raw, netpoll). The
// result entry's headline is the 500-connection cross-CPU round trips/s; every other figure is
// in its extra members.
//
// Nothing asserts a time: a run fails only if an echo differs from what was sent, or the
// server's counts (connections, bytes) differ from the client's.
//
//   many_echo_bench [--smoke] [--reps N] [--seconds S] [--results DIR] [--impl raw,raw_uring,netpoll,libuv,asio,asio_uring]
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "benchmarks/echo_clients.h"
#include "benchmarks/echo_servers.h"
#include "benchmarks/harness.h"

namespace {

namespace bench = netpoll::bench;
using bench::Impl;
using bench::kImpls;

constexpr std::size_t kPumpChunk = 8 * 1024;
constexpr std::size_t kPumpWindow = 128 * 1024;

struct Config {
  const char* key;    // its member in the result entry
  const char* label;  // its rows in the table
  int conns;
  bool same_cpu;      // client on CPU 0 with the server (else on CPU 1)
  bool pump;
};

constexpr Config kConfigs[] = {
    {"conns_500_cross_cpu", "500 conns, server cpu0 / client cpu1", 500, false, false},
    {"conns_50_cross_cpu", "50 conns, server cpu0 / client cpu1", 50, false, false},
    {"conns_500_same_cpu", "500 conns, one CPU", 500, true, false},
    {"conns_50_same_cpu", "50 conns, one CPU", 50, true, false},
    {"pump_8k", "1 conn 8 KiB pump, server cpu0 / client cpu1", 1, false, true},
};

struct Series {
  std::vector<double> rate[kImpls];  // round trips/s, or Gbit/s for the pump
  std::vector<double> cpu[kImpls];   // server CPU ns per message
  std::vector<double> sys[kImpls];   // server syscalls per message (raw, netpoll)
};

// One run of `c` against `impl`'s server; appends its figures to `s` and returns the rate.
double run_one(const Config& c, Impl impl, double seconds, Series& s) {
  bench::EchoServer server(impl, {.cpu = 0, .conns = static_cast<std::uint64_t>(c.conns)});
  const int port = server.port();
  const bench::ClientOut client = bench::run_pinned(c.same_cpu ? 0 : 1, [&] {
    return c.pump ? bench::pump(port, kPumpChunk, kPumpWindow, seconds) : bench::many_pingpong(port, c.conns, seconds);
  });
  const bench::ServerOut out = bench::join_checked(server, client);
  const double msgs = double(client.echoed) / double(c.pump ? kPumpChunk : bench::kPingBytes);
  const double rate = c.pump ? client.rate() * 8 / 1e9 : client.rate();
  s.rate[impl].push_back(rate);
  s.cpu[impl].push_back(msgs > 0 ? out.cpu_ns / msgs : -1);
  s.sys[impl].push_back(out.syscalls >= 0 && msgs > 0 ? double(out.syscalls) / msgs : -1);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv);
  bench::reject_unknown(o, "many_echo_bench");
  const double seconds = o.smoke ? 0.05 : o.seconds;
  std::fprintf(stderr, "B2 many-connection echo: 50 and 500 connections x %zu-byte ping-pong, and a %zu KiB pump%s\n",
               bench::kPingBytes, kPumpChunk / 1024, o.smoke ? " (smoke: figures meaningless)" : "");

  // A short warm-up per server (page faults, slabs, libuv's buffers).
  Series warm;
  if (!o.smoke)
    for (int k = 0; k < kImpls; ++k)
      if (o.enabled[k]) (void)run_one(kConfigs[0], static_cast<Impl>(k), 0.2, warm);

  Series series[std::size(kConfigs)];
  for (std::size_t i = 0; i < std::size(kConfigs); ++i) {
    std::vector<double> ignored[kImpls];
    bench::interleave(o, std::string("B2 ") + kConfigs[i].label,
                      [&](Impl k, int) { return run_one(kConfigs[i], k, seconds, series[i]); }, ignored);
  }

  std::printf("%s", bench::table_header("B2 many-connection echo (median of " + std::to_string(o.reps) + ")").c_str());
  std::string extra;
  for (std::size_t i = 0; i < std::size(kConfigs); ++i) {
    const Config& c = kConfigs[i];
    const Series& s = series[i];
    double rate[kImpls], mn[kImpls], cpu[kImpls], sys[kImpls];
    bench::medians(s.rate, rate);
    bench::minima(s.rate, mn);
    bench::medians(s.cpu, cpu);
    bench::medians(s.sys, sys);
    const std::string unit = c.pump ? "Gbit/s" : "round trips/s";
    const std::string per = c.pump ? "8 KiB" : "rt";
    const int prec = c.pump ? 2 : 0;
    std::printf("%s", bench::table_row(std::string(c.label) + ": " + unit, rate, prec).c_str());
    std::printf("%s", bench::table_row(std::string(c.label) + ": " + unit + ", min", mn, prec).c_str());
    std::printf("%s", bench::table_row(std::string(c.label) + ": server CPU ns/" + per, cpu, 0).c_str());
    std::printf("%s", bench::table_row(std::string(c.label) + ": server syscalls/" + per + " (counted)", sys, 2, false).c_str());
    if (!extra.empty()) extra += ", ";
    extra += "\"" + std::string(c.key) + "\": {\"unit\": " + bench::json_str(unit) +
             ", \"median\": " + bench::impls_json(rate, 3) + ", \"min\": " + bench::impls_json(mn, 3) +
             ", \"server_cpu_ns_per_msg\": " + bench::impls_json(cpu, 1) +
             ", \"server_syscalls_per_msg_counted\": " + bench::impls_json(sys, 3) + "}";
  }

  bench::Entry e;
  e.id = "B2";
  e.name = "many-connection echo, 500 connections x 5-byte ping-pong, server cpu0 / client cpu1";
  e.metric = "round trips/s (median of " + std::to_string(o.reps) + " x " + bench::fmt(seconds, 1) + " s)";
  e.unit = "round trips/s";
  bench::medians(series[0].rate, e.value);
  e.extra = extra;
  if (!bench::write_entry(o, e)) bench::fail("could not write the B2 result");
  return bench::exit_status("many_echo_bench");
}
