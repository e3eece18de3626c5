#include "netpoll/backends/kqueue/kqueue_poller.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "netpoll/backends/common/wait_deadline.h"

namespace netpoll {
namespace {

constexpr timespec kPoll{0, 0};
// kevent(2) BUGS (FreeBSD): "The timeout value is limited to 24 hours; longer timeouts will be
// silently reinterpreted as 24 hours."
constexpr std::int64_t kMaxKeventWaitNs = 24LL * 3600 * 1000000000;
// EVFILT_USER idents are their own namespace, not descriptors; the wake kevent is the only one.
constexpr uintptr_t kWakeIdent = 0;

// The sequenced token is 64 bits and must survive the round trip whole (docs/architecture.md:
// every backend drops stale events by sequence; Go leaves 32-bit kqueue unprotected). udata
// holds it where pointers are 64-bit: every macOS (whose struct kevent has no ext[]) and 64-bit
// FreeBSD. With 32-bit pointers it rides in ext[2], which FreeBSD 12+ "always passes through
// the kernel as-is" (kevent(2)); the userspace double does the same, and the 32-bit Linux
// build (tools/test, musl_x86) runs this branch over it.
#if UINTPTR_MAX >= UINT64_MAX
void set_change(struct kevent* ev, uintptr_t ident, short filter, unsigned short flags,
                unsigned int fflags, std::uint64_t token) {
  EV_SET(ev, ident, filter, flags, fflags, 0, reinterpret_cast<void*>(static_cast<uintptr_t>(token)));
}
std::uint64_t token_of(const struct kevent& ev) {
  return static_cast<std::uint64_t>(reinterpret_cast<uintptr_t>(ev.udata));
}
#else
void set_change(struct kevent* ev, uintptr_t ident, short filter, unsigned short flags,
                unsigned int fflags, std::uint64_t token) {
  EV_SET(ev, ident, filter, flags, fflags, 0, nullptr);  // also zeroes ext[]
  ev->ext[2] = token;
}
std::uint64_t token_of(const struct kevent& ev) { return ev.ext[2]; }
#endif

// See the event table in kqueue_poller.h.
std::uint32_t to_flags(const struct kevent& ev) noexcept {
  if (ev.flags & EV_ERROR) return Event::kError;
  const bool eof = (ev.flags & EV_EOF) != 0;
  std::uint32_t f = 0;
  if (ev.filter == EVFILT_READ) {
    f = Event::kReadable;
    if (eof) f |= Event::kReadHangup | Event::kWritable;
  } else if (ev.filter == EVFILT_WRITE) {
    f = Event::kWritable;
    if (eof) f |= Event::kHangup;
  }
  if (eof && ev.fflags != 0) f |= Event::kError;
  return f;
}

// A per-change error from kevent(): the kernel refusing to poll this kind of descriptor, or
// the OS errno.
std::error_code change_error(int err) noexcept {
  // EINVAL: "the specified ... filter is invalid" for this descriptor.
  if (err == EINVAL) return Errc::not_pollable;
  return errno_code(err);
}

}  // namespace

KqueuePoller::KqueuePoller() {
  kq_ = kqueue();
  if (kq_ < 0) fail("kqueue", errno);
  if (fcntl(kq_, F_SETFD, FD_CLOEXEC) != 0) fail("fcntl(kqueue, FD_CLOEXEC)", errno);
  setup_wake();
}

KqueuePoller::~KqueuePoller() { close_all(); }

void KqueuePoller::close_all() noexcept {
  // close() is never retried: the descriptor is released even when it reports EINTR.
  for (int& fd : wake_pipe_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (kq_ >= 0) kqueue_sys::close_kqueue(kq_);
  kq_ = -1;
}

void KqueuePoller::fail(const char* call, int err) {
  close_all();
  throw std::system_error(err, std::generic_category(), call);
}

void KqueuePoller::setup_wake() {
  struct kevent ch;
  int err = 0;
#ifdef EVFILT_USER
  set_change(&ch, kWakeIdent, EVFILT_USER, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, Token::kReserved);
  if (int call_err = change(&ch, 1, &err)) fail("kevent(EVFILT_USER)", call_err);
  if (err == 0) return;
  // EINVAL: headers newer than the kernel, which does not know the filter. Use the pipe.
  if (err != EINVAL) fail("kevent(EVFILT_USER)", err);
#endif
  if (pipe(wake_pipe_) != 0) fail("pipe", errno);
  for (int fd : wake_pipe_)
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
      fail("fcntl(wake pipe)", errno);
  set_change(&ch, static_cast<uintptr_t>(wake_pipe_[0]), EVFILT_READ, EV_ADD | EV_CLEAR | EV_RECEIPT, 0,
             Token::kReserved);
  if (int call_err = change(&ch, 1, &err)) fail("kevent(wake pipe)", call_err);
  if (err != 0) fail("kevent(wake pipe)", err);
}

// Applies `n` (at most 2) changes that carry EV_RECEIPT, without draining any event; errors[i]
// is the error of changes[i] (0: applied). Returns the errno of the call itself, 0 if it ran.
int KqueuePoller::change(struct kevent* changes, int n, int* errors) noexcept {
  struct kevent receipts[2];
  for (int i = 0; i < n; ++i) errors[i] = 0;
  const int got = kevent(kq_, changes, n, receipts, n, &kPoll);
  if (got < 0) return errno;
  for (int r = 0; r < got; ++r)
    for (int i = 0; i < n; ++i)
      if (receipts[r].filter == changes[i].filter && (receipts[r].flags & EV_ERROR))
        errors[i] = static_cast<int>(receipts[r].data);
  return 0;
}

// Undoes half of a registration that failed on its other half.
void KqueuePoller::drop_filter(int fd, short filter) noexcept {
  struct kevent ch;
  int err = 0;
  EV_SET(&ch, static_cast<uintptr_t>(fd), filter, EV_DELETE | EV_RECEIPT, 0, 0, nullptr);
  (void)change(&ch, 1, &err);  // nothing more to do if even this fails
}

std::error_code KqueuePoller::register_handle(int fd, Token token) noexcept {
  if (token.value == Token::kReserved) return Errc::invalid_argument;
  if (fd < 0) return errno_code(EBADF);
  if (fd == kq_) return Errc::invalid_argument;
  if (fd == wake_pipe_[0] || fd == wake_pipe_[1]) return Errc::already_registered;
  const auto ident = static_cast<uintptr_t>(fd);
  struct kevent ch[2];
  int err[2];
  // The probe (see the header): EV_ENABLE on a kevent that does not exist fails with ENOENT.
  EV_SET(&ch[0], ident, EVFILT_READ, EV_ENABLE | EV_RECEIPT, 0, 0, nullptr);
  if (int call_err = change(ch, 1, err)) return errno_code(call_err);
  if (err[0] == 0) return Errc::already_registered;
  if (err[0] != ENOENT) return change_error(err[0]);  // EBADF: not an open descriptor
  set_change(&ch[0], ident, EVFILT_READ, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, token.value);
  set_change(&ch[1], ident, EVFILT_WRITE, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, token.value);
  if (int call_err = change(ch, 2, err)) return errno_code(call_err);
  if (err[0] != 0) {
    if (err[1] == 0) drop_filter(fd, EVFILT_WRITE);
    return change_error(err[0]);
  }
  // EPIPE is benign: a pipe or socket whose reader is already gone refuses the write filter
  // (FreeBSD's pipe_kqfilter, macOS: tokio-rs/mio#582), and its read filter reports EV_EOF,
  // which wakes the writer too. EINVAL: a regular file or directory ("not supported for
  // vnodes"), whose read filter alone would report it ready forever: refuse it, as epoll does
  // and as Go's os package does on the BSDs (golang/go#19093).
  if (err[1] != 0 && err[1] != EPIPE) {
    drop_filter(fd, EVFILT_READ);
    return change_error(err[1]);
  }
  PollerCounters::bump(counters_.registrations);
  return {};
}

std::error_code KqueuePoller::deregister_handle(int fd) noexcept {
  if (fd < 0) return errno_code(EBADF);
  // Never our own wake pipe because a stale descriptor number matches it: wakes would be lost.
  if (fd == kq_ || fd == wake_pipe_[0] || fd == wake_pipe_[1]) return Errc::not_registered;
  const auto ident = static_cast<uintptr_t>(fd);
  struct kevent ch[2];
  int err[2];
  EV_SET(&ch[0], ident, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, nullptr);
  EV_SET(&ch[1], ident, EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, nullptr);
  if (int call_err = change(ch, 2, err)) return errno_code(call_err);
  if (err[0] == ENOENT && err[1] == ENOENT) return Errc::not_registered;
  // ENOENT for one filter alone is benign: the write filter refused with EPIPE at registration
  // was never added. EBADF: already closed (the kernel dropped its kevents with it).
  for (int e : err)
    if (e != 0 && e != ENOENT) return errno_code(e);
  PollerCounters::bump(counters_.deregistrations);
  return {};
}

// Copies the kernel's batch into `out`, consuming the wake event; sets *woken if it was there.
inline std::size_t KqueuePoller::translate(std::span<Event> out, int n, bool* woken) noexcept {
  std::size_t k = 0;
  for (int i = 0; i < n; ++i) {
    const struct kevent& ev = kernel_events_[static_cast<std::size_t>(i)];
    const std::uint64_t token = token_of(ev);
    if (token == Token::kReserved) {
      counters_.wakeups.add();
      wake_flag_.consume();
      *woken = true;
      continue;
    }
    out[k].token = Token{token};
    out[k].flags = to_flags(ev);
    out[k].result = 0;
    ++k;
  }
  return k;
}

std::size_t KqueuePoller::wait_failed() noexcept {
  if (errno == EINTR) return 0;  // a signal: let the caller recompute
  fatal_syscall("kevent", errno);  // EBADF/EFAULT/EINVAL on our own kqueue
}

Result<std::size_t> KqueuePoller::wait(std::span<Event> out, Timeout timeout) noexcept {
  if (out.empty()) return Errc::invalid_argument;
  const int max = static_cast<int>(std::min(out.size(), kMaxBatch));
  const WaitDeadline deadline(timeout);
  for (;;) {
    timespec ts;
    const timespec* tp = nullptr;  // NULL: wait indefinitely
    if (!timeout.is_infinite()) {
      const std::int64_t ns = std::min(timeout.nanoseconds(), kMaxKeventWaitNs);
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      tp = &ts;
    }
    counters_.waits.add();
    const int n = kevent(kq_, nullptr, 0, kernel_events_.data(), max, tp);
    if (n < 0) return wait_failed();
    bool woken = false;
    const std::size_t k = translate(out, n, &woken);
    // Zero timeouts end here too: WaitDeadline has nothing left to wait for.
    if (k != 0 || woken || !deadline.more(&timeout)) return k;
  }
}

void KqueuePoller::drain_wake_pipe() noexcept {
  char buf[256];
  while (read(wake_pipe_[0], buf, sizeof buf) > 0) {
  }
  PollerCounters::bump(counters_.wake_drains);
}

void KqueuePoller::wake() noexcept {
  if (!wake_flag_.claim()) return;
  if (wake_pipe_[1] < 0) {
#ifdef EVFILT_USER
    struct kevent ch;
    set_change(&ch, kWakeIdent, EVFILT_USER, 0, NOTE_TRIGGER, Token::kReserved);
    // EINTR: "all changes in the changelist have been applied", so the trigger happened.
    if (kevent(kq_, &ch, 1, nullptr, 0, nullptr) < 0 && errno != EINTR)
      fatal_syscall("kevent(NOTE_TRIGGER)", errno);
#endif
  } else {
    const char one = 1;
    for (;;) {
      if (write(wake_pipe_[1], &one, 1) == 1) break;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) fatal_syscall("write(wake pipe)", errno);
      // Full after ~64K unconsumed bytes (the waiter never reads them): empty it and write
      // again; the write is the new edge the waiter needs.
      drain_wake_pipe();
    }
  }
  PollerCounters::bump(counters_.wake_signals);
}

}  // namespace netpoll
