#include "netpoll/backends/epoll/epoll_poller.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "netpoll/backends/common/wait_deadline.h"
#include "netpoll/backends/epoll/epoll_pwait2.h"

namespace netpoll {
namespace {

constexpr std::uint32_t kRegisterMask = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

// epoll_wait takes an int of milliseconds; INT32_MAX ms is ~24.8 days. Longer finite timeouts
// (only on kernels without epoll_pwait2) are waited out in pieces, so the caller still never
// sees an early return.
constexpr std::int64_t kMaxEpollWaitMs = 0x7fffffff;

std::uint32_t to_flags(std::uint32_t ev) noexcept {
  std::uint32_t f = 0;
  if (ev & EPOLLIN) f |= Event::kReadable;
  if (ev & EPOLLOUT) f |= Event::kWritable;
  if (ev & EPOLLRDHUP) f |= Event::kReadHangup;
  if (ev & EPOLLHUP) f |= Event::kHangup;
  if (ev & EPOLLERR) f |= Event::kError;
  return f;
}


}  // namespace

EpollPoller::EpollPoller() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakefd_ < 0) {
    int err = errno;
    close(epfd_);
    throw std::system_error(err, std::generic_category(), "eventfd");
  }
  // Edge-triggered: every write to an eventfd wakes its waiters, so each wake() that writes is
  // a new edge even while the counter is non-zero. The counter is therefore never drained on
  // the wait path (one syscall per wake saved, as mio does); it would only need a reset after
  // 2^64-2 wakes, when write() returns EAGAIN (see wake()).
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = Token::kReserved;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) != 0) {
    int err = errno;
    close(wakefd_);
    close(epfd_);
    throw std::system_error(err, std::generic_category(), "epoll_ctl(ADD eventfd)");
  }
}

EpollPoller::~EpollPoller() {
  // close() is never retried: on Linux the fd is released even when close reports EINTR.
  close(wakefd_);
  close(epfd_);
}

std::error_code EpollPoller::register_handle(int fd, Token token) noexcept {
  if (token.value == Token::kReserved) return Errc::invalid_argument;
  if (fd < 0) return errno_code(EBADF);
  if (fd == epfd_) return Errc::invalid_argument;
  if (fd == wakefd_) return Errc::already_registered;  // a stale number that is now ours
  epoll_event ev{};
  ev.events = kRegisterMask;
  ev.data.u64 = token.value;
  if (epoll_ctl_fn(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    switch (errno) {
      case EEXIST: return Errc::already_registered;
      case EPERM: return Errc::not_pollable;  // regular files and directories
      default: return errno_code(errno);  // EBADF, ENOMEM, ENOSPC (max_user_watches), ELOOP
    }
  }
  PollerCounters::bump(counters_.registrations);
  return {};
}

std::error_code EpollPoller::deregister_handle(int fd) noexcept {
  if (fd < 0) return errno_code(EBADF);
  // Never remove our own wake eventfd because a stale descriptor number matches it: every later
  // wake() would be lost.
  if (fd == epfd_ || fd == wakefd_) return Errc::not_registered;
  // Linux < 2.6.9 required a non-null event pointer for DEL; pass one to be safe.
  epoll_event ev{};
  if (epoll_ctl_fn(epfd_, EPOLL_CTL_DEL, fd, &ev) != 0) {
    if (errno == ENOENT) return Errc::not_registered;
    return errno_code(errno);  // EBADF: already closed (the kernel dropped it with the file)
  }
  PollerCounters::bump(counters_.deregistrations);
  return {};
}

int EpollPoller::blocking_syscall(int max, Timeout timeout) noexcept {
  counters_.waits.add();
  if (timeout.is_infinite()) return epoll_wait(epfd_, kernel_events_.data(), max, -1);
  if (have_pwait2_) {
    timespec ts;
    ts.tv_sec = static_cast<time_t>(timeout.nanoseconds() / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout.nanoseconds() % 1000000000);
    const int n = epoll_sys::pwait2(epfd_, kernel_events_.data(), max, &ts);
    // ENOSYS: kernel < 5.11. EPERM: a seccomp filter that does not know the syscall (Docker's
    // older default profile, systemd SystemCallFilter); epoll_pwait2 never returns EPERM
    // itself. Either way fall back to epoll_wait for good.
    if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
    have_pwait2_ = false;
  }
  return epoll_wait(epfd_, kernel_events_.data(), max,
                    static_cast<int>(timeout.milliseconds_ceil(kMaxEpollWaitMs)));
}

void EpollPoller::reset_wake_counter() noexcept {
  std::uint64_t count;
  // EAGAIN is benign: another thread's wake was consumed in between; the counter is 0.
  if (read(wakefd_, &count, sizeof count) < 0 && errno != EAGAIN) fatal_syscall("read(eventfd)", errno);
  PollerCounters::bump(counters_.wake_drains);
}

// Copies the kernel's batch into `out`, consuming the wake event; sets *woken if it was there.
inline std::size_t EpollPoller::translate(std::span<Event> out, int n, bool* woken) noexcept {
  std::size_t k = 0;
  for (int i = 0; i < n; ++i) {
    const epoll_event& ev = kernel_events_[static_cast<std::size_t>(i)];
    if (ev.data.u64 == Token::kReserved) {
      counters_.wakeups.add();
      wake_flag_.consume();
      *woken = true;
      continue;
    }
    out[k].token = Token{ev.data.u64};
    out[k].flags = to_flags(ev.events);
    out[k].result = 0;
    ++k;
  }
  return k;
}

std::size_t EpollPoller::wait_failed() noexcept {
  if (errno == EINTR) return 0;  // a signal: let the caller recompute
  fatal_syscall("epoll_wait", errno);  // EBADF/EFAULT/EINVAL on our own epoll fd
}

Result<std::size_t> EpollPoller::wait_slow(std::span<Event> out, Timeout timeout) noexcept {
  if (out.empty()) return Errc::invalid_argument;
  return wait_blocking(out, batch(out), timeout);
}

std::size_t EpollPoller::after_zero_wait(std::span<Event> out, int n) noexcept {
  if (n < 0) return wait_failed();
  bool woken = false;
  return translate(out, n, &woken);
}

std::size_t EpollPoller::wait_blocking(std::span<Event> out, int max, Timeout timeout) noexcept {
  // A timeout longer than epoll_wait can express (ms fallback) is waited out in pieces.
  const WaitDeadline deadline(timeout);
  for (;;) {
    const int n = blocking_syscall(max, timeout);
    if (n < 0) return wait_failed();
    bool woken = false;
    const std::size_t k = translate(out, n, &woken);
    if (k != 0 || woken || !deadline.more(&timeout)) return k;
  }
}

void EpollPoller::wake() noexcept {
  // A pending wake already guarantees the wait returns (see WakeFlag).
  if (!wake_flag_.claim()) return;
  const std::uint64_t one = 1;
  for (;;) {
    if (write(wakefd_, &one, sizeof one) == static_cast<ssize_t>(sizeof one)) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) fatal_syscall("write(eventfd)", errno);
    reset_wake_counter();  // counter saturated (never in practice): reset it and write again
  }
  PollerCounters::bump(counters_.wake_signals);
}

}  // namespace netpoll
