// FD: Go's internal/poll.FD — a socket, its PollDesc, an FdMutex — shared by every OS. The
// operations on it are OS-specific state machines (net/fd_posix.h: readiness; net/fd_windows.h:
// completion), reached through "net/fd_ops.h"; Operation<Op> makes them awaitable or blocking.
//
// Lifetime. An FD is heap-allocated by open() and frees itself. Two things keep it alive: its
// owner (a Conn / Listener / PacketConn, until release()) and the socket being open. The
// socket is closed by whoever drops the last FdMutex reference after close() (an operation
// woken by the close, or close() itself): deregister, then close, never retried. So an owner
// may close and release while operations are still unwinding on other threads or coroutines;
// they finish with Errc::closed and the last one frees the memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <system_error>

#include "core/poll_desc.h"
#include "net/fd_mutex.h"
#include "net/loop.h"
#include "net/os_socket.h"
#include "net/sockaddr.h"
#include "poller/result.h"

namespace netpoll::net {

class FD {
 public:
  // Takes ownership of `sysfd` (made by os::open_socket or accepted: nonblocking / overlapped,
  // not inherited) and registers it with loop's poller. On error the socket is closed.
  // `stream`: a zero read is EOF and a short read drains (SOCK_STREAM); false for datagrams.
  static Result<FD*> open(Loop& loop, NativeSocket sysfd, bool stream) noexcept;

  NativeSocket sysfd() const noexcept { return sysfd_; }
  Loop& loop() const noexcept { return *loop_; }
  bool stream() const noexcept { return stream_; }

  // Go's FD.Close: later operations fail with Errc::closed, parked ones wake with it, and the
  // socket closes when the last in-flight operation is done. Errc::closed if already closed.
  std::error_code close() noexcept;
  // The owner lets go (after close()). The memory is freed now or by the last operation.
  void release() noexcept;

  // Absolute monotonic ns (now_ns()); 0 clears; a past time expires at once.
  std::error_code set_deadline(std::int64_t deadline_ns, Mode m) noexcept;
  std::error_code shutdown(int how) noexcept;
  std::error_code setsockopt_int(int level, int name, int value) noexcept;
  Result<SockAddr> sockname() noexcept;
  Result<SockAddr> peername() noexcept;

  // --- for the operations ---------------------------------------------------------------------
  FdMutex& mu() noexcept { return mu_; }
  PollDesc* pd() const noexcept { return pd_; }
  bool incref() noexcept { return mu_.incref(); }
  void decref() noexcept {
    if (mu_.decref()) destroy();
  }
  void rwunlock(bool read) noexcept {
    if (mu_.rwunlock(read)) destroy();
  }
  // The socket's pending error (SO_ERROR); Errc::event_error if it has none.
  std::error_code socket_error() noexcept;
  // Guarded by the read lock; POSIX only, unused by the completion-based Windows operations.
  // drained: the kernel said, in the last read, that it left nothing queued, so the next read
  // parks first; read_inq: whether reads ask it that (ReadOp in net/fd_posix.h has the rules).
  bool drained = false;
  std::uint8_t read_inq = 0;

 private:
  FD(Loop& loop, NativeSocket sysfd, bool stream) noexcept
      : loop_(&loop), sysfd_(sysfd), stream_(stream) {}
  ~FD() = default;
  void destroy() noexcept;  // the last reference of a closed FD
  template <class F>
  auto with_ref(F f) noexcept -> decltype(f());
  void unref_life() noexcept;

  Loop* loop_;
  PollDesc* pd_ = nullptr;
  NativeSocket sysfd_;
  bool stream_;
  FdMutex mu_;
  std::atomic<int> life_{2};  // the owner + the open socket
};

// What every operation on an FD shares, whatever the OS: its FD, direction and result, and
// the direction's lock that starts it (the OS machines, LockedOp in fd_posix.h and
// OverlappedOp in fd_windows.h, derive from it and unlock when they finish).
template <class T>
class FdOp {
 public:
  Result<T> result() noexcept { return std::move(res_); }
  Result<T> fail_on_loop_thread() noexcept { return Errc::invalid_argument; }
  Loop* loop() const noexcept { return fd_ ? &fd_->loop() : nullptr; }

 protected:
  FdOp(FD* fd, Mode m) noexcept : fd_(fd), mode_(m) {}
  enum class Locked : std::uint8_t { yes, queued, closed };
  // The direction's lock and a reference. queued: `w` is notified when it may be free, call
  // again. closed: the operation is over, with Errc::closed in res_ (and nothing to unlock).
  Locked lock(Waiter* w) noexcept {
    if (fd_) {  // else an operation on an empty or moved-from Conn / Listener
      switch (fd_->mu().rwlock(mode_ == kRead, w)) {
        case FdMutex::Lock::acquired: return Locked::yes;
        case FdMutex::Lock::queued: return Locked::queued;
        case FdMutex::Lock::closed: break;
      }
    }
    res_ = Errc::closed;
    return Locked::closed;
  }
  void unlock() noexcept { fd_->rwunlock(mode_ == kRead); }
  // An empty read or write finishes at once with 0, after the closed check and without a call
  // (Go). True if `n`, the bytes asked for, is 0; then res_ is set.
  bool finished_empty(std::size_t n) noexcept {
    if (n != 0) return false;
    res_ = std::size_t{0};
    return true;
  }

  FD* fd_;
  Result<T> res_{Errc::invalid_argument};  // replaced when the operation finishes
  Mode mode_;
};

struct Accepted {
  NativeSocket sysfd = kInvalidSocket;
  SockAddr peer;
};

struct Datagram {
  std::size_t size = 0;
  SockAddr from;
};

}  // namespace netpoll::net
