// Test helpers that drive an example server as a real separate process: start the binary,
// read its "listening on <addr>" line, talk to it over plain blocking sockets, stop it with a
// signal and collect its exit status; and run a client program (curl) capturing its output.
//
// Processes are started with posix_spawn (fork+exec semantics: a fresh image, so the
// sanitizer runtimes start clean in the child; nothing runs between fork and exec but the
// libc's own file actions). Every wait is bounded (kTimeout) only so that a broken server
// fails a test instead of hanging it; no test asserts a duration.
//
// Infrastructure failures (spawn, pipe, connect) throw std::runtime_error, which doctest
// reports as a failure of the running test case. The socket helpers return values instead,
// so client threads can use them without exceptions.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace netpoll::examples::testing {

inline constexpr std::chrono::seconds kTimeout{30};

// An owned file descriptor.
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept {
    const int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

// A server binary running as a child process. The destructor kills (SIGKILL) and reaps it if
// it is still running, so a failing test leaves no process behind.
class ServerProcess {
 public:
  // Runs `path args...` with stdout on a pipe, stderr into an unlinked temporary file and
  // stdin from /dev/null, and waits for its first line, which must be "listening on <addr>".
  static ServerProcess start(const std::string& path, const std::vector<std::string>& args = {});

  ServerProcess(ServerProcess&& o) noexcept;
  ServerProcess& operator=(ServerProcess&&) = delete;
  ~ServerProcess();

  const std::string& addr() const noexcept { return addr_; }
  pid_t pid() const noexcept { return pid_; }

  // Sends `sig` and waits for the process to exit; returns its wait status. Throws if it has
  // not exited within kTimeout (the destructor then kills it). Copies what the server wrote
  // to stderr into the test's stderr (so sanitizer reports reach the test log).
  int stop(int sig);
  // Everything the server wrote to stderr so far.
  std::string stderr_text() const;
  // Everything the server wrote to stdout after its "listening on" line, up to its exit.
  // Call after stop().
  std::string rest_of_stdout();

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  Fd out_;
  Fd err_;  // the temporary file behind the server's stderr
  std::string addr_;
  std::string pending_;  // bytes read past the first line
};

struct Captured {
  int status = -1;  // wait status
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is a path) to completion with stdin /dev/null, capturing stdout and
// stderr. Throws if it cannot start or does not exit within kTimeout.
Captured run_capture(const std::vector<std::string>& argv);

// "exited with status N" / "killed by signal N": for failure messages.
std::string describe_status(int status);

// A blocking TCP socket connected to `addr` ("1.2.3.4:80" or "[::1]:80"), TCP_NODELAY on,
// with kTimeout send and receive timeouts. An invalid Fd on failure (see errno).
Fd dial(const std::string& addr);
// send() until all of `data` is written; false on error or timeout.
bool send_all(int fd, std::string_view data);
// One recv() of at most `max` bytes appended to `out`: the count, 0 at EOF, -1 on an error or
// timeout.
long recv_once(int fd, std::string& out, std::size_t max = 65536);
// Appends up to `n` bytes from `fd` to `out`; stops early at EOF, an error or a timeout.
// Returns the number of bytes appended.
std::size_t recv_some(int fd, std::size_t n, std::string& out);
// Reads until EOF; `*eof` tells whether EOF (rather than an error or timeout) ended it.
std::string recv_to_eof(int fd, bool* eof);

}  // namespace netpoll::examples::testing
