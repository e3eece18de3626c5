#include "benchmarks/http_server_process.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <utility>

namespace netpoll::bench {

using netpoll::testing::ChildProcess;

std::optional<HttpServerProcess> HttpServerProcess::start(const std::string& path, Impl impl, int cpu,
                                                          std::string* error) {
  std::optional<ChildProcess> c = ChildProcess::spawn(
      {path, "--impl", kImplName[impl], "127.0.0.1:0"},
      {.out = netpoll::testing::Stdio::kPipe, .search_path = true, .cpu = cpu}, error);
  if (!c) return std::nullopt;
  HttpServerProcess s(std::move(*c));
  std::string line;
  const std::string prefix = "listening on ";
  if (s.child_.read_line(std::chrono::seconds(30), &line) != ChildProcess::Read::kOk || line.rfind(prefix, 0) != 0) {
    *error = "server did not print its address (got \"" + line + "\"); stderr: " + s.child_.err_text();
    return std::nullopt;
  }
  const std::string addr = line.substr(prefix.size());
  s.port_ = std::atoi(addr.substr(addr.rfind(':') + 1).c_str());
  if (s.port_ <= 0) {
    *error = "bad address " + addr;
    return std::nullopt;
  }
  return s;
}

std::string HttpServerProcess::stop() {
  child_.signal(SIGTERM);
  const int st = child_.wait(std::chrono::seconds(30));
  if (netpoll::testing::exited_zero(st)) return {};
  return "server " + netpoll::testing::describe_status(st) + " after SIGTERM; its stderr:\n" + child_.err_text();
}

}  // namespace netpoll::bench
