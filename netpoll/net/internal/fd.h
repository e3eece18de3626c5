// FD: Go's internal/poll.FD — a socket, its PollDesc, an FdMutex — shared by every OS. The
// operations on it are OS-specific state machines (netpoll/net/internal/fd_posix.h: readiness; netpoll/net/internal/fd_windows.h:
// completion), reached through "netpoll/net/internal/fd_ops.h"; Operation<Op> makes them awaitable or blocking.
//
// Lifetime. An FD is heap-allocated by open() and frees itself. Two things keep it alive: its
// owner (a Conn / Listener / PacketConn, until release()) and its references (FdMutex: every
// operation from when it is made until it finishes). The memory and the PollDesc go with the
// last reference after close(); an owner may close and release while operations are still
// unwinding on other threads or coroutines: they finish with Errc::closed.
//
// The socket itself is closed by close() before it returns, as Go's FD.Close waits for it:
// then the address may be bound again and a Unix socket's file removed. Parked and queued
// operations make no call, so close() waits only for calls in flight on other threads (each
// one short: nonblocking or overlapped): every call on the socket is made between enter_io()
// and exit_io(), and none starts once close() has begun. On Windows an overlapped call the
// close cancelled still owns its OVERLAPPED until its packet; its operation waits for that
// (holding its reference, so the PollDesc lives) and makes no call on the closed socket.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <system_error>

#include "netpoll/core/address_wait.h"
#include "netpoll/core/poll_desc.h"
#include "netpoll/net/internal/fd_mutex.h"
#include "netpoll/runtime/loop.h"
#include "netpoll/platform/socket.h"
#include "netpoll/net/internal/sockaddr.h"
#include "netpoll/contract/result.h"

namespace netpoll::net {

class FD {
 public:
  // Takes ownership of `sysfd` (made by os::open_socket or accepted: nonblocking / overlapped,
  // not inherited) and registers it with loop's poller. On error the socket is closed, unless
  // `adopt` (FileConn: a socket the caller made, which it keeps on any error).
  // `stream`: a zero read is EOF and a short read drains (SOCK_STREAM); false for datagrams.
  static Result<FD*> open(Loop& loop, NativeSocket sysfd, bool stream, bool adopt = false) noexcept;

  NativeSocket sysfd() const noexcept { return sysfd_; }
  Loop& loop() const noexcept { return *loop_; }
  bool stream() const noexcept { return stream_; }

  // Go's FD.Close: later operations fail with Errc::closed, parked ones wake with it, and the
  // socket is closed before it returns (see Lifetime). Errc::closed if already closed.
  std::error_code close() noexcept;
  // The owner lets go (after close()). The memory is freed now or by the last operation.
  void release() noexcept;

  // Absolute monotonic ns (now_ns()); 0 clears; a past time expires at once. ENOMEM if the
  // timer could not be armed (the timer heap could not grow): that direction's deadline is as
  // before, and a retry may succeed.
  std::error_code set_deadline(std::int64_t deadline_ns, Mode m) noexcept;
  std::error_code shutdown(int how) noexcept;
  std::error_code setsockopt_int(int level, int name, int value) noexcept;
  std::error_code set_keep_alive(int seconds) noexcept;  // os::set_keep_alive
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
  // Brackets every call on the socket (see Lifetime above). false: close() has begun, make no
  // call (the operation fails with Errc::closed). Two uncontended atomic adds per call.
  bool enter_io() noexcept {
    if ((io_.fetch_add(1, std::memory_order_acquire) & kIoClosing) == 0) return true;
    exit_io();
    return false;
  }
  void exit_io() noexcept {
    // The last call out after close() began wakes it.
    if (io_.fetch_sub(1, std::memory_order_release) == kIoClosing + 1) address_wake_one(io_);
  }

 private:
  FD(Loop& loop, NativeSocket sysfd, bool stream) noexcept
      : sysfd_(sysfd), stream_(stream), loop_(&loop) {}
  ~FD() = default;
  void destroy() noexcept;  // the last reference of a closed FD
  // Waits for the calls in flight, deregisters and closes the socket (once).
  void close_socket() noexcept;
  static constexpr std::uint32_t kIoClosing = 1u << 31;
  template <class F>
  auto with_ref(F f) noexcept -> decltype(f());
  template <class F>
  auto with_io(F f) noexcept -> decltype(f());
  void unref_life() noexcept;

  // Packed so the FD is 72 bytes on 64-bit POSIX (a glibc malloc chunk of 80; B5 prints it).
  NativeSocket sysfd_;
  bool stream_;

 public:
  // Guarded by the read lock (FdMutex's, which is held across a suspension and acquired
  // conditionally, so it is not a capability the compiler checks); POSIX only, unused by the
  // completion-based Windows operations.
  // drained: the kernel said, in the last read, that it left nothing queued, so the next read
  // parks first; read_inq: whether reads ask it that (ReadOp in netpoll/net/internal/fd_posix.h has the rules).
  // On an io_uring Loop's FD (netpoll/net/internal/fd_uring.h, ReadOp), read_inq is whether
  // the descriptor refused a receive (no socket), so that reads are read(2).
  bool drained = false;
  std::uint8_t read_inq = 0;
  // Ring calls (io_uring, fd_uring.h) issued and not yet seen completed: while any is, the
  // kernel holds the socket's file, and closing the number would not close it (see
  // release_kernel_calls). At most one per direction. In the padding: FD stays 72 bytes.
  std::atomic<std::uint8_t> ring_calls{0};

 private:
  Loop* loop_;
  PollDesc* pd_ = nullptr;
  FdMutex mu_;
  std::atomic<std::uint32_t> io_{0};  // kIoClosing | calls in flight (enter_io / exit_io)
  std::atomic<int> life_{2};  // the owner + the references (until the last one drops)
};

// What every operation on an FD shares, whatever the OS: its FD, direction and result, and
// the direction's lock that starts it (the OS machines, LockedOp in fd_posix.h and
// OverlappedOp in fd_windows.h, derive from it and unlock when they finish).
//
// Lifetime: an operation takes a reference on its FD when it is made, and holds it until it
// finishes (the unlock drops it) or is destroyed unstarted. So the FD it names outlives it
// whatever its owner does meanwhile: a Conn closed or destroyed between making an operation
// and awaiting it, or while it waits in the lock queue, leaves the operation a closed FD to
// fail on, never freed memory. It costs one atomic increment per operation.
template <class T>
class FdOp {
 public:
  FdOp(const FdOp&) = delete;
  FdOp& operator=(const FdOp&) = delete;
  ~FdOp() {
    if (ref_) fd_->decref();  // never started (or never got past a closed lock)
  }
  Result<T> result() noexcept { return std::move(res_); }
  Result<T> fail_on_loop_thread() noexcept { return Errc::would_deadlock; }
  // Read without touching the FD (its loop is fixed when the operation is made).
  Loop* loop() const noexcept { return loop_; }

 protected:
  FdOp(FD* fd, Mode m) noexcept
      : fd_(fd), loop_(fd ? &fd->loop() : nullptr), mode_(m), ref_(fd && fd->incref()) {}
  enum class Locked : std::uint8_t { yes, queued, closed };
  // The direction's lock. queued: `w` is notified when it may be free, call again. closed:
  // the operation is over, with Errc::closed in res_ (and nothing to unlock).
  Locked lock(Waiter* w) noexcept {
    if (ref_) {  // else a closed FD, or an empty or moved-from Conn / Listener
      switch (fd_->mu().rwlock(mode_ == kRead, w)) {
        case FdMutex::Lock::acquired: return Locked::yes;
        case FdMutex::Lock::queued: return Locked::queued;
        case FdMutex::Lock::closed:
          ref_ = false;
          fd_->decref();  // may free the FD: not touched again
          break;
      }
    }
    res_ = Errc::closed;
    return Locked::closed;
  }
  // Drops the lock and the operation's reference (the FD may be freed now).
  void unlock() noexcept {
    ref_ = false;
    fd_->rwunlock(mode_ == kRead);
  }
  // An empty read or write finishes at once with 0, after the closed check and without a call
  // (Go). True if `n`, the bytes asked for, is 0; then res_ is set.
  bool finished_empty(std::size_t n) noexcept {
    if (n != 0) return false;
    res_ = std::size_t{0};
    return true;
  }

  FD* fd_;
  Loop* loop_;
  Result<T> res_{Errc::invalid_argument};  // replaced when the operation finishes
  Mode mode_;

 private:
  bool ref_;  // this operation holds a reference on fd_
};

// Before a closing FD's socket is closed (FD::close_socket, once no call is in flight): makes
// the kernel let go of it where calls it holds would keep it open. io_uring: cancels the ring
// calls on it and waits until they completed; the readiness and IOCP FDs need nothing.
// Defined by the OS half of the operations (fd_posix.cc, fd_uring.cc, fd_windows.cc).
void release_kernel_calls(FD& fd) noexcept;
// FD::close_socket on the Loop's thread while a call of `fd` is still in flight: hands the
// kernel the calls filled and not yet taken (io_uring: SQEs an enter left in the SQ), so the
// wait for them ends. The readiness and IOCP FDs never get here (their calls have returned).
void hand_over_filled_calls(FD& fd) noexcept;

struct Accepted {
  NativeSocket sysfd = kInvalidSocket;
  SockAddr peer;
};

struct Datagram {
  std::size_t size = 0;
  SockAddr from;
};

}  // namespace netpoll::net
