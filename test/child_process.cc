#include "test/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__)
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#endif

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <utility>

#include "test/posix_fd.h"

extern char** environ;

namespace netpoll::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_message(const std::string& what, int err) { return what + ": " + std::strerror(err); }

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// An unlinked file for a child's captured output: a memfd on Linux, else a temporary file in
// $TEST_TMPDIR (or /tmp), unlinked at once.
Fd capture_file(const char* name) {
#if defined(__linux__)
  return Fd(::memfd_create(name, MFD_CLOEXEC));
#else
  const char* tmpdir = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/" + name + ".XXXXXX";
  Fd f(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (f.get() >= 0) ::unlink(tmpl.c_str());
  return f;
#endif
}

std::string read_whole(int fd) {
  std::string text;
  if (fd < 0) return text;
  char buf[8192];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return text;
}

// Close-on-exec, so only the child a pipe is meant for gets its end (through a dup2 file
// action). pipe_cloexec is pipe then fcntl (macOS has no pipe2): a spawn on another thread in
// between would leak both ends into that child. Every user (the tests, the benchmark drivers)
// spawns from one thread, so that never happens.
bool make_pipe(Fd* r, Fd* w) {
  int p[2];
  if (pipe_cloexec(p) != 0) return false;
  *r = Fd(p[0]);
  *w = Fd(p[1]);
  return true;
}

// Switches the calling thread's CPU affinity to one CPU for the lifetime of the object (the
// child of a spawn in between inherits it), restoring the previous one after.
class AffinityScope {
 public:
  explicit AffinityScope(int cpu) {
#if defined(__linux__)
    if (cpu < 0 || ::sched_getaffinity(0, sizeof saved_, &saved_) != 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    active_ = ::sched_setaffinity(0, sizeof one, &one) == 0;
#else
    (void)cpu;
#endif
  }
  AffinityScope(const AffinityScope&) = delete;
  AffinityScope& operator=(const AffinityScope&) = delete;
  ~AffinityScope() {
#if defined(__linux__)
    if (active_) ::sched_setaffinity(0, sizeof saved_, &saved_);
#endif
  }

 private:
#if defined(__linux__)
  cpu_set_t saved_;
  bool active_ = false;
#endif
};

}  // namespace

std::string describe_status(int status) {
  if (status == kTimedOut) return "timed out (killed)";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  return "wait status " + std::to_string(status);
}

bool exited_zero(int status) noexcept { return status != kTimedOut && WIFEXITED(status) && WEXITSTATUS(status) == 0; }

bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(ss, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

// --- ChildProcess ------------------------------------------------------------------------------

bool ChildProcess::write_stdin(const std::string& data) noexcept {
  if (in_.get() < 0) {
    errno = EBADF;
    return false;
  }
  // SIGPIPE blocked around the write, and one it raised taken before unblocking: a child
  // that went away is an EPIPE here, not the end of this process.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  std::size_t done = 0;
  int err = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(in_.get(), data.data() + done, data.size() - done);
    if (w > 0) done += static_cast<std::size_t>(w);
    else if (w < 0 && errno != EINTR) {
      err = errno;
      break;
    }
  }
  sigset_t pending;
  if (err == EPIPE && !sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
    int sig;
    (void)sigwait(&pipe_set, &sig);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return err == 0;
}

std::optional<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv, const ChildOptions& o,
                                                std::string* error) {
  if (argv.empty()) {
    *error = "spawn: no program given";
    return std::nullopt;
  }
  const std::string& prog = argv[0];
#if !defined(__linux__)
  if (o.cpu >= 0) {
    *error = "spawn " + prog + ": a CPU for the child is supported on Linux only";
    return std::nullopt;
  }
#endif
  ChildProcess c;
  c.name_ = prog;
  Fd in_r, out_w, err_w;  // the child's ends
  if (o.in == Stdio::kCapture || o.err == Stdio::kPipe) {
    *error = "spawn " + prog + ": stdin cannot be captured, nor stderr a pipe";
    return std::nullopt;
  }
  if (o.in == Stdio::kPipe && !make_pipe(&in_r, &c.in_)) {
    *error = errno_message("pipe for the stdin of " + prog, errno);
    return std::nullopt;
  }
  if (o.out == Stdio::kPipe) {
    if (!make_pipe(&c.out_, &out_w)) {
      *error = errno_message("pipe for the stdout of " + prog, errno);
      return std::nullopt;
    }
    c.out_is_pipe_ = true;
  } else if (o.out == Stdio::kCapture) {
    c.out_ = capture_file("stdout");
    if (c.out_.get() < 0) {
      *error = errno_message("a file for the stdout of " + prog, errno);
      return std::nullopt;
    }
  }
  if (o.err == Stdio::kCapture) {
    c.err_ = capture_file("stderr");
    if (c.err_.get() < 0) {
      *error = errno_message("a file for the stderr of " + prog, errno);
      return std::nullopt;
    }
  }

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (o.in == Stdio::kDevNull) posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (o.in == Stdio::kPipe) posix_spawn_file_actions_adddup2(&fa, in_r.get(), STDIN_FILENO);
  if (o.out == Stdio::kDevNull) posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  if (o.err == Stdio::kDevNull) posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  if (o.out == Stdio::kPipe) posix_spawn_file_actions_adddup2(&fa, out_w.get(), STDOUT_FILENO);
  if (o.out == Stdio::kCapture) posix_spawn_file_actions_adddup2(&fa, c.out_.get(), STDOUT_FILENO);
  if (o.err == Stdio::kCapture) posix_spawn_file_actions_adddup2(&fa, c.err_.get(), STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t deflt;
  sigemptyset(&deflt);
  for (int s : {SIGTERM, SIGINT, SIGPIPE, SIGHUP}) sigaddset(&deflt, s);
  posix_spawnattr_setsigdefault(&attr, &deflt);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc;
  {
    AffinityScope pin(o.cpu);
    rc = o.search_path ? ::posix_spawnp(&c.pid_, args[0], &fa, &attr, args.data(), environ)
                       : ::posix_spawn(&c.pid_, args[0], &fa, &attr, args.data(), environ);
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    c.pid_ = -1;
    *error = errno_message((o.search_path ? "posix_spawnp " : "posix_spawn ") + prog, rc);
    return std::nullopt;
  }
  // in_r and out_w close here: the child holds the only other ends, so EOF on its stdout
  // means it closed it (normally: exited).
  return c;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      name_(std::move(o.name_)),
      in_(std::move(o.in_)),
      out_(std::move(o.out_)),
      err_(std::move(o.err_)),
      out_is_pipe_(o.out_is_pipe_),
      pending_(std::move(o.pending_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    name_ = std::move(o.name_);
    in_ = std::move(o.in_);
    out_ = std::move(o.out_);
    err_ = std::move(o.err_);
    out_is_pipe_ = o.out_is_pipe_;
    pending_ = std::move(o.pending_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { kill_and_reap(); }

void ChildProcess::kill_and_reap() noexcept {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

bool ChildProcess::signal(int sig) noexcept {
  if (pid_ <= 0) {
    errno = ESRCH;
    return false;
  }
  return ::kill(pid_, sig) == 0;
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return kTimedOut;
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  bool exited = false;
#if defined(SYS_pidfd_open)
  // Blocks in poll() on a pidfd; without pidfd_open (Linux < 5.3) it polls waitpid below.
  if (const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)); pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int r;
    do r = ::poll(&p, 1, ms_left(deadline));
    while (r < 0 && errno == EINTR);
    // Closed the way it was made, by the raw system call. TSan tracks descriptors through the
    // libc wrappers only: libuv (benchmarks) closes its epoll descriptor with a raw close too,
    // so when the pidfd reuses that number a libc close() here looks to TSan like a race with
    // libuv's last epoll_wait on it (seen in idle_bench_smoke under TSan).
    ::syscall(SYS_close, pidfd);
    if (r > 0) {
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      exited = true;
    }
  } else
#endif
  {
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited = true;
        break;
      }
      if ((r < 0 && errno != EINTR) || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  if (!exited) {
    kill_and_reap();
    return kTimedOut;
  }
  pid_ = -1;
  return status;
}

ChildProcess::Read ChildProcess::read_some(Clock::time_point deadline) {
  if (!out_is_pipe_ || out_.get() < 0) {
    errno = EBADF;
    return Read::kFailed;
  }
  pollfd p{out_.get(), POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, ms_left(deadline));
  while (r < 0 && errno == EINTR);
  if (r < 0) return Read::kFailed;
  if (r == 0) return Read::kTimedOut;
  char buf[4096];
  ssize_t n;
  do n = ::read(out_.get(), buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Read::kFailed;
  if (n == 0) return Read::kEof;
  pending_.append(buf, static_cast<std::size_t>(n));
  return Read::kOk;
}

ChildProcess::Read ChildProcess::read_line(std::chrono::milliseconds timeout, std::string* line) {
  const auto deadline = Clock::now() + timeout;
  std::size_t nl;
  while ((nl = pending_.find('\n')) == std::string::npos) {
    if (const Read r = read_some(deadline); r != Read::kOk) {
      *line = pending_;
      return r;
    }
  }
  *line = pending_.substr(0, nl);
  pending_.erase(0, nl + 1);
  return Read::kOk;
}

ChildProcess::Read ChildProcess::read_to_eof(std::chrono::milliseconds timeout, std::string* out) {
  const auto deadline = Clock::now() + timeout;
  Read r;
  while ((r = read_some(deadline)) == Read::kOk) {
  }
  *out += pending_;
  pending_.clear();
  return r == Read::kEof ? Read::kOk : r;
}

std::string ChildProcess::out_text() const { return out_is_pipe_ ? std::string() : read_whole(out_.get()); }
std::string ChildProcess::err_text() const { return read_whole(err_.get()); }

// --- run_captured --------------------------------------------------------------------------------

std::optional<Captured> run_captured(const std::vector<std::string>& argv, ChildOptions options,
                                     std::chrono::milliseconds timeout, std::string* error) {
  options.out = Stdio::kCapture;
  options.err = Stdio::kCapture;
  std::optional<ChildProcess> c = ChildProcess::spawn(argv, options, error);
  if (!c) return std::nullopt;
  Captured r;
  r.status = c->wait(timeout);
  r.out = c->out_text();
  r.err = c->err_text();
  return r;
}

}  // namespace netpoll::testing
