#include "benchmarks/http_syscalls.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "test/child_process.h"

namespace netpoll::bench {

SysCounts count_syscalls(pid_t server, int perf_cpu, const std::function<std::uint64_t()>& client,
                         std::string* error) {
  using netpoll::testing::ChildProcess;
  SysCounts per{};
  per.fill(-1);
  std::string events;
  for (const char* e : kSysEvents) events += std::string(events.empty() ? "" : ",") + e;
  std::optional<ChildProcess> perf =
      ChildProcess::spawn({"perf", "stat", "-x", ",", "-e", events, "-p", std::to_string(server)},
                          {.search_path = true, .cpu = perf_cpu}, error);
  if (!perf) return per;
  ::usleep(300'000);  // perf attaches asynchronously; the server is idle meanwhile
  const std::uint64_t requests = client();
  perf->signal(SIGINT);
  const int st = perf->wait(std::chrono::seconds(30));
  const std::string out = perf->err_text();  // -x output goes to stderr
  if (requests == 0) return per;
  // perf stat prints its counts on SIGINT and then re-raises it: that is its normal end.
  const bool ok = netpoll::testing::exited_zero(st) ||
                  (st != netpoll::testing::kTimedOut && WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
  if (!ok) {
    *error = "perf stat " + netpoll::testing::describe_status(st) + ": " + out;
    return per;
  }
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    // "<count>,<unit>,<event>,..." ("<not supported>" etc. for an unavailable counter)
    const std::size_t c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    const std::string ev = line.substr(c2 + 1, c3 == std::string::npos ? std::string::npos : c3 - c2 - 1);
    for (std::size_t k = 0; k < kSysEvents.size(); ++k)
      if (ev == kSysEvents[k] && std::isdigit(static_cast<unsigned char>(line[0])))
        per[k] = std::atof(line.c_str()) / double(requests);
  }
  return per;
}

}  // namespace netpoll::bench
