// UringFallbackPoller: netpoll::Poller of the io_uring build (--config=uring). It runs a
// UringPoller, unless the kernel refuses io_uring when the poller is made, and then an
// EpollPoller: a program built for io_uring still works where io_uring is not allowed.
//
// - Refusals that fall back: io_uring_setup failing with ENOSYS (no io_uring, or a kernel
//   without what UringPoller needs), EPERM (the kernel.io_uring_disabled sysctl, a seccomp
//   profile: Docker's and most container runtimes' defaults refuse io_uring) or ENOMEM (the
//   memlock limit on kernels before 5.12). Anything else (EMFILE, ...) is thrown, as every
//   backend's constructor does.
// - The choice is made once per poller and never changes: which one runs is name() ("io_uring"
//   or "epoll"), and ring_refusal() says why io_uring is not the one.
// - prefer(): which backend pollers made afterwards use (any thread): automatic (io_uring,
//   falling back), epoll, or io_uring. NETPOLL_BACKEND=epoll / io_uring in the environment
//   sets the initial preference. Forcing io_uring makes a refusal throw instead.
// - The net layer's operations follow the same choice per Loop (netpoll/net/internal/fd_either.h).
// Every member dispatches on the choice: one predictable branch per call.
#pragma once

#include <new>
#include <string_view>
#include <system_error>

#include "netpoll/backends/epoll/epoll_poller.h"
#include "netpoll/backends/uring/uring_poller.h"
#include "netpoll/contract/backend.h"

namespace netpoll {

class UringFallbackPoller {
 public:
  using handle_type = int;
  using native_handle_type = int;
  using operation_type = UringOperation;
  // The build's name; name() says which of the two runs.
  static constexpr std::string_view kName = "io_uring-or-epoll";

  enum class Preference { automatic, epoll, io_uring };
  static void prefer(Preference p) noexcept;
  static Preference preference() noexcept;

  UringFallbackPoller();
  ~UringFallbackPoller();
  UringFallbackPoller(const UringFallbackPoller&) = delete;
  UringFallbackPoller& operator=(const UringFallbackPoller&) = delete;

  bool ring() const noexcept { return ring_; }
  std::string_view name() const noexcept { return ring_ ? UringPoller::kName : EpollPoller::kName; }
  // Why io_uring does not run (the error io_uring_setup gave; operation_not_permitted for a
  // preference of epoll); empty when it does.
  std::error_code ring_refusal() const noexcept { return refusal_; }
  UringPoller& uring() noexcept { return u_; }        // ring() only
  EpollPoller& epoll() noexcept { return e_; }        // !ring() only

  static bool completion_skipping_safe() noexcept { return false; }
  static std::error_code skip_completion_on_success(int fd) noexcept {
    return UringPoller::skip_completion_on_success(fd);
  }

  std::error_code register_handle(int fd, Token t) noexcept {
    return ring_ ? u_.register_handle(fd, t) : e_.register_handle(fd, t);
  }
  std::error_code deregister_handle(int fd) noexcept {
    return ring_ ? u_.deregister_handle(fd) : e_.deregister_handle(fd);
  }
  Result<std::size_t> wait(std::span<Event> out, Timeout timeout) noexcept {
    return ring_ ? u_.wait(out, timeout) : e_.wait(out, timeout);
  }
  void wake() noexcept { ring_ ? u_.wake() : e_.wake(); }
  int native_handle() const noexcept { return ring_ ? u_.native_handle() : e_.native_handle(); }
  PollerStats stats() const noexcept { return ring_ ? u_.stats() : e_.stats(); }
  bool has_queued() const noexcept { return ring_ && u_.has_queued(); }

 private:
  bool ring_ = false;
  std::error_code refusal_;
  union {
    UringPoller u_;
    EpollPoller e_;
  };
};

static_assert(CompletionBackend<UringFallbackPoller>);

}  // namespace netpoll
