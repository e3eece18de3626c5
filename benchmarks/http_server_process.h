// B3's and B9's server under test (//benchmarks:http_bench_server) as a child process: started
// (pinned to a CPU or not), its address read from its first line, stopped with SIGTERM and
// checked to exit 0; where its binary is; its CPU time per request over a client run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "benchmarks/harness.h"
#include "test/child_process.h"

namespace netpoll::bench {

class HttpServerProcess {
 public:
  // Starts `path --impl <impl> 127.0.0.1:0` (with `--loops <loops>` when loops != 1) pinned to
  // `cpu` (-1: not pinned) and waits (30 s: a sanitizer build starts slowly) for its
  // "listening on <addr>" line. std::nullopt and `*error` on failure.
  static std::optional<HttpServerProcess> start(const std::string& path, Impl impl, int cpu, std::string* error,
                                                int loops = 1);

  pid_t pid() const { return child_.pid(); }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

  // SIGTERM, then the exit must be a clean 0 (every connection closed; no sanitizer report).
  // An error text, empty when it was.
  std::string stop();

 private:
  explicit HttpServerProcess(netpoll::testing::ChildProcess child) : child_(std::move(child)) {}
  netpoll::testing::ChildProcess child_;
  int port_ = 0;
};

// `given` if not empty, else http_bench_server from the runfiles tree (bazel test / run: a data
// dependency) or next to this binary (run from bazel-bin, as tools/bench does); empty if none
// is executable.
std::string find_http_server(const std::string& given);

// What B3's and B9's command lines add to parse_options': --requests N (h2load -n; 0 when not
// given: sized by a pre-run), --server PATH (resolved with find_http_server) and, where
// `allow_no_perf`, --no-perf. Exits 2, naming `prog`, on an unknown argument or a server that
// cannot be found.
struct HttpArgs {
  std::string server;
  std::uint64_t requests = 0;
  bool no_perf = false;
};
HttpArgs parse_http_args(const Options& o, const char* prog, bool allow_no_perf);

// The server's CPU time per request over one client run: the total (user + system, every
// thread: its CPU-time clock), and the user-space part (the I/O layer and the parser; the
// kernel's share is the same syscalls for all three servers). -1 where not measured.
struct CpuPerRequest {
  double total_ns = -1, user_ns = -1;
};

// Runs `client` (which returns the requests answered, 0 on failure) and divides the server's
// CPU time over it by those requests. The user/system split comes from /proc/<pid>/stat's
// tick-based utime and stime (statistical, a few percent over a run of seconds).
template <class F>
CpuPerRequest cpu_per_request(const HttpServerProcess& s, F&& client) {
  CpuPerRequest c;
  const ProcCpu a = proc_cpu(s.pid());
  const std::uint64_t requests = client();
  const ProcCpu b = proc_cpu(s.pid());
  if (requests == 0 || a.total_ns < 0 || b.total_ns < 0) return c;
  c.total_ns = (b.total_ns - a.total_ns) / double(requests);
  const double u = b.user_ticks - a.user_ticks, k = b.sys_ticks - a.sys_ticks;
  if (a.user_ticks >= 0 && b.user_ticks >= 0 && u + k > 0) c.user_ns = c.total_ns * u / (u + k);
  return c;
}

}  // namespace netpoll::bench
