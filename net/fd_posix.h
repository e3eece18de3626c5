// The POSIX operations on an FD (net/fd.h) as state machines: take the direction's lock,
// make the syscall, park on EAGAIN until readiness / deadline / close (Operation<Op> makes them
// awaitable or blocking).
//
// Edge-triggered discipline (architecture.md): no epoll_ctl after open(); writes go straight
// to the socket and park only on EAGAIN; a short stream read means the socket is drained, so
// the next read parks at once instead of spending a read(2) on EAGAIN.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "core/poll_desc.h"
#include "net/fd.h"
#include "net/fd_mutex.h"
#include "net/gather.h"
#include "net/loop.h"
#include "net/sockaddr.h"
#include "poller/result.h"

namespace netpoll::net {

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
  bool parks_first() const noexcept { return false; }
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

class ReadOp : public LockedOp<ReadOp, std::size_t> {
 public:
  ReadOp(FD* fd, std::span<std::byte> buf) noexcept : LockedOp(fd, kRead), buf_(buf) {}
  // Lock held. A drained stream parks before reading, unless the peer's FIN or an error was
  // reported: those are not consumed by a short read and raise no further edge.
  bool parks_first() const noexcept {
    return fd_->drained && !buf_.empty() && !fd_->pd()->read_hangup();
  }
  IoStatus start() noexcept;
  IoStatus io() noexcept;

 private:
  std::span<std::byte> buf_;
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
        // operation that parks first (a drained stream) must keep it instead: it may be the
        // edge for data that arrived after the short read. event_error means "ask the socket".
        const bool parks_first = self.parks_first();
        const std::error_code ec = parks_first ? pd->check(mode_) : pd->prepare(mode_);
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
        }
        phase_ = kIo;
        break;
      }
      case kDone:
        return true;
    }
  }
}

}  // namespace netpoll::net
