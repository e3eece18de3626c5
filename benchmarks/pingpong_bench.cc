// B1 (docs/benchmarks.md): ping-pong over one loopback TCP connection, 5-byte messages, client and
// server pinned to the same CPU. One shared blocking client (echo_clients.h); the echo servers
// of echo_servers.h (raw epoll, raw io_uring, netpoll's coroutine Loop, libuv, Asio's epoll and
// io_uring builds), run interleaved (raw, raw_uring, netpoll, libuv, asio, asio_uring, raw, ...)
// for several repetitions; median and min reported.
//
// Measured on the server side: CPU time (getrusage RUSAGE_THREAD, server thread only) and
// syscalls per round trip — counted in-process where the implementation can count its own
// (raw: in its loop; netpoll: the poller's stats plus the net layer's syscall hooks), and for
// every one by a `strace -f -c` calibration run of the server alone in a child process, as the
// difference between two round-trip counts (so start-up and shutdown cancel out).
//
// Nothing here asserts a time. The run fails (exit 1) only if a workload did not complete
// correctly: every echo is compared byte for byte, and the server must have echoed exactly
// what the client sent.
//
//   pingpong_bench [--smoke] [--reps N] [--seconds S] [--no-strace] [--results DIR]
//                  [--impl raw,raw_uring,netpoll,libuv,asio,asio_uring]   (a subset, for profiling; writes no results)
//   pingpong_bench --serve IMPL     (the strace calibration child; -f follows an Asio server
//                                   process, the proxy's own syscalls cancel out)
#include <unistd.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/echo_clients.h"
#include "benchmarks/echo_servers.h"
#include "benchmarks/harness.h"
#include "test/child_process.h"

namespace {

namespace bench = netpoll::bench;
using bench::Impl;
using bench::kImplName;
using bench::kImpls;
using bench::kLibuv;
using bench::kNetpoll;
using bench::kRaw;
using netpoll::testing::ChildProcess;
using netpoll::testing::Stdio;

// --- one measured run -------------------------------------------------------------------------

struct Sample {
  double rate = 0;  // round trips/s, client-measured
  double cpu_ns_per_rt = 0;
  double syscalls_per_rt = -1;
  double allocs_per_rt = 0;
};

// The shared echo server for one connection and the blocking client, both on CPU 0.
Sample run_pair(Impl impl, std::uint64_t rounds, double seconds) {
  bench::EchoServer server(impl, {.cpu = 0, .conns = 1});
  const bench::ClientOut client =
      bench::run_pinned(0, [&] { return bench::blocking_pingpong(server.port(), rounds, seconds); });
  const bench::ServerOut out = bench::join_checked(server, client);
  Sample s;
  if (client.ops == 0) return s;
  const double rt = double(client.ops);
  s.rate = client.rate();
  s.cpu_ns_per_rt = out.cpu_ns / rt;
  s.syscalls_per_rt = out.syscalls < 0 ? -1 : double(out.syscalls) / rt;
  s.allocs_per_rt = double(out.allocs) / rt;
  return s;
}

// --- strace calibration -----------------------------------------------------------------------

// The calibration child: one server, port on stdout; it ends at its client's end of stream.
int serve_child(Impl impl) {
  // If the parent never connects, die rather than leave a traced orphan waiting forever.
  alarm(60);
  bench::EchoServer server(impl, {.cpu = 0, .conns = 1});
  std::printf("%d\n", server.port());
  std::fflush(stdout);
  const bench::ServerOut out = server.join();
  if (!out.error.empty()) std::fprintf(stderr, "pingpong_bench --serve: %s\n", out.error.c_str());
  return out.error.empty() ? 0 : 1;
}

// Total syscalls strace counted for a child server that served `rounds` round trips; -1 if
// strace is unavailable or the run failed.
std::int64_t strace_total(const std::string& self, Impl impl, std::uint64_t rounds) {
  char outfile[] = "/tmp/pingpong_strace_XXXXXX";
  const int ofd = mkstemp(outfile);
  if (ofd < 0) return -1;
  ::close(ofd);
  std::string error;
  // stdin and stderr are this process's, as strace's own output goes to `outfile`.
  std::optional<ChildProcess> child =
      ChildProcess::spawn({"strace", "-f", "-c", "-o", outfile, self, "--serve", kImplName[impl]},
                          {.in = Stdio::kInherit, .out = Stdio::kPipe, .err = Stdio::kInherit, .search_path = true}, &error);
  std::int64_t total = -1;
  if (child) {
    // The port line; strace's own start-up is slow, so allow generous time.
    std::string line;
    (void)child->read_line(std::chrono::seconds(20), &line);
    const int port = std::atoi(line.c_str());
    bool ok = false;
    if (port > 0) {
      const bench::ClientOut co =
          bench::run_pinned(0, [&] { return bench::blocking_pingpong(port, rounds, 0); });
      ok = co.error.empty() && co.ops == rounds;
    }
    // The child ends at end of stream, or (never given a client) at its alarm(60).
    const int status = child->wait(std::chrono::seconds(90));
    if (ok && netpoll::testing::exited_zero(status)) {
      // The summary's last line: "100.00  secs  usecs/call  calls  [errors]  total".
      std::ifstream in(outfile);
      std::string l, last;
      while (std::getline(in, l))
        if (l.find("total") != std::string::npos) last = l;
      std::istringstream ss(last);
      std::vector<std::string> tok;
      for (std::string t; ss >> t;) tok.push_back(t);
      if (tok.size() >= 5 && tok.back() == "total") total = std::atoll(tok[3].c_str());
    }
  }
  ::unlink(outfile);
  return total;
}

// Syscalls per round trip from two calibration runs of different lengths.
double strace_per_rt(const std::string& self, Impl impl, std::uint64_t n1, std::uint64_t n2) {
  const std::int64_t a = strace_total(self, impl, n1);
  const std::int64_t b = strace_total(self, impl, n2);
  if (a < 0 || b < 0 || b <= a) return -1;
  return double(b - a) / double(n2 - n1);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv, " [--no-strace] | --serve IMPL");
  bool use_strace = true;
  for (std::size_t i = 0; i < o.rest.size(); ++i) {
    if (o.rest[i] == "--no-strace") use_strace = false;
    else if (o.rest[i] == "--serve" && i + 1 < o.rest.size()) {
      for (int k = 0; k < kImpls; ++k)
        if (o.rest[i + 1] == kImplName[k]) return serve_child(static_cast<Impl>(k));
      std::fprintf(stderr, "pingpong_bench: --serve IMPL (one of --impl's names)\n");
      return 2;
    } else {
      std::fprintf(stderr, "pingpong_bench: unknown argument %s\n", o.rest[i].c_str());
      return 2;
    }
  }
  // --smoke: a few hundred round trips per server, one repetition; checks completion only.
  const std::uint64_t smoke_rounds = 300;
  std::fprintf(stderr, "B1 ping-pong: 1 TCP connection over loopback, %zu-byte message, client and server on CPU 0%s\n",
               bench::kPingBytes, o.smoke ? " (smoke: figures meaningless)" : "");

  // A short warm-up per server (page faults, the first slab, libuv's first allocations).
  if (!o.smoke)
    for (int k = 0; k < kImpls; ++k)
      if (o.enabled[k]) (void)run_pair(static_cast<Impl>(k), 0, 0.2);

  std::vector<Sample> samples[kImpls];
  std::vector<double> rates[kImpls];
  bench::interleave(o, "B1", [&](Impl k, int) {
    samples[k].push_back(run_pair(k, o.smoke ? smoke_rounds : 0, o.smoke ? 0 : o.seconds));
    return samples[k].back().rate;
  }, rates);

  double strace_rt[kImpls];
  bench::set_none(strace_rt);
  if (use_strace) {
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = 0;
      const std::uint64_t n1 = o.smoke ? 100 : 2000, n2 = o.smoke ? 300 : 6000;
      std::fprintf(stderr, "  [B1 strace -f -c calibration: %llu and %llu round trips per server]\n",
                   static_cast<unsigned long long>(n1), static_cast<unsigned long long>(n2));
      for (int k = 0; k < kImpls; ++k)
        if (o.enabled[k]) strace_rt[k] = strace_per_rt(self, static_cast<Impl>(k), n1, n2);
    }
    if (std::all_of(std::begin(strace_rt), std::end(strace_rt), [](double v) { return v < 0; }))
      std::fprintf(stderr, "  strace calibration unavailable (no strace, or ptrace not permitted): n/a\n");
  }

  // The median over the repetitions of one Sample field, per implementation (-1: not run).
  auto med = [&](auto get, double (&out)[kImpls]) {
    for (int k = 0; k < kImpls; ++k) {
      std::vector<double> v;
      for (const Sample& s : samples[k]) v.push_back(get(s));
      out[k] = o.enabled[k] ? bench::median(v) : -1;
    }
  };
  double rate[kImpls], mn[kImpls], cpu_us[kImpls], sys[kImpls], allocs[kImpls];
  med([](const Sample& s) { return s.rate; }, rate);
  bench::minima(rates, mn);
  med([](const Sample& s) { return s.cpu_ns_per_rt / 1e3; }, cpu_us);
  med([](const Sample& s) { return s.syscalls_per_rt; }, sys);
  med([](const Sample& s) { return s.allocs_per_rt; }, allocs);

  std::printf("%s", bench::table_header("B1 ping-pong, 1 conn, 5 B, same CPU").c_str());
  std::printf("%s", bench::table_row("round trips/s, median of " + std::to_string(o.reps), rate, 0).c_str());
  std::printf("%s", bench::table_row("round trips/s, min of " + std::to_string(o.reps), mn, 0).c_str());
  std::printf("%s", bench::table_row("server syscalls/rt, counted in-process", sys, 2, false).c_str());
  std::printf("%s", bench::table_row("server syscalls/rt, strace -f -c", strace_rt, 2, false).c_str());
  std::printf("%s", bench::table_row("server CPU us/rt (getrusage, median)", cpu_us, 2).c_str());
  std::printf("%s", bench::table_row("operator new calls/rt (process)", allocs, 3, false).c_str());

  bench::Entry e;
  e.id = "B1";
  e.name = "ping-pong, 1 TCP connection, 5-byte message, same CPU";
  e.metric = "round trips/s (median of " + std::to_string(o.reps) + " x " + bench::fmt(o.seconds, 1) + " s)";
  e.unit = "round trips/s";
  for (int k = 0; k < kImpls; ++k) e.value[k] = rate[k];
  e.extra = "\"min\": " + bench::impls_json(mn, 1) +
            ", \"server_syscalls_per_rt_counted\": " + bench::impls_json(sys, 3) +
            ", \"server_syscalls_per_rt_strace\": " + bench::impls_json(strace_rt, 3) +
            ", \"server_cpu_us_per_rt\": " + bench::impls_json(cpu_us, 3) +
            ", \"allocs_per_rt\": " + bench::impls_json(allocs, 3);
  if (!bench::write_entry(o, e)) bench::fail("could not write the B1 result");
  return bench::exit_status("pingpong_bench");
}
