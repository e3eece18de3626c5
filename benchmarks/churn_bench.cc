// B4 (docs/benchmarks.md): connection churn, as libuv's "pound" benchmark. 100 concurrent clients
// (one client thread, its own epoll loop: echo_clients.h) each connect, write 2 bytes, read
// the 2-byte echo and close, then start over; the server (echo_servers.h: raw epoll, raw io_uring,
// netpoll's coroutine Loop, libuv, Asio's two builds) accepts, echoes, and closes at the client's end of stream. Server on
// CPU 0, client on CPU 1; implementations interleaved.
//
// Metric: accepts/s (connections completed per second by the client, every one accepted by the
// server), with the server thread's CPU time, syscalls (raw, netpoll) and operator new calls
// per connection.
//
// Verified every run: every echo matches, the server accepted and closed exactly the client's
// connections and echoed exactly 2 bytes each, and the process's open descriptors are back to
// the count before the run (a leaked or late-closed descriptor fails the run loudly). Nothing
// asserts a time.
//
//   churn_bench [--smoke] [--reps N] [--seconds S] [--results DIR] [--impl raw,raw_uring,netpoll,libuv,asio,asio_uring]
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "benchmarks/echo_clients.h"
#include "benchmarks/echo_servers.h"
#include "benchmarks/harness.h"

namespace {

namespace bench = netpoll::bench;
using bench::Impl;
using bench::kImpls;

constexpr int kConcurrency = 100;

struct Series {
  std::vector<double> rate[kImpls];    // accepts/s
  std::vector<double> cpu[kImpls];     // server CPU ns per connection
  std::vector<double> sys[kImpls];     // server syscalls per connection (raw, netpoll)
  std::vector<double> allocs[kImpls];  // operator new calls per connection (process)
  // Share of the run each thread spent on a CPU: a client near 100% bounds accepts/s, and
  // then the server's CPU per connection is what separates the servers.
  std::vector<double> server_busy[kImpls];
  std::vector<double> client_busy[kImpls];
};

// One churn run against `impl`'s server; appends its figures to `s` and returns accepts/s.
// `check_fds`: after the warm-up runs only. Each implementation's first use opens descriptors
// it keeps for the life of the process: netpoll's reserve descriptor (for shedding clients on
// EMFILE), libuv's signal-handling pipe.
double run_one(Impl impl, double seconds, Series& s, bool check_fds = true) {
  const int fds_before = bench::open_fd_count();
  double rate = 0;
  {
    bench::EchoServer server(impl, {.cpu = 0, .conns = 0});
    const int port = server.port();
    const bench::ClientOut client = bench::run_pinned(1, [&] { return bench::churn(port, kConcurrency, seconds); });
    if (client.error.empty()) server.finish_after(client.conns);
    const bench::ServerOut out = bench::join_checked(server, client);
    const double conns = double(client.conns);
    rate = client.rate();
    s.rate[impl].push_back(rate);
    s.cpu[impl].push_back(conns > 0 ? out.cpu_ns / conns : -1);
    s.sys[impl].push_back(out.syscalls >= 0 && conns > 0 ? double(out.syscalls) / conns : -1);
    s.allocs[impl].push_back(conns > 0 ? double(out.allocs) / conns : -1);
    s.server_busy[impl].push_back(100 * out.cpu_ns / 1e9 / client.wall_seconds);
    s.client_busy[impl].push_back(100 * client.cpu_ns / 1e9 / client.wall_seconds);
  }
  const int fds_after = bench::open_fd_count();
  if (check_fds && fds_after != fds_before)
    bench::fail(std::string(bench::kImplName[impl]) + ": " + std::to_string(fds_after) +
                " descriptors open after the churn run, " + std::to_string(fds_before) + " before");
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv);
  bench::reject_unknown(o, "churn_bench");
  const double seconds = o.smoke ? 0.05 : o.seconds;
  std::fprintf(stderr, "B4 connection churn: %d concurrent clients (connect, write %zu B, read the echo, close), "
               "server cpu0 / client cpu1%s\n", kConcurrency, bench::kChurnBytes,
               o.smoke ? " (smoke: figures meaningless)" : "");

  Series warm, s;
  for (int k = 0; k < kImpls; ++k)  // also in a smoke run: it settles the descriptor baseline
    if (o.enabled[k]) (void)run_one(static_cast<Impl>(k), o.smoke ? 0.02 : 0.2, warm, false);
  std::vector<double> rates[kImpls];
  bench::interleave(o, "B4", [&](Impl k, int) { return run_one(k, seconds, s); }, rates);

  double rate[kImpls], mn[kImpls], cpu[kImpls], sys[kImpls], allocs[kImpls], sbusy[kImpls], cbusy[kImpls];
  bench::medians(s.rate, rate);
  bench::minima(s.rate, mn);
  bench::medians(s.cpu, cpu);
  bench::medians(s.sys, sys);
  bench::medians(s.allocs, allocs);
  bench::medians(s.server_busy, sbusy);
  bench::medians(s.client_busy, cbusy);
  for (double& v : cpu) v = v < 0 ? v : v / 1e3;
  std::printf("%s", bench::table_header("B4 churn, " + std::to_string(kConcurrency) + " concurrent clients").c_str());
  std::printf("%s", bench::table_row("accepts/s, median of " + std::to_string(o.reps), rate, 0).c_str());
  std::printf("%s", bench::table_row("accepts/s, min of " + std::to_string(o.reps), mn, 0).c_str());
  std::printf("%s", bench::table_row("server CPU us/connection", cpu, 2).c_str());
  std::printf("%s", bench::table_row("server syscalls/connection (counted)", sys, 2, false).c_str());
  std::printf("%s", bench::table_row("operator new calls/connection (process)", allocs, 2, false).c_str());
  std::printf("%s", bench::table_row("server thread CPU busy, % of the run", sbusy, 0, false).c_str());
  std::printf("%s", bench::table_row("client thread CPU busy, % of the run", cbusy, 0, false).c_str());
  std::printf("descriptors back to their count before each run: %s\n", bench::failures() ? "see failures" : "yes");

  bench::Entry e;
  e.id = "B4";
  e.name = "connection churn, 100 concurrent clients: connect, write 2 B, read echo, close";
  e.metric = "accepts/s (median of " + std::to_string(o.reps) + " x " + bench::fmt(seconds, 1) + " s)";
  e.unit = "accepts/s";
  for (int k = 0; k < kImpls; ++k) e.value[k] = rate[k];
  e.extra = "\"min\": " + bench::impls_json(mn, 1) + ", \"server_cpu_us_per_conn\": " + bench::impls_json(cpu, 3) +
            ", \"server_syscalls_per_conn_counted\": " + bench::impls_json(sys, 2) +
            ", \"allocs_per_conn\": " + bench::impls_json(allocs, 2) +
            ", \"server_cpu_busy_pct\": " + bench::impls_json(sbusy, 1) +
            ", \"client_cpu_busy_pct\": " + bench::impls_json(cbusy, 1) + ", \"fds_back_to_baseline\": true";
  if (!bench::write_entry(o, e)) bench::fail("could not write the B4 result");
  return bench::exit_status("churn_bench");
}
