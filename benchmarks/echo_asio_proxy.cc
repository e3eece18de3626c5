// The asio and asio_uring echo servers' side in the benchmark process: EchoServer's thread
// starts the server process (echo_asio_server.cc, which says why it is one), pinned to the
// configured CPU, and reads its stdout to the end; accepted(), heap_bytes() and finish_after()
// reach it through its stdin. The figures in ServerOut are the child's own (its loop thread's
// CPU time and operator new calls over the measured span); syscalls are -1, not counted.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "benchmarks/echo_server_shared.h"
#include "netpoll/net/net.h"
#include "test/child_process.h"

namespace netpoll::bench {
namespace {

using netpoll::testing::ChildProcess;

// One server process: the commands written to its stdin, the answers its reader (the
// EchoServer's thread) hands over.
class AsioLink : public EchoServer::Remote {
 public:
  explicit AsioLink(ChildProcess c) : child_(std::move(c)) {}
  ChildProcess& child() { return child_; }

  bool send(const std::string& line) {
    std::lock_guard<std::mutex> g(in_mu_);
    return child_.write_stdin(line + "\n");
  }
  // One question at a time; its answer comes back through answer(), or -1 once ended().
  double query(const char* what) override {
    std::lock_guard<std::mutex> q(query_mu_);
    {
      std::lock_guard<std::mutex> g(mu_);
      if (ended_) return -1;
      answered_ = false;
      asked_ = what;
    }
    if (!send(what)) return -1;
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, std::chrono::seconds(60), [&] { return answered_ || ended_; })) return -1;
    return answered_ ? answer_ : -1;
  }
  // A line "<what> <value>" from the child.
  void answer(const std::string& what, double value) {
    std::lock_guard<std::mutex> g(mu_);
    if (what != asked_) return;
    answer_ = value;
    answered_ = true;
    cv_.notify_all();
  }
  void ended() {
    std::lock_guard<std::mutex> g(mu_);
    ended_ = true;
    cv_.notify_all();
  }

 private:
  ChildProcess child_;  // stdout read by the EchoServer's thread only; stdin under in_mu_
  std::mutex in_mu_, query_mu_, mu_;
  std::condition_variable cv_;
  std::string asked_;  // guarded by mu_
  double answer_ = -1;
  bool answered_ = false, ended_ = false;
};

// "done ACCEPTED CLOSED BYTES CPU_NS ALLOCS [ERROR...]" into `out`; false if malformed.
bool parse_done(const std::string& line, EchoServer::Shared& sh) {
  std::istringstream in(line.substr(5));
  unsigned long long accepted = 0, closed = 0, bytes = 0, allocs = 0;
  double cpu = 0;
  if (!(in >> accepted >> closed >> bytes >> cpu >> allocs)) return false;
  std::string err;
  std::getline(in, err);
  if (!err.empty() && err[0] == ' ') err.erase(0, 1);
  sh.out.accepted = accepted;
  sh.out.closed = closed;
  sh.out.bytes = bytes;
  sh.out.cpu_ns = cpu;
  sh.out.allocs = allocs;
  sh.out.syscalls = -1;
  sh.publish_accepted(accepted);
  if (!err.empty()) sh.error(err);
  return true;
}

}  // namespace

void serve_asio_process(EchoServer::Shared& sh, Impl impl) {
  const std::string who = kImplName[impl];
  const std::string name = impl == kAsio ? "asio_echo_server" : "asio_uring_echo_server";
  const std::string path = find_bench_binary(name);
  if (path.empty()) {
    sh.listening(0, who + ": cannot find the server binary " + name + " (a data dependency of //benchmarks:echo)");
    return;
  }
  std::vector<std::string> argv = {path, "--conns", std::to_string(sh.cfg.conns), "--backlog",
                                   std::to_string(net::listener_backlog())};
  if (sh.cfg.idle_pool) argv.push_back("--idle-pool");
  std::string err;
  std::optional<ChildProcess> c = ChildProcess::spawn(
      argv, {.in = netpoll::testing::Stdio::kPipe, .out = netpoll::testing::Stdio::kPipe, .cpu = sh.cfg.cpu}, &err);
  if (!c) {
    sh.listening(0, who + ": " + err);
    return;
  }
  auto link = std::make_shared<AsioLink>(std::move(*c));
  ChildProcess& child = link->child();
  std::string line;
  const std::string prefix = "listening ";
  if (child.read_line(std::chrono::seconds(30), &line) != ChildProcess::Read::kOk || line.rfind(prefix, 0) != 0) {
    sh.listening(0, who + " server process did not listen: \"" + line + "\" " + child.err_text());
    return;
  }
  sh.set_remote(link);
  sh.set_wake([link, &sh] { (void)link->send("finish " + std::to_string(sh.target())); });
  sh.listening(std::atoi(line.c_str() + prefix.size()));
  bool done = false;
  for (;;) {
    // No bound of its own: EchoServer::join ends the run if the server never ends.
    const ChildProcess::Read r = child.read_line(std::chrono::hours(24), &line);
    if (r != ChildProcess::Read::kOk) break;
    if (line.rfind("done ", 0) == 0) {
      done = parse_done(line, sh);
      if (!done) sh.error(who + " server process: malformed report \"" + line + "\"");
      break;
    }
    const std::size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    link->answer(line.substr(0, sp), std::atof(line.c_str() + sp + 1));
  }
  sh.set_wake(nullptr);
  sh.set_remote(nullptr);
  link->ended();
  child.close_stdin();
  const int status = child.wait(std::chrono::seconds(30));
  if (!done) sh.error(who + " server process ended without its report: " + child.err_text());
  else if (!netpoll::testing::exited_zero(status))
    sh.error(who + " server process " + netpoll::testing::describe_status(status) + ": " + child.err_text());
}

}  // namespace netpoll::bench
