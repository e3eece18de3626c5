// EpollPoller: the Linux Backend (Go's netpoll_epoll.go).
//
// - One epoll fd (EPOLL_CLOEXEC) and one eventfd for wake() (EFD_CLOEXEC|EFD_NONBLOCK),
//   registered edge-triggered under Token::kReserved. A wake costs one write(); the waiting
//   side pays no syscall for it (the counter is not drained: each write is a new edge).
// - Descriptors are registered once with EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET and never
//   modified (no EPOLL_CTL_MOD anywhere: docs/pitfalls.md 10, 11).
// - wait() uses epoll_pwait2 (nanosecond timespec) for finite non-zero timeouts when the kernel
//   has it (5.11+), else epoll_wait with the timeout rounded up to whole milliseconds; zero
//   timeouts always use epoll_wait(0), the cheapest poll.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>

#include "netpoll/contract/backend.h"
#include "netpoll/backends/common/counters.h"
#include "netpoll/backends/common/wake_flag.h"

namespace netpoll {

// epoll_ctl as register_handle / deregister_handle make it. Tests swap it to inject what the
// kernel returns at registration (ENOSPC past fs.epoll.max_user_watches, ENOMEM); the wait and
// wake paths call the kernel directly. Written only by tests, while no other thread registers
// or deregisters.
inline int (*epoll_ctl_fn)(int epfd, int op, int fd, epoll_event* ev) = ::epoll_ctl;

class EpollPoller {
 public:
  using handle_type = int;
  using native_handle_type = int;
  static constexpr std::string_view kName = "epoll";
  // Kernel events fetched per epoll_wait. Go's netpoll uses 128; a wait is ~0.2-1 us of fixed
  // cost, so a batch this size amortises it once more than a handful of fds are ready.
  static constexpr std::size_t kMaxBatch = 128;

  // Throws std::system_error naming the syscall if the epoll fd or eventfd cannot be created
  // (EMFILE, ENFILE, ENOMEM): construction is not a hot path and a poller without its kernel
  // object cannot do anything useful.
  EpollPoller();
  ~EpollPoller();
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  std::error_code register_handle(int fd, Token token) noexcept;
  std::error_code deregister_handle(int fd) noexcept;
  // The zero-timeout poll is a loop's hot path (docs/benchmarks.md B8) and is inline, so that the
  // only frame live across the syscall is the caller's: each extra frame the kernel returns
  // through cost ~9 ns here (measured, B8 machine: the return-stack predictions do not survive
  // the kernel entry), more than all the instructions around the call.
  Result<std::size_t> wait(std::span<Event> out, Timeout timeout) noexcept {
    if (!timeout.is_zero() || out.empty()) [[unlikely]]
      return wait_slow(out, timeout);
    counters_.waits.add();
    const int n = epoll_wait(epfd_, kernel_events_.data(), batch(out), 0);
    if (n == 0) [[likely]]
      return std::size_t{0};
    return after_zero_wait(out, n);
  }
  void wake() noexcept;
  int native_handle() const noexcept { return epfd_; }
  PollerStats stats() const noexcept { return counters_.snapshot(); }

 private:
  friend struct EpollPollerTestPeer;  // netpoll/backends/epoll/epoll_poller_test.cc
  static int batch(std::span<Event> out) noexcept {
    return static_cast<int>(out.size() < kMaxBatch ? out.size() : kMaxBatch);
  }
  Result<std::size_t> wait_slow(std::span<Event> out, Timeout timeout) noexcept;
  std::size_t after_zero_wait(std::span<Event> out, int n) noexcept;
  std::size_t wait_blocking(std::span<Event> out, int max, Timeout timeout) noexcept;
  int blocking_syscall(int max, Timeout timeout) noexcept;
  std::size_t translate(std::span<Event> out, int n, bool* woken) noexcept;
  std::size_t wait_failed() noexcept;
  void reset_wake_counter() noexcept;

  int epfd_ = -1;
  int wakefd_ = -1;
  // Set from the wake() that wrote the eventfd until a wait has seen its event.
  WakeFlag wake_flag_;
  bool have_pwait2_ = true;  // cleared on the first ENOSYS; only the waiting thread touches it
  std::array<epoll_event, kMaxBatch> kernel_events_{};
  PollerCounters counters_;
};

static_assert(Backend<EpollPoller>);

}  // namespace netpoll
