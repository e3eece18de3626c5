#include "benchmarks/http_server_process.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

namespace netpoll::bench {

using netpoll::testing::ChildProcess;

std::optional<HttpServerProcess> HttpServerProcess::start(const std::string& path, Impl impl, int cpu,
                                                          std::string* error, int loops) {
  std::vector<std::string> argv = {path, "--impl", kImplName[impl]};
  if (loops != 1) argv.insert(argv.end(), {"--loops", std::to_string(loops)});
  argv.push_back("127.0.0.1:0");
  std::optional<ChildProcess> c = ChildProcess::spawn(
      argv, {.out = netpoll::testing::Stdio::kPipe, .search_path = true, .cpu = cpu}, error);
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

std::string find_http_server(const std::string& given) {
  return given.empty() ? find_bench_binary("http_bench_server") : given;
}

HttpArgs parse_http_args(const Options& o, const char* prog, bool allow_no_perf) {
  HttpArgs a;
  std::string given;
  for (std::size_t i = 0; i < o.rest.size(); ++i) {
    if (allow_no_perf && o.rest[i] == "--no-perf") a.no_perf = true;
    else if (o.rest[i] == "--requests" && i + 1 < o.rest.size()) a.requests = std::strtoull(o.rest[++i].c_str(), nullptr, 10);
    else if (o.rest[i] == "--server" && i + 1 < o.rest.size()) given = o.rest[++i];
    else {
      std::fprintf(stderr, "%s: unknown argument %s\n", prog, o.rest[i].c_str());
      std::exit(2);
    }
  }
  a.server = find_http_server(given);
  if (a.server.empty()) {
    std::fprintf(stderr, "%s: cannot find http_bench_server (pass --server PATH)\n", prog);
    std::exit(2);
  }
  return a;
}

}  // namespace netpoll::bench
