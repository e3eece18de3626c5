// //test:child_process on real children (/bin/sh): each stdio mode, line reading, the bounded
// wait, kill on destruction, the child's CPU, and the messages.
#include "test/child_process.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#if defined(__linux__)
#include <sched.h>
#endif

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>

using netpoll::testing::ChildProcess;
using netpoll::testing::Stdio;

namespace {

constexpr std::chrono::seconds kLong{30};

ChildProcess sh(const std::string& script, netpoll::testing::ChildOptions o = {}) {
  std::string error;
  std::optional<ChildProcess> c = ChildProcess::spawn({"/bin/sh", "-c", script}, o, &error);
  REQUIRE_MESSAGE(c, error);
  return std::move(*c);
}

}  // namespace

TEST_CASE("child_process: captured stdout and stderr, the exit status") {
  ChildProcess c = sh("echo out; echo err >&2; exit 3");
  const int st = c.wait(kLong);
  CHECK(netpoll::testing::describe_status(st) == "exited with status 3");
  CHECK_FALSE(netpoll::testing::exited_zero(st));
  CHECK_FALSE(c.running());
  CHECK(c.out_text() == "out\n");
  CHECK(c.err_text() == "err\n");
}

TEST_CASE("child_process: run_captured") {
  std::string error;
  std::optional<netpoll::testing::Captured> r =
      netpoll::testing::run_captured({"sh", "-c", "printf a; printf b >&2"}, {.search_path = true}, kLong, &error);
  REQUIRE_MESSAGE(r, error);
  CHECK(netpoll::testing::exited_zero(r->status));
  CHECK(r->out == "a");
  CHECK(r->err == "b");
}

TEST_CASE("child_process: stdout on a pipe, read line by line, then to its end") {
  ChildProcess c = sh("printf 'one\\ntwo\\nthree'", {.out = Stdio::kPipe});
  std::string line;
  REQUIRE(c.read_line(kLong, &line) == ChildProcess::Read::kOk);
  CHECK(line == "one");
  REQUIRE(c.read_line(kLong, &line) == ChildProcess::Read::kOk);
  CHECK(line == "two");
  CHECK(c.read_line(kLong, &line) == ChildProcess::Read::kEof);
  CHECK(line == "three");
  std::string rest;
  CHECK(c.read_to_eof(kLong, &rest) == ChildProcess::Read::kOk);
  CHECK(rest == "three");
  CHECK(netpoll::testing::exited_zero(c.wait(kLong)));
}

TEST_CASE("child_process: stdin on a pipe; stdin from /dev/null by default") {
  ChildProcess c = sh("read x; echo got $x; cat", {.in = Stdio::kPipe, .out = Stdio::kPipe});
  std::string line;
  CHECK(c.read_line(std::chrono::milliseconds(100), &line) == ChildProcess::Read::kTimedOut);
  c.close_stdin();
  REQUIRE(c.read_line(kLong, &line) == ChildProcess::Read::kOk);
  CHECK(line == "got");
  CHECK(netpoll::testing::exited_zero(c.wait(kLong)));
  ChildProcess d = sh("cat; echo end");
  CHECK(netpoll::testing::exited_zero(d.wait(kLong)));
  CHECK(d.out_text() == "end\n");
}

TEST_CASE("child_process: a wait that times out kills and reaps the child") {
  ChildProcess c = sh("exec sleep 60");
  const pid_t pid = c.pid();
  CHECK(c.wait(std::chrono::milliseconds(50)) == netpoll::testing::kTimedOut);
  CHECK_FALSE(c.running());
  CHECK(::waitpid(pid, nullptr, WNOHANG) == -1);  // already reaped
  CHECK(netpoll::testing::describe_status(netpoll::testing::kTimedOut) == "timed out (killed)");
}

TEST_CASE("child_process: the destructor kills and reaps a running child") {
  pid_t pid;
  {
    ChildProcess c = sh("exec sleep 60");
    pid = c.pid();
  }
  CHECK(::waitpid(pid, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("child_process: a signal, and its description") {
  ChildProcess c = sh("exec sleep 60");
  REQUIRE(c.signal(SIGTERM));
  const int st = c.wait(kLong);
  CHECK(WIFSIGNALED(st));
  CHECK(netpoll::testing::describe_status(st).starts_with("killed by signal 15 ("));
  CHECK_FALSE(c.signal(SIGTERM));
}

TEST_CASE("child_process: a program that cannot start") {
  std::string error;
  CHECK_FALSE(ChildProcess::spawn({"/nonexistent/prog"}, {}, &error));
  CHECK(error == "posix_spawn /nonexistent/prog: No such file or directory");
  CHECK_FALSE(ChildProcess::spawn({"no-such-program-here"}, {.search_path = true}, &error));
  CHECK(error == "posix_spawnp no-such-program-here: No such file or directory");
  CHECK_FALSE(netpoll::testing::on_path("no-such-program-here"));
  CHECK(netpoll::testing::on_path("sh"));
}

#if defined(__linux__)
TEST_CASE("child_process: the child's CPU; the parent's affinity is restored") {
  cpu_set_t before;
  REQUIRE(::sched_getaffinity(0, sizeof before, &before) == 0);
  int cpu = -1;
  for (int i = 0; i < CPU_SETSIZE && cpu < 0; ++i)
    if (CPU_ISSET(i, &before)) cpu = i;
  REQUIRE(cpu >= 0);
  ChildProcess c = sh("grep Cpus_allowed_list /proc/self/status", {.cpu = cpu});
  CHECK(netpoll::testing::exited_zero(c.wait(kLong)));
  CHECK(c.out_text() == "Cpus_allowed_list:\t" + std::to_string(cpu) + "\n");
  cpu_set_t after;
  REQUIRE(::sched_getaffinity(0, sizeof after, &after) == 0);
  CHECK(CPU_EQUAL(&before, &after));
}
#endif
