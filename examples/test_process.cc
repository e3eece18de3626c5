#include "examples/test_process.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace netpoll::examples::testing {

namespace {

using netpoll::testing::ChildProcess;

[[noreturn]] void fail(const std::string& what, int err = 0) {
  throw std::runtime_error(err ? what + ": " + std::strerror(err) : what);
}

}  // namespace

ServerProcess ServerProcess::start(const std::string& path, const std::vector<std::string>& args) {
  if (::access(path.c_str(), X_OK) != 0) fail("server binary " + path + " (runfiles path from the cwd)", errno);
  std::vector<std::string> argv{path};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string error;
  std::optional<ChildProcess> c = ChildProcess::spawn(argv, {.out = netpoll::testing::Stdio::kPipe}, &error);
  if (!c) fail(error);
  ServerProcess p(std::move(*c));
  std::string line;
  switch (p.child_.read_line(kTimeout, &line)) {
    case ChildProcess::Read::kOk:
      break;
    case ChildProcess::Read::kEof:
      fail(path + " exited before printing \"listening on\" (stdout: \"" + line + "\")");
    case ChildProcess::Read::kTimedOut:
      fail("timed out waiting for the \"listening on\" line");
    case ChildProcess::Read::kFailed:
      fail("reading the stdout of " + path, errno);
  }
  constexpr std::string_view kPrefix = "listening on ";
  if (line.rfind(kPrefix, 0) != 0 || line.size() == kPrefix.size())
    fail(path + ": unexpected first line \"" + line + "\"");
  p.addr_ = line.substr(kPrefix.size());
  return p;
}

int ServerProcess::stop(int sig) {
  if (!child_.running()) fail("stop: the server is not running");
  if (!child_.signal(sig)) fail("kill", errno);
  const int status = child_.wait(kTimeout);
  if (status == netpoll::testing::kTimedOut) fail("the server did not exit after a signal");
  const std::string err = stderr_text();
  if (!err.empty()) std::fprintf(stderr, "--- server stderr ---\n%s--- end ---\n", err.c_str());
  return status;
}

std::string ServerProcess::rest_of_stdout() {
  std::string out;
  switch (child_.read_to_eof(kTimeout, &out)) {
    case ChildProcess::Read::kOk:
    case ChildProcess::Read::kEof:
      return out;
    case ChildProcess::Read::kTimedOut:
      fail("timed out waiting for the server's stdout to end");
    case ChildProcess::Read::kFailed:
      fail("reading the server's stdout", errno);
  }
  return out;
}

Captured run_capture(const std::vector<std::string>& argv) {
  if (argv.empty() || ::access(argv[0].c_str(), X_OK) != 0) fail("cannot run " + (argv.empty() ? "" : argv[0]), errno);
  std::string error;
  std::optional<Captured> c = netpoll::testing::run_captured(argv, {}, kTimeout, &error);
  if (!c) fail(error);
  if (c->status == netpoll::testing::kTimedOut) fail(argv[0] + " did not finish");
  return std::move(*c);
}

}  // namespace netpoll::examples::testing
