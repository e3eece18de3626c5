#include "examples/serve.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace netpoll::examples {

namespace {

// The self-pipe's write end, for the handler (-1 until it is made). A lock-free atomic is
// safe to read in a signal handler; a plain int shared with one would not be.
std::atomic<int> g_signal_writer{-1};
static_assert(std::atomic<int>::is_always_lock_free);
// The read end, never closed: the pipe always has a reader, so a signal arriving after the
// server has closed its descriptor (a second SIGTERM during shutdown) is written and ignored
// instead of raising SIGPIPE, whose default action would end the process with a failure.
int g_signal_reader = -1;

// Async-signal-safe: one write(2), errno preserved for the code it interrupted. The write end
// is nonblocking, so with the pipe full (signals nobody read) the byte is dropped: one is
// enough to wake the reader.
void on_termination_signal(int signo) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(signo);
  const ssize_t n = ::write(g_signal_writer.load(std::memory_order_relaxed), &b, 1);
  (void)n;
  errno = saved;
}

bool set_cloexec_nonblock(int fd) noexcept {
  const int fl = ::fcntl(fd, F_GETFL);
  return ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fl >= 0 &&
         ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

// The pipe, then the handler (it must find the write end in place), then the mask. Returns 0
// or an errno value.
int install_termination_pipe() noexcept {
  int p[2];
  if (::pipe(p) != 0) return errno;
  if (!set_cloexec_nonblock(p[0]) || !set_cloexec_nonblock(p[1])) {
    const int err = errno;
    ::close(p[0]);
    ::close(p[1]);
    return err;
  }
  g_signal_reader = p[0];
  g_signal_writer.store(p[1]);
  struct sigaction sa {};
  sa.sa_handler = &on_termination_signal;
  sigemptyset(&sa.sa_mask);
  // Interrupted blocking calls elsewhere (stdio on a pipe) resume instead of failing with
  // EINTR; the pollers treat an interrupted wait as a wake-up either way.
  sa.sa_flags = SA_RESTART;
  if (::sigaction(SIGINT, &sa, nullptr) != 0 || ::sigaction(SIGTERM, &sa, nullptr) != 0)
    return errno;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace

Result<int> termination_pipe() noexcept {
  // Once per process (a thread-safe static): one pipe, one handler.
  static const int setup_error = install_termination_pipe();
  if (setup_error != 0) return errno_code(setup_error);
  // A duplicate shares the open file description, so it is nonblocking too.
  const int fd = ::fcntl(g_signal_reader, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return errno_code(errno);
  return fd;
}

ConnSet::Member::Member(ConnSet& set, net::Socket* sock) noexcept : set_(&set), sock_(sock) {
  next_ = set.head_;
  if (next_) next_->prev_ = this;
  set.head_ = this;
  if (set.closing_) sock_->Close();
}

ConnSet::Member::~Member() {
  if (prev_) prev_->next_ = next_;
  else set_->head_ = next_;
  if (next_) next_->prev_ = prev_;
  // The waiter runs from the Loop's queue, after this coroutine has finished unwinding
  // (its frame, and the Conn in it, are gone by then).
  if (--set_->slots_ == 0 && set_->resume_.h) set_->loop_->schedule(&set_->resume_);
}

void ConnSet::close_all() noexcept {
  closing_ = true;
  for (Member* m = head_; m; m = m->next_) m->sock_->Close();
}

namespace detail {
int wait_for_signal(int pipe_fd) noexcept {
  for (;;) {
    pollfd p{pipe_fd, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0 && errno != EINTR) return 0;
    unsigned char signo = 0;
    const ssize_t n = ::read(pipe_fd, &signo, 1);
    if (n == 1) return signo;
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) return 0;
  }
}
}  // namespace detail

}  // namespace netpoll::examples
