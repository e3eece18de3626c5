// The operations on an FD (netpoll/net/internal/fd.h) as ring operations on the io_uring
// backend (netpoll/backends/uring), the completion model of the contract as the Windows FD
// (fd_windows.h) follows it:
//
//   lock the direction -> prepare the PollDesc -> queue the call on the ring
//   (UringOperation, tagged for the descriptor's token; its SQE is filled on the polling
//   thread, under enter_io, just before the io_uring_enter that submits it, and enter_io is
//   left once the kernel took it: FD::close waits for that, so a closed and reused descriptor
//   number is never submitted) -> park on the PollDesc as on EAGAIN; the completion readies it
//     -EAGAIN (a call the kernel would not wait for: a socket type without poll-driven retry):
//                     a POLL_ADD for the direction, then the call again
//     woken by close or a deadline: cancel the call, then park for its completion whatever
//                     close and deadlines say (PollDesc::commit_park_for_completion): the
//                     kernel owns the buffers and the addresses until it came (docs/testing.md
//                     case 24). A call that completed before the cancel keeps its result.
//   -> unlock.
//
// Nothing is tried synchronously first: every call goes through the ring, so a loop iteration
// is one io_uring_enter that submits what the tasks queued and waits for what comes next.
// Buffers the kernel writes (an accepted peer's address, a sender's address, message headers)
// live in the operation, which Operation<Op> keeps in place until the last step.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "netpoll/contract/error.h"
#include "netpoll/contract/result.h"
#include "netpoll/core/poll_desc.h"
#include "netpoll/net/internal/fd.h"
#include "netpoll/net/internal/gather.h"
#include "netpoll/net/internal/sockaddr.h"
#include "netpoll/platform/poller.h"
#include "netpoll/platform/socket.h"
#include "netpoll/runtime/loop.h"

namespace netpoll::net::ring {

static_assert(CompletionBackend<Poller>, "the ring FD needs a completion backend");

// Which ring call an operation makes (fault injection names them).
enum class Call : std::uint8_t { recv, poll_in, send, sendmsg, accept, connect, recvmsg, sendmsg_to };

// Fault injection (tests only; written while no operation runs): when set, asked before each
// call is filled; a nonzero errno makes the call fail with it without reaching the socket
// (the SQE becomes a no-op), as if the kernel had refused it. Null: one never-taken branch
// on the polling thread per call.
inline int (*fault_hook)(Call call) noexcept = nullptr;

enum class IoStatus : std::uint8_t {
  done,   // res_ is set
  again,  // make another call (a partial send, an aborted client skipped by accept)
  poll,   // wait until the direction is ready (POLL_ADD), then make the call again
};

template <class Derived, class T>
class RingOp : public FdOp<T> {
 public:
  bool step(Waiter* w) noexcept;

 protected:
  using FdOp<T>::fd_;
  using FdOp<T>::res_;
  using FdOp<T>::mode_;
  RingOp(FD* fd, Mode m) noexcept : FdOp<T>(fd, m) {}
  // After the lock: IoStatus::done to finish without a call (empty buffers, a setup error).
  IoStatus start() noexcept { return IoStatus::again; }
  // Derived provides:
  //   void prepare(io_uring_sqe* sqe) noexcept   fill the call (polling thread, under enter_io)
  //   IoStatus complete(int res) noexcept        its result: >= 0 success, else -errno
  IoStatus fail_with(int err) noexcept {
    res_ = errno_code(err);
    return IoStatus::done;
  }
  // A call that succeeded is dropped (the FD closed before its result could be taken):
  // releases what it made (AcceptOp closes the accepted socket).
  void discard(int /*res*/) noexcept {}

 private:
  using typename FdOp<T>::Locked;
  enum Phase : std::uint8_t { kLock, kIssue, kPark, kParked, kComplete, kDrain, kDrainParked,
                              kDrained, kDone };
  static bool prepare_call(UringOperation& op, io_uring_sqe* sqe) noexcept;
  static void call_submitted(UringOperation& op) noexcept {
    static_cast<RingOp*>(op.owner())->fd_->exit_io();
  }
  static constexpr UringOperation::Calls kCalls{&prepare_call, &call_submitted};

  bool finish() noexcept {
    phase_ = kDone;
    Loop* loop = this->loop_;  // unlock may free the FD
    this->unlock();
    loop->unhold();
    return true;
  }
  bool fail(std::error_code ec) noexcept {
    res_ = ec;
    return finish();
  }
  bool next(IoStatus s) noexcept;
  // complete() under enter_io (it may call on the socket), then next().
  bool complete_and_next(int res) noexcept {
    if (!fd_->enter_io()) {
      if (res >= 0) static_cast<Derived*>(this)->discard(res);
      return fail(Errc::closed);
    }
    const IoStatus s = static_cast<Derived*>(this)->complete(res);
    fd_->exit_io();
    return next(s);
  }
  void issue(PollDesc* pd) noexcept {
    const std::uint32_t dir = mode_ == kRead ? Event::kReadable : Event::kWritable;
    iop_.begin(pd->token(), dir)->set_calls(&kCalls, this);
    fd_->ring_calls.fetch_add(1, std::memory_order_relaxed);
    // On the Loop's thread (a task) the call goes on the poller's local queue.
    this->loop_->netpoll().backend().uring().submit(iop_, Loop::current() == this->loop_);
  }
  // The call's completion was seen: the kernel no longer holds the socket for it.
  void call_ended() noexcept { fd_->ring_calls.fetch_sub(1, std::memory_order_release); }

  Poller::operation_type iop_;
  std::error_code cancelled_;  // why the call was cancelled (closed / deadline exceeded)
  Phase phase_ = kLock;
  bool polling_ = false;  // the call in flight is the POLL_ADD after an -EAGAIN
  std::uint8_t injected_ = 0;  // fault_hook's errno for the call in flight (its SQE a no-op)
};

class ReadOp : public RingOp<ReadOp, std::size_t> {
 public:
  static constexpr Call kCall = Call::recv;
  ReadOp(FD* fd, std::span<std::byte> buf) noexcept : RingOp(fd, kRead), buf_(buf) {}
  IoStatus start() noexcept;
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;

  // FD::read_inq on a ring FD: 0 until a receive was refused as the descriptor is no socket.
  static constexpr std::uint8_t kNotSocket = 1;

 private:
  std::span<std::byte> buf_;
};

// Conn::Readable: a one-shot POLL_ADD for input, which completes once a Read would find
// something (bytes, the end of stream, an error) and takes nothing, on streams and datagrams
// alike: the idle connection holds no buffer, in the kernel either.
class ReadableOp : public RingOp<ReadableOp, bool> {
 public:
  static constexpr Call kCall = Call::poll_in;
  explicit ReadableOp(FD* fd) noexcept : RingOp(fd, kRead) {}
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;
  std::error_code result() const noexcept { return res_.error(); }
  std::error_code fail_on_loop_thread() const noexcept { return Errc::would_deadlock; }
};

class WriteOp : public RingOp<WriteOp, std::size_t> {
 public:
  static constexpr Call kCall = Call::send;
  WriteOp(FD* fd, std::span<const std::byte> buf) noexcept : RingOp(fd, kWrite), buf_(buf) {}
  IoStatus start() noexcept;
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;

 private:
  std::span<const std::byte> buf_;
  std::size_t done_ = 0;
};

// Gathered write of several buffers, in order, all of them (partial sends continue).
class WritevOp : public RingOp<WritevOp, std::size_t> {
 public:
  static constexpr Call kCall = Call::sendmsg;
  WritevOp(FD* fd, GatherCursor::Buffers bufs) noexcept : RingOp(fd, kWrite), cur_(bufs) {}
  IoStatus start() noexcept;
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;

 private:
  // Up to this many iovecs per sendmsg (the kernel's limit, IOV_MAX, is 1024); they live here
  // until the kernel has copied them.
  static constexpr std::size_t kMaxIov = 16;
  GatherCursor cur_;
  msghdr msg_{};
  iovec iov_[kMaxIov];
};

// IORING_OP_ACCEPT (nonblocking, close-on-exec); an aborted client is skipped (ECONNABORTED),
// and EMFILE / ENFILE shed the pending clients as the POSIX AcceptOp does.
class AcceptOp : public RingOp<AcceptOp, Accepted> {
 public:
  static constexpr Call kCall = Call::accept;
  AcceptOp(FD* fd, int /*family*/) noexcept : RingOp(fd, kRead) {}
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;
  void discard(int res) noexcept;

 private:
  SockAddr peer_;  // written by the kernel until the completion
};

// IORING_OP_CONNECT on a stream socket (the completion is the connect's outcome); a datagram
// socket connects with connect(), which never blocks.
class ConnectOp : public RingOp<ConnectOp, bool> {
 public:
  static constexpr Call kCall = Call::connect;
  ConnectOp(FD* fd, const SockAddr& to) noexcept : RingOp(fd, kWrite), to_(&to) {}
  IoStatus start() noexcept;
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;

 private:
  const SockAddr* to_;
};

class RecvFromOp : public RingOp<RecvFromOp, Datagram> {
 public:
  static constexpr Call kCall = Call::recvmsg;
  RecvFromOp(FD* fd, std::span<std::byte> buf) noexcept : RingOp(fd, kRead), buf_(buf) {}
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;

 private:
  std::span<std::byte> buf_;
  SockAddr from_;  // written by the kernel until the completion
  msghdr msg_{};
  iovec iov_{};
};

class SendToOp : public RingOp<SendToOp, std::size_t> {
 public:
  static constexpr Call kCall = Call::sendmsg_to;
  SendToOp(FD* fd, std::span<const std::byte> buf, const SockAddr& to) noexcept
      : RingOp(fd, kWrite), buf_(buf), to_(to) {}
  void prepare(io_uring_sqe* sqe) noexcept;
  IoStatus complete(int res) noexcept;

 private:
  std::span<const std::byte> buf_;
  SockAddr to_;
  msghdr msg_{};
  iovec iov_{};
};

// --- the machine ------------------------------------------------------------------------------

template <class Derived, class T>
bool RingOp<Derived, T>::prepare_call(UringOperation& op, io_uring_sqe* sqe) noexcept {
  auto* self = static_cast<RingOp*>(op.owner());
  // The descriptor number goes into the SQE here; close() waits until the kernel took it.
  if (!self->fd_->enter_io()) return false;
  if (fault_hook && !self->polling_) [[unlikely]] {
    if (const int err = fault_hook(Derived::kCall)) {
      self->injected_ = static_cast<std::uint8_t>(err);
      io_uring_prep_nop(sqe);
      return true;
    }
  }
  if (self->polling_)
    io_uring_prep_poll_add(sqe, self->fd_->sysfd(), self->mode_ == kRead ? POLLIN : POLLOUT);
  else
    static_cast<Derived*>(self)->prepare(sqe);
  return true;
}

template <class Derived, class T>
bool RingOp<Derived, T>::next(IoStatus s) noexcept {
  if (s == IoStatus::done) return finish();
  // Another call: close and deadlines are checked between calls, as before the first.
  const std::error_code ec = fd_->pd()->check(mode_);
  if (ec && ec != Errc::event_error) return fail(ec);
  polling_ = s == IoStatus::poll;
  phase_ = kIssue;
  return false;
}

template <class Derived, class T>
bool RingOp<Derived, T>::step(Waiter* w) noexcept {
  auto& self = *static_cast<Derived*>(this);
  // fd_->pd() is read only while this operation holds its lock (and so a reference).
  PollDesc* pd = phase_ == kLock || phase_ == kDone ? nullptr : fd_->pd();
  for (;;) {
    switch (phase_) {
      case kLock: {
        const Locked l = this->lock(w);
        if (l == Locked::queued) return false;
        if (l == Locked::closed) {
          phase_ = kDone;
          return true;
        }
        fd_->loop().hold();  // before the PollDesc is looked at (see Loop::hold)
        pd = fd_->pd();
        const std::error_code ec = pd->prepare(mode_);
        if (ec && ec != Errc::event_error) return fail(ec);
        if (!fd_->enter_io()) return fail(Errc::closed);
        const IoStatus s = self.start();
        fd_->exit_io();
        if (s == IoStatus::done) return finish();
        phase_ = kIssue;
        break;
      }
      case kIssue:
        issue(pd);
        phase_ = kPark;
        break;
      case kPark:
        if (pd->begin_park(mode_)) {  // the completion was dispatched already
          phase_ = kComplete;
          break;
        }
        phase_ = kParked;
        if (pd->commit_park(mode_, w)) return false;
        break;  // refused: the completion, a close or a deadline intervened; see which now
      case kParked: {
        if (pd->end_park(mode_)) {
          phase_ = kComplete;
          break;
        }
        const std::error_code ec = pd->check(mode_);
        if (!ec) {  // a deadline that was reset since: wait again
          phase_ = kPark;
          break;
        }
        cancelled_ = ec == Errc::event_error ? fd_->socket_error() : ec;
        this->loop_->netpoll().backend().uring().cancel(iop_, Loop::current() == this->loop_);
        phase_ = kDrain;
        break;
      }
      case kComplete: {
        // Only this call's own completion may end it: a wake while the call is still the
        // kernel's must not hand its memory back. Park again.
        if (!iop_.completed()) {
          phase_ = kPark;
          break;
        }
        call_ended();
        int res = iop_.raw_result();
        if (injected_ != 0) [[unlikely]] {
          if (res >= 0) res = -static_cast<int>(injected_);  // the no-op ran: the injected error
          injected_ = 0;
        }
        if (res == -ECANCELED) {
          // Not a cancel of ours (those end in kDrained): the preparation was refused as this FD
          // is closing, or a dup of the socket was closed (a cancel by descriptor matches the
          // open file, which dups share). Closed or past the deadline: that is the answer; a
          // socket still open makes its call again, as the readiness FD would not notice.
          const std::error_code ec = pd->check(mode_);
          if (ec && ec != Errc::event_error) return fail(ec);
          polling_ = false;
          phase_ = kIssue;
          break;
        }
        if (polling_) {  // the wait for readiness after -EAGAIN ended: the call again
          polling_ = false;
          if (res < 0 && res != -EINTR) return fail(errno_code(-res));
          if (next(IoStatus::again)) return true;
          break;
        }
        if (res == -EAGAIN || res == -EINTR) {
          polling_ = res == -EAGAIN;
          phase_ = kIssue;
          break;
        }
        if (complete_and_next(res)) return true;
        break;
      }
      case kDrain:
        if (pd->begin_park(mode_)) {
          phase_ = kDrained;
          break;
        }
        phase_ = kDrainParked;
        if (pd->commit_park_for_completion(mode_, w)) return false;
        break;
      case kDrainParked:
        // Woken by the completion, or by a close or deadline (those fire once each): park again.
        phase_ = pd->end_park(mode_) ? kDrained : kDrain;
        break;
      case kDrained: {
        if (!iop_.completed()) {
          phase_ = kDrain;
          break;
        }
        call_ended();
        int res = iop_.raw_result();
        if (injected_ != 0) {
          if (res >= 0) res = -static_cast<int>(injected_);
          injected_ = 0;
        }
        // Aborted, or failed on its own meanwhile: the cancel's reason is the answer. It
        // succeeded before the cancel took: keep what it did (bytes a read consumed must be
        // returned, a connection accepted must not be lost). A partial send stops here.
        if (res >= 0 && !polling_) {
          if (!fd_->enter_io()) {
            self.discard(res);
            return fail(cancelled_);
          }
          const bool kept = self.complete(res) == IoStatus::done;
          fd_->exit_io();
          if (kept) return finish();
        }
        return fail(cancelled_);
      }
      case kDone:
        return true;
    }
  }
}

}  // namespace netpoll::net::ring
