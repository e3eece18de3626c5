#include "examples/test_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace netpoll::examples::testing {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what, int err = 0) {
  throw std::runtime_error(err ? what + ": " + std::strerror(err) : what);
}

int ms_left(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

void make_pipe(Fd* r, Fd* w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail("pipe2", errno);
  *r = Fd(p[0]);
  *w = Fd(p[1]);
}

// posix_spawn with stdin from /dev/null, stdout / stderr onto the given descriptors (-1:
// inherited), an empty signal mask and default dispositions for the signals tests send, so
// nothing the test process blocked or ignored leaks into the child.
pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  if (err_fd >= 0) posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
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
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) fail("posix_spawn " + argv[0], rc);
  return pid;
}

// Waits for `pid` to exit until `deadline`; true and its status if it did. Blocks in poll()
// on a pidfd; without pidfd_open (Linux < 5.3) it falls back to polling waitpid.
bool wait_exit(pid_t pid, Clock::time_point deadline, int* status) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int r;
    do r = ::poll(&p, 1, ms_left(deadline));
    while (r < 0 && errno == EINTR);
    ::close(pidfd);
    if (r == 0) return false;
    while (::waitpid(pid, status, 0) < 0)
      if (errno != EINTR) fail("waitpid", errno);
    return true;
  }
  for (;;) {
    const pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) fail("waitpid", errno);
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// One read from `fd` into `out` within `deadline`: false at EOF; throws on timeout.
bool read_chunk(int fd, Clock::time_point deadline, std::string& out, const char* what) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, ms_left(deadline));
  while (r < 0 && errno == EINTR);
  if (r < 0) fail("poll", errno);
  if (r == 0) fail(std::string("timed out waiting for ") + what);
  char buf[4096];
  ssize_t n;
  do n = ::read(fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0) fail("read", errno);
  out.append(buf, static_cast<std::size_t>(n));
  return n > 0;
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void Fd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// --- ServerProcess ---------------------------------------------------------------------------

ServerProcess ServerProcess::start(const std::string& path, const std::vector<std::string>& args) {
  if (::access(path.c_str(), X_OK) != 0)
    fail("server binary " + path + " (runfiles path from the cwd)", errno);
  Fd r, w;
  make_pipe(&r, &w);
  std::vector<std::string> argv{path};
  argv.insert(argv.end(), args.begin(), args.end());
  ServerProcess p;
  // A file, not a pipe: nobody has to drain it while the server runs, however much it logs.
  const char* tmpdir = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/server_stderr.XXXXXX";
  p.err_ = Fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (p.err_.get() < 0) fail("mkostemp " + tmpl, errno);
  ::unlink(tmpl.c_str());
  p.pid_ = spawn(argv, w.get(), p.err_.get());
  w.reset();  // the child holds the only write end: EOF on r means it exited
  p.out_ = std::move(r);
  const auto deadline = Clock::now() + kTimeout;
  std::string got;
  std::size_t nl;
  while ((nl = got.find('\n')) == std::string::npos)
    if (!read_chunk(p.out_.get(), deadline, got, "the \"listening on\" line"))
      fail(path + " exited before printing \"listening on\" (stdout: \"" + got + "\")");
  const std::string line = got.substr(0, nl);
  p.pending_ = got.substr(nl + 1);
  constexpr std::string_view kPrefix = "listening on ";
  if (line.rfind(kPrefix, 0) != 0 || line.size() == kPrefix.size())
    fail(path + ": unexpected first line \"" + line + "\"");
  p.addr_ = line.substr(kPrefix.size());
  return p;
}

ServerProcess::ServerProcess(ServerProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      out_(std::move(o.out_)),
      err_(std::move(o.err_)),
      addr_(std::move(o.addr_)),
      pending_(std::move(o.pending_)) {}

ServerProcess::~ServerProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
}

int ServerProcess::stop(int sig) {
  if (pid_ <= 0) fail("stop: the server is not running");
  if (::kill(pid_, sig) != 0) fail("kill", errno);
  int status = 0;
  if (!wait_exit(pid_, Clock::now() + kTimeout, &status))
    fail("the server did not exit after a signal");
  pid_ = -1;
  const std::string err = stderr_text();
  if (!err.empty()) std::fprintf(stderr, "--- server stderr ---\n%s--- end ---\n", err.c_str());
  return status;
}

std::string ServerProcess::stderr_text() const {
  std::string text;
  char buf[4096];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(err_.get(), buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return text;
}

std::string ServerProcess::rest_of_stdout() {
  std::string out = std::move(pending_);
  pending_.clear();
  const auto deadline = Clock::now() + kTimeout;
  while (out_.get() >= 0 && read_chunk(out_.get(), deadline, out, "the server's stdout to end")) {
  }
  out_.reset();
  return out;
}

// --- run_capture -----------------------------------------------------------------------------

Captured run_capture(const std::vector<std::string>& argv) {
  if (argv.empty() || ::access(argv[0].c_str(), X_OK) != 0)
    fail("cannot run " + (argv.empty() ? "" : argv[0]), errno);
  Fd out_r, out_w, err_r, err_w;
  make_pipe(&out_r, &out_w);
  make_pipe(&err_r, &err_w);
  const pid_t pid = spawn(argv, out_w.get(), err_w.get());
  out_w.reset();
  err_w.reset();
  struct Reaper {  // kills the child if a timeout throws
    pid_t pid;
    ~Reaper() {
      if (pid <= 0) return;
      ::kill(pid, SIGKILL);
      int st;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
  } reaper{pid};
  Captured c;
  const auto deadline = Clock::now() + kTimeout;
  // Both pipes are drained together: a child blocked on a full stderr pipe while we wait on
  // stdout would never finish.
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd p[2] = {{out_open ? out_r.get() : -1, POLLIN, 0},
                   {err_open ? err_r.get() : -1, POLLIN, 0}};
    const int r = ::poll(p, 2, ms_left(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("poll", errno);
    if (r == 0) fail(argv[0] + " did not finish");
    if (out_open && p[0].revents) out_open = read_chunk(out_r.get(), deadline, c.out, "output");
    if (err_open && p[1].revents) err_open = read_chunk(err_r.get(), deadline, c.err, "output");
  }
  if (!wait_exit(pid, deadline, &c.status)) fail(argv[0] + " did not exit");
  reaper.pid = -1;
  return c;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// --- sockets ---------------------------------------------------------------------------------

Fd dial(const std::string& addr) {
  const std::size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    errno = EINVAL;
    return Fd();
  }
  std::string host = addr.substr(0, colon);
  const int port = std::atoi(addr.c_str() + colon + 1);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (host.size() >= 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) {
      errno = EINVAL;
      return Fd();
    }
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) {
      errno = EINVAL;
      return Fd();
    }
    len = sizeof *a;
  }
  Fd s(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return Fd();
  const timeval tv{static_cast<time_t>(kTimeout.count()), 0};
  const int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int r;
  do r = ::connect(s.get(), reinterpret_cast<sockaddr*>(&ss), len);
  while (r < 0 && errno == EINTR);
  if (r != 0) return Fd();
  return s;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long recv_once(int fd, std::string& out, std::size_t max) {
  const std::size_t at = out.size();
  out.resize(at + max);
  ssize_t r;
  do r = ::recv(fd, out.data() + at, max, 0);
  while (r < 0 && errno == EINTR);
  out.resize(at + (r > 0 ? static_cast<std::size_t>(r) : 0));
  return r < 0 ? -1 : static_cast<long>(r);
}

std::size_t recv_some(int fd, std::size_t n, std::string& out) {
  std::size_t got = 0;
  char buf[16384];
  while (got < n) {
    const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - got), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
    got += static_cast<std::size_t>(r);
  }
  return got;
}

std::string recv_to_eof(int fd, bool* eof) {
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      *eof = r == 0;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(r));
  }
}

}  // namespace netpoll::examples::testing
