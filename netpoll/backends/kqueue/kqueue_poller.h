// KqueuePoller: the BSD / macOS Backend (Go's netpoll_kqueue.go).
//
// - One kqueue, FD_CLOEXEC (a kqueue is not inherited by fork(2) anyway; the flag also covers
//   a descriptor table shared some other way).
// - register_handle: EVFILT_READ and EVFILT_WRITE, EV_ADD|EV_CLEAR|EV_RECEIPT, in one kevent()
//   call, the token in udata (ext[2] with 32-bit pointers); never modified afterwards. EV_ADD silently modifies a kevent that
//   exists, which would replace the token, so a one-change probe call comes first (EV_ENABLE
//   fails with ENOENT unless the descriptor is registered): registration costs two kevent()
//   calls, the wait path none extra.
// - wake(): an EVFILT_USER kevent (EV_CLEAR) triggered with NOTE_TRIGGER, coalesced by the
//   same WakeFlag as epoll's. Where EVFILT_USER is missing (not in the headers, or the kernel
//   refuses it with EINVAL: older OpenBSD/NetBSD) a non-blocking pipe whose read end is
//   registered EV_CLEAR: each one-byte write is a new event, so the waiter never drains it.
// - wait(): kevent() with a timespec (nanoseconds; NULL for infinite, zero to poll). FreeBSD
//   silently shortens timeouts above 24 hours (kevent(2) BUGS), so a finite wait is made in
//   pieces of at most 24 hours until the caller's timeout has passed.
// Events: one netpoll Event per kevent (a readable and writable socket gives two, same token).
//   EVFILT_READ            -> kReadable; with EV_EOF also kReadHangup and kWritable: the
//                             writer is woken too (as Go does), because some systems report
//                             a pipe's vanished reader only on the read filter; it learns the
//                             outcome from its own write.
//   EVFILT_WRITE           -> kWritable; with EV_EOF also kHangup (wakes reader and writer).
//   EV_EOF with fflags != 0 -> kError (fflags is the socket's pending error).
//   EV_ERROR               -> kError alone.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

#include "netpoll/backends/kqueue/kqueue_sys.h"
#include "netpoll/contract/backend.h"
#include "netpoll/backends/common/counters.h"
#include "netpoll/backends/common/wake_flag.h"

namespace netpoll {

class KqueuePoller {
 public:
  using handle_type = int;
  using native_handle_type = int;
  // "kqueue"; "kqueue-double" in the test build over the userspace double (kqueue_sys.h).
  static constexpr std::string_view kName = kqueue_sys::kBackendName;
  // Kernel events fetched per kevent(); the same figure as EpollPoller::kMaxBatch.
  static constexpr std::size_t kMaxBatch = 128;

  // Throws std::system_error naming the syscall if the kqueue (or the wake pipe) cannot be
  // created (EMFILE, ENFILE, ENOMEM), as EpollPoller does.
  KqueuePoller();
  ~KqueuePoller();
  KqueuePoller(const KqueuePoller&) = delete;
  KqueuePoller& operator=(const KqueuePoller&) = delete;

  std::error_code register_handle(int fd, Token token) noexcept;
  std::error_code deregister_handle(int fd) noexcept;
  Result<std::size_t> wait(std::span<Event> out, Timeout timeout) noexcept;
  void wake() noexcept;
  int native_handle() const noexcept { return kq_; }
  PollerStats stats() const noexcept { return counters_.snapshot(); }
  // True when wake() uses the pipe fallback instead of EVFILT_USER (tests print it).
  bool wakes_through_pipe() const noexcept { return wake_pipe_[1] >= 0; }

 private:
  void close_all() noexcept;
  [[noreturn]] void fail(const char* call, int err);
  void setup_wake();
  int change(struct kevent* changes, int n, int* errors) noexcept;
  void drop_filter(int fd, short filter) noexcept;
  std::size_t translate(std::span<Event> out, int n, bool* woken) noexcept;
  std::size_t wait_failed() noexcept;
  void drain_wake_pipe() noexcept;
  friend struct KqueuePollerTestPeer;  // netpoll/backends/kqueue/kqueue_poller_test.cc

  int kq_ = -1;
  int wake_pipe_[2] = {-1, -1};  // the fallback wake: [0] registered for read, [1] written
  WakeFlag wake_flag_;
  std::array<struct kevent, kMaxBatch> kernel_events_{};
  PollerCounters counters_;
};

static_assert(Backend<KqueuePoller>);

}  // namespace netpoll
