// B3's server under test (//benchmarks:http_bench_server) as a child process: started pinned
// to a CPU, its address read from its first line, stopped with SIGTERM and checked to exit 0.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>

#include "benchmarks/harness.h"
#include "test/child_process.h"

namespace netpoll::bench {

class HttpServerProcess {
 public:
  // Starts `path --impl <impl> 127.0.0.1:0` pinned to `cpu` and waits (30 s: a sanitizer build
  // starts slowly) for its "listening on <addr>" line. std::nullopt and `*error` on failure.
  static std::optional<HttpServerProcess> start(const std::string& path, Impl impl, int cpu, std::string* error);

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

}  // namespace netpoll::bench
