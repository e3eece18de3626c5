// One child-process helper for every test and benchmark that runs another program: start it
// with posix_spawn, give it stdin / stdout / stderr as asked, read its stdout live or its
// captured output afterwards, wait for it with a bound, and never leave it running.
//
// posix_spawn has fork+exec semantics (a fresh image, so sanitizer runtimes start clean in the
// child; nothing runs between fork and exec but the libc's file actions). The child starts with
// an empty signal mask and default dispositions for SIGTERM, SIGINT, SIGPIPE and SIGHUP, so
// nothing the parent blocked or ignored leaks into it.
//
// Nothing here throws or ends the process: a failure comes back as false / std::nullopt with
// a message (what failed, the program, strerror), for the caller to report its own way.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "test/fd.h"

namespace netpoll::testing {

// What the child's standard descriptors are.
enum class Stdio {
  kDevNull,  // /dev/null
  kInherit,  // this process's own
  kPipe,     // stdin: a pipe this side writes (close_stdin); stdout: a pipe read with read_line
  kCapture,  // stdout / stderr: an unlinked file (a memfd on Linux), read with out_text /
             // err_text: nobody has to drain it while the child runs, however much it writes
};

struct ChildOptions {
  Stdio in = Stdio::kDevNull;  // not kCapture
  Stdio out = Stdio::kCapture;
  Stdio err = Stdio::kCapture;  // not kPipe
  bool search_path = false;     // argv[0] looked up on PATH (posix_spawnp)
  // >= 0: the child starts pinned to this CPU. The affinity of the spawning thread is what a
  // child inherits, so it is switched to `cpu` around the spawn and then restored (best
  // effort, as a machine with fewer CPUs still runs: an affinity that cannot be set is left
  // as it was). Linux only; elsewhere the spawn fails.
  int cpu = -1;
};

// The wait status wait() returns when the child did not exit in time (it has been killed and
// reaped).
inline constexpr int kTimedOut = -1;

// "exited with status N", "killed by signal N (Name)", "timed out (killed)": for messages.
std::string describe_status(int status);
// True for a wait status of a normal exit with status 0.
bool exited_zero(int status) noexcept;
// Whether `name` is an executable in a directory of $PATH.
bool on_path(const std::string& name);

class ChildProcess {
 public:
  // Starts `argv` (argv[0] the program). std::nullopt and `*error` set if it cannot.
  static std::optional<ChildProcess> spawn(const std::vector<std::string>& argv, const ChildOptions& options,
                                           std::string* error);

  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;  // the child held before is killed
  // A child still running is killed (SIGKILL) and reaped: a failing run leaves none behind.
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }
  const std::string& name() const noexcept { return name_; }

  // kill(2); false (errno set) if it failed or the child was already reaped.
  bool signal(int sig) noexcept;
  // Waits up to `timeout` for the child to exit and returns its wait status; on timeout it is
  // killed and reaped and the result is kTimedOut. Also kTimedOut if it was already reaped.
  int wait(std::chrono::milliseconds timeout);

  // Stdio::kPipe stdin: closes this side's write end, so the child reads end of file.
  void close_stdin() noexcept { in_.reset(); }
  // Stdio::kPipe stdin: writes all of `data` (blocking). False (errno set) if it cannot, e.g.
  // EPIPE once the child has closed its stdin or exited; never raises SIGPIPE.
  bool write_stdin(const std::string& data) noexcept;

  // Stdio::kPipe stdout. How a read ended: a whole line, the end of the stream (the child
  // closed its stdout: normally it exited), or the timeout; kFailed also for a read error
  // (errno set) or a stdout that is not a pipe.
  enum class Read { kOk, kEof, kTimedOut, kFailed };
  // The next line, without its '\n', into `*line`; on any other result `*line` holds what was
  // read of it. Bytes read past the line are kept for the next call.
  Read read_line(std::chrono::milliseconds timeout, std::string* line);
  // Everything up to the end of the stream (kOk), appended to `*out`.
  Read read_to_eof(std::chrono::milliseconds timeout, std::string* out);

  // Stdio::kCapture: everything written to stdout / stderr so far ("" otherwise).
  std::string out_text() const;
  std::string err_text() const;

 private:
  ChildProcess() = default;
  Read read_some(std::chrono::steady_clock::time_point deadline);
  void kill_and_reap() noexcept;

  pid_t pid_ = -1;
  std::string name_;
  Fd in_;       // the write end of its stdin pipe
  Fd out_;      // the read end of its stdout pipe, or its captured stdout
  Fd err_;      // its captured stderr
  bool out_is_pipe_ = false;
  std::string pending_;  // stdout bytes read past the last line
};

// A finished run: its wait status (kTimedOut if it was killed for running too long) and
// what it wrote.
struct Captured {
  int status = kTimedOut;
  std::string out;
  std::string err;
};

// Runs `argv` to its exit with stdout and stderr captured (options.out and options.err are
// overridden), bounded by `timeout`. std::nullopt and `*error` set if it cannot start.
std::optional<Captured> run_captured(const std::vector<std::string>& argv, ChildOptions options,
                                     std::chrono::milliseconds timeout, std::string* error);

}  // namespace netpoll::testing
