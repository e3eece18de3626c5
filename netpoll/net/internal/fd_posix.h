// The POSIX operations on an FD (netpoll/net/internal/fd.h) as state machines: take the direction's lock,
// make the syscall, park on EAGAIN until readiness / deadline / close (Operation<Op> makes them
// awaitable or blocking).
//
// Edge-triggered discipline (docs/architecture.md): no epoll_ctl after open(); writes go straight
// to the socket and park only on EAGAIN; a stream read the kernel said left nothing queued
// marks the socket drained, so the next read parks at once instead of spending a read(2) on
// EAGAIN (ReadOp below: when that holds, and why a short read is not enough).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "netpoll/core/poll_desc.h"
#include "netpoll/net/internal/fd.h"
#include "netpoll/net/internal/fd_mutex.h"
#include "netpoll/net/internal/gather.h"
#include "netpoll/runtime/loop.h"
#include "netpoll/net/internal/sockaddr.h"
#include "netpoll/contract/result.h"

namespace netpoll::net::readiness {

// ---------------------------------------------------------------------------------------------
// The shared machine of every locked I/O operation: take the direction's lock, check the
// PollDesc, make the syscall, park on EAGAIN until readiness / deadline / close, unlock.
// Derived provides `IoStatus io()` (make the syscall; on done it has set res_), and may
// override `start()` (after the lock; IoStatus::done to finish without a syscall, e.g. empty
// buffers).
enum class IoStatus : std::uint8_t { done, again, park };

template <class Derived, class T>
class LockedOp : public FdOp<T> {
 public:
  bool step(Waiter* w) noexcept;

 protected:
  using FdOp<T>::fd_;
  using FdOp<T>::res_;
  using FdOp<T>::mode_;
  LockedOp(FD* fd, Mode m) noexcept : FdOp<T>(fd, m) {}
  IoStatus start() noexcept { return IoStatus::again; }
  // When a park ended with readiness (or a recorded one made it unnecessary): IoStatus::again
  // makes the syscall; an operation that only waits (ReadableOp) may finish instead.
  IoStatus woken() noexcept { return IoStatus::again; }
  // True when start() will finish or park without the syscall: the PollDesc must then keep a
  // recorded readiness (check) instead of forgetting it (prepare), as nothing reads it.
  bool keeps_readiness() const noexcept { return false; }
  // After a failed syscall: EINTR makes the syscall again (step() calls io() again), EAGAIN
  // parks, anything else finishes with the error.
  IoStatus failed(int err) noexcept {
    if (err == EINTR) return IoStatus::again;
    if (err == EAGAIN || err == EWOULDBLOCK) return IoStatus::park;
    res_ = errno_code(err);
    return IoStatus::done;
  }

 private:
  using typename FdOp<T>::Locked;
  enum Phase : std::uint8_t { kLock, kIo, kPark, kParked, kDone };
  bool finish() noexcept {
    phase_ = kDone;
    this->unlock();
    return true;
  }
  bool fail(std::error_code ec) noexcept {
    res_ = ec;
    return finish();
  }
  Phase phase_ = kLock;
};

// Read, and the "drained" shortcut: a stream Read may park before making any syscall, relying
// on the edge-triggered poller to announce new bytes. The invariant that makes this sound:
//
//   FD::drained  =>  the read that set it left the receive queue empty, by the kernel's own
//                    account, and the read edge recorded since (PollDesc read slot) has not
//                    been consumed by anything but a read syscall.
//
// Then every byte readable now arrived after that read and its wakeup edge came after it: the
// edge is either recorded (the park returns at once) or still to come. A *short* read does not
// establish this, because reads stop early with bytes still queued, and those raise no new edge:
//   - TCP urgent data: Linux and the BSDs stop a read at the urgent mark (SO_OOBINLINE on or
//     off): the bytes after it wait for the peer's next segment, forever if it sends none;
//   - AF_UNIX streams stop after a message carrying descriptors (SCM_RIGHTS), between messages
//     from writers whose credentials differ (once the reader set SO_PASSCRED), and at an
//     AF_UNIX MSG_OOB mark (Linux 5.15+); SOCK_SEQPACKET ("unixpacket") returns one record per
//     read;
//   - SCTP one-to-one streams return one message per read; kernel TLS stops where the record
//     type changes; a BPF sockmap serves its own queue first;
//   - read(2) returns at most MAX_RW_COUNT (2 GiB - 4 KiB) bytes whatever the buffer.
// So drained is never inferred from the count. It is set only when the read itself carried the
// kernel's statement that it left 0 bytes queued (os::kReadInq, netpoll/platform/read_inq.h: TCP_INQ on
// Linux, asked for once per FD before its first read). A read without that statement — a
// socket that refused the option (AF_UNIX, SCTP, kernels before 4.18, every socket on systems
// without it), or a read whose reply had no such message (kernel TLS, sockmap, a control buffer
// truncated by options the user set) — is not drained: the next Read makes the syscall and
// parks only on EAGAIN, as Go's does. Causes that need nothing: a read racing new data (the
// statement counts it, or its edge comes after); SO_RCVLOWAT (the edge then comes at the low
// mark, as poll(2) would report it); MSG_PEEK (never used here); bytes taken through
// native_handle() (splice, TCP_ZEROCOPY_RECEIVE, read), which can only empty the queue further.
//
// The second half of the invariant: Go's prepare (forget a stale readiness before the syscall)
// runs only where a read syscall follows. An empty Read (it finishes at once, Go's len(p) == 0)
// and a drained Read (it parks first) keep the recorded edge (keeps_readiness): an empty Read
// between two reads used to forget the edge of bytes that then waited for a deadline.
// Also never drained once the poller reported the peer's FIN or an error (read_hangup): that
// state raises no further edge.
class ReadOp : public LockedOp<ReadOp, std::size_t> {
 public:
  ReadOp(FD* fd, std::span<std::byte> buf) noexcept : LockedOp(fd, kRead), buf_(buf) {}
  // Lock held.
  bool keeps_readiness() const noexcept { return buf_.empty() || parks_first(); }
  IoStatus start() noexcept;
  IoStatus io() noexcept;

  // FD::read_inq values.
  enum : std::uint8_t { kInqUnasked = 0, kInqReported, kInqUnavailable };

 private:
  bool parks_first() const noexcept { return fd_->drained && !fd_->pd()->read_hangup(); }
  // The read syscall; *left is the kernel's count of bytes left queued, or -1 if it gave none.
  ssize_t read_stream(int* left) noexcept;
  std::span<std::byte> buf_;
};

// Conn::Readable: waits, with no buffer, until a Read would find something. The drained
// shortcut applies as to a Read (parks at once, no syscall). Otherwise it asks the socket with
// a one-byte MSG_PEEK (bytes, or 0 at end of stream: finished; EAGAIN: park; an error is the
// result, since the receive that reports a socket error also clears it). It does not finish on
// the kernel's count of bytes a short Read left: bytes taken since through native_handle() (or
// an urgent byte the count includes and a read skips) would make that a wakeup with nothing
// there, and the Read after it would park holding the buffer Readable exists to spare. A readiness edge
// ends the park without a syscall: it announces bytes, the end of stream or an error. Having
// consumed that edge, it clears drained, so the next Read makes its syscall instead of parking
// on an edge already spent (the invariant in ReadOp's comment).
class ReadableOp : public LockedOp<ReadableOp, bool> {
 public:
  explicit ReadableOp(FD* fd) noexcept : LockedOp(fd, kRead) {}
  bool keeps_readiness() const noexcept { return parks_first(); }
  IoStatus start() noexcept;
  IoStatus io() noexcept;
  IoStatus woken() noexcept;
  std::error_code result() const noexcept { return res_.error(); }
  std::error_code fail_on_loop_thread() const noexcept { return Errc::would_deadlock; }

 private:
  bool parks_first() const noexcept { return fd_->drained && !fd_->pd()->read_hangup(); }
};

class WriteOp : public LockedOp<WriteOp, std::size_t> {
 public:
  WriteOp(FD* fd, std::span<const std::byte> buf) noexcept : LockedOp(fd, kWrite), buf_(buf) {}
  IoStatus start() noexcept;
  IoStatus io() noexcept;

 private:
  std::span<const std::byte> buf_;
  std::size_t done_ = 0;
};

// Gathered write of several buffers, in order, all of them (partial writes continue).
class WritevOp : public LockedOp<WritevOp, std::size_t> {
 public:
  WritevOp(FD* fd, GatherCursor::Buffers bufs) noexcept : LockedOp(fd, kWrite), cur_(bufs) {}
  IoStatus start() noexcept;
  IoStatus io() noexcept;

 private:
  GatherCursor cur_;  // persists across EINTR / EAGAIN retries
};

// accept4 (fallback accept + fcntl), ECONNABORTED retried. EMFILE/ENFILE: the pending clients
// are accepted with a reserve descriptor and closed at once (they see end of stream), then the
// Accept parks until the next client: no spin, and accepting resumes when descriptors free up.
class AcceptOp : public LockedOp<AcceptOp, Accepted> {
 public:
  // `family` is the listener's (the Windows AcceptOp makes the socket to accept into; here
  // accept4 makes it).
  AcceptOp(FD* fd, int /*family*/) noexcept : LockedOp(fd, kRead) {}
  IoStatus io() noexcept;
};

// Nonblocking connect: EINPROGRESS parks for writability, then SO_ERROR decides.
class ConnectOp : public LockedOp<ConnectOp, bool> {
 public:
  ConnectOp(FD* fd, const SockAddr& to) noexcept : LockedOp(fd, kWrite), to_(&to) {}
  IoStatus io() noexcept;

 private:
  const SockAddr* to_;
  bool started_ = false;
};

class RecvFromOp : public LockedOp<RecvFromOp, Datagram> {
 public:
  RecvFromOp(FD* fd, std::span<std::byte> buf) noexcept : LockedOp(fd, kRead), buf_(buf) {}
  IoStatus io() noexcept;

 private:
  std::span<std::byte> buf_;
};

class SendToOp : public LockedOp<SendToOp, std::size_t> {
 public:
  SendToOp(FD* fd, std::span<const std::byte> buf, const SockAddr& to) noexcept
      : LockedOp(fd, kWrite), buf_(buf), to_(to) {}
  IoStatus io() noexcept;

 private:
  std::span<const std::byte> buf_;
  SockAddr to_;
};

template <class Derived, class T>
bool LockedOp<Derived, T>::step(Waiter* w) noexcept {
  auto& self = *static_cast<Derived*>(this);
  // fd_->pd() is read only while this operation holds its lock (and so a reference): a closed
  // FD's last reference may be dropped on another thread, which releases the PollDesc.
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
        pd = fd_->pd();
        // Go's prepareRead / prepareWrite forgets a stale readiness before the syscall. An
        // operation that makes none now (an empty or drained read) must keep it instead: it
        // may be the edge for data that arrived after the last read. event_error means "ask
        // the socket".
        const std::error_code ec = self.keeps_readiness() ? pd->check(mode_) : pd->prepare(mode_);
        if (ec && ec != Errc::event_error) return fail(ec);
        IoStatus s = self.start();
        if (s == IoStatus::park && ec) s = IoStatus::again;
        switch (s) {
          case IoStatus::done: return finish();
          case IoStatus::again: phase_ = kIo; break;
          case IoStatus::park: phase_ = kPark; break;
        }
        break;
      }
      case kIo: {
        // No call once close() has begun (it closes the socket when the calls in flight end).
        if (!fd_->enter_io()) return fail(Errc::closed);
        const IoStatus s = self.io();
        // An error event with nothing to read: report the socket error rather than park
        // (the PollDesc would refuse the park and we would spin).
        const bool error_event = s == IoStatus::park && pd->check(mode_) == Errc::event_error;
        const std::error_code socket_ec = error_event ? fd_->socket_error() : std::error_code();
        fd_->exit_io();
        switch (s) {
          case IoStatus::done: return finish();
          case IoStatus::again: break;
          case IoStatus::park:
            if (error_event) return fail(socket_ec);
            phase_ = kPark;
            break;
        }
        break;
      }
      case kPark:
        if (pd->begin_park(mode_)) {  // readiness already recorded
          if (self.woken() == IoStatus::done) return finish();
          phase_ = kIo;
          break;
        }
        phase_ = kParked;
        if (pd->commit_park(mode_, w)) return false;
        break;  // refused: an event, close or deadline intervened; see why now
      case kParked: {
        const bool ready = pd->end_park(mode_);
        if (!ready) {
          const std::error_code ec = pd->check(mode_);
          if (ec && ec != Errc::event_error) return fail(ec);
          if (!ec) {  // woken by a deadline that was reset since: wait again
            phase_ = kPark;
            break;
          }
        } else if (self.woken() == IoStatus::done) {
          return finish();
        }
        phase_ = kIo;
        break;
      }
      case kDone:
        return true;
    }
  }
}

}  // namespace netpoll::net::readiness
