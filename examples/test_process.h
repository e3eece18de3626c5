// Test helpers that drive an example server as a real separate process (over
// //test:child_process): start the binary, read its "listening on <addr>" line, stop it with a
// signal and collect its exit status; and run a client program (curl) capturing its output.
// Talking to the server is test_socket.h's job.
//
// Every wait is bounded (kTimeout) only so that a broken server fails a test instead of
// hanging it; no test asserts a duration. Failures (spawn, timeouts, a wrong first line) throw
// std::runtime_error, which doctest reports as a failure of the running test case.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "examples/test_socket.h"
#include "test/child_process.h"

namespace netpoll::examples::testing {

using netpoll::testing::Captured;
using netpoll::testing::describe_status;
using netpoll::testing::exited_zero;

// A server binary running as a child process. The destructor kills (SIGKILL) and reaps it if
// it is still running, so a failing test leaves no process behind.
class ServerProcess {
 public:
  // Runs `path args...` with stdout on a pipe, stderr captured and stdin from /dev/null, and
  // waits for its first line, which must be "listening on <addr>".
  static ServerProcess start(const std::string& path, const std::vector<std::string>& args = {});

  const std::string& addr() const noexcept { return addr_; }
  pid_t pid() const noexcept { return child_.pid(); }

  // Sends `sig` and waits for the process to exit; returns its wait status. Throws if it has
  // not exited within kTimeout (it is then killed). Copies what the server wrote to stderr
  // into the test's stderr (so sanitizer reports reach the test log).
  int stop(int sig);
  // Everything the server wrote to stderr so far.
  std::string stderr_text() const { return child_.err_text(); }
  // Everything the server wrote to stdout after its "listening on" line, up to its exit.
  // Call after stop().
  std::string rest_of_stdout();

 private:
  explicit ServerProcess(netpoll::testing::ChildProcess child) : child_(std::move(child)) {}
  netpoll::testing::ChildProcess child_;
  std::string addr_;
};

// Runs `argv` (argv[0] is a path) to completion with stdin /dev/null, capturing stdout and
// stderr. Throws if it cannot start or does not exit within kTimeout.
Captured run_capture(const std::vector<std::string>& argv);

}  // namespace netpoll::examples::testing
