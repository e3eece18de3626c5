// The Windows operations on an FD (netpoll/net/internal/fd.h) as state machines over overlapped Winsock calls
// and the IOCP backend (Go's internal/poll/fd_windows.go execIO):
//
//   lock the direction -> prepare the PollDesc -> issue the call with an OVERLAPPED tagged for
//   the descriptor's token (Poller::operation_type::begin)
//     immediate success: done, and no packet will come (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS;
//                     where skips_packet_on_success() is false, on datagram sockets and
//                     wherever a layered provider makes skipping unsafe, a packet does come,
//                     and it is waited for like a pending call's)
//     immediate failure: done (no packet is queued for a call that failed), except a datagram
//                     truncated at once (WSAEMSGSIZE: a warning status, whose packet comes)
//     WSA_IO_PENDING: park on the PollDesc exactly as EAGAIN parks on POSIX; the completion
//                     packet readies it (the completion backend turns it into an event for the direction)
//     woken by close or a deadline: CancelIoEx, then park for the packet whatever close and
//                     deadlines say (PollDesc::commit_park_for_completion): the kernel owns the
//                     OVERLAPPED and the buffers until the packet was dequeued (docs/testing.md
//                     case 24). A call that completed before the cancel keeps its result.
//   -> unlock.
//
// The OVERLAPPED and every buffer the kernel writes (AcceptEx addresses, a sender's address)
// live in the operation object, which Operation<Op> keeps in place until the last step: no
// allocation per operation, and nothing outlives the packet it waits for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "netpoll/core/poll_desc.h"
#include "netpoll/net/internal/fd.h"
#include "netpoll/net/internal/gather.h"
#include "netpoll/runtime/loop.h"
#include "netpoll/platform/socket.h"
#include "netpoll/net/internal/sockaddr.h"
#include "netpoll/net/internal/winsock_error.h"
#include "netpoll/contract/error.h"
#include "netpoll/platform/poller.h"
#include "netpoll/contract/result.h"

namespace netpoll::net {

// The operations below are written against the completion model of the contract
// (netpoll/contract/backend.h), through the selected Poller only.
static_assert(CompletionBackend<Poller>, "the Windows FD needs a completion backend");

// Whether a call on a socket that succeeds at once queues no completion packet. One rule for
// both sides: os::registered (net_windows.cc) sets the socket's mode by it when the FD opens,
// and the operations read it to know whether to wait for a packet. Stream sockets only (on a
// datagram socket a truncated receive may still queue one), and only where skipping is safe.
inline bool skips_packet_on_success(bool stream) noexcept {
  return stream && Poller::completion_skipping_safe();
}

// What the outcome of a call leaves the operation to do.
enum class IoStatus : std::uint8_t {
  done,   // res_ is set
  again,  // make another call (a partial send, a client that reset before it was accepted)
};

template <class Derived, class T>
class OverlappedOp : public FdOp<T> {
 public:
  bool step(Waiter* w) noexcept;

 protected:
  using FdOp<T>::fd_;
  using FdOp<T>::res_;
  using FdOp<T>::mode_;
  OverlappedOp(FD* fd, Mode m) noexcept : FdOp<T>(fd, m) {}
  // After the lock: IoStatus::done to finish without a call (empty buffers, a setup error).
  IoStatus start() noexcept { return IoStatus::again; }
  // Derived provides:
  //   DWORD call(OVERLAPPED* ov, DWORD* bytes)    make the overlapped call: 0 if it completed
  //                                               at once (*bytes set), WSA_IO_PENDING, or
  //                                               the error it failed with at once
  //   IoStatus complete(DWORD bytes, DWORD error) the outcome, however it arrived
  static DWORD last_error() noexcept { return static_cast<DWORD>(WSAGetLastError()); }
  IoStatus fail_with(DWORD err) noexcept {
    res_ = winsock_error(err);
    return IoStatus::done;
  }

 private:
  using typename FdOp<T>::Locked;
  enum Phase : std::uint8_t { kLock, kIssue, kPark, kParked, kComplete, kDrain, kDrainParked, kDrained,
                         kDone };
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
  bool next(IoStatus s) noexcept;  // after complete(): finish, or make the next call
  // complete() under enter_io (it may call on the socket: SO_UPDATE_*_CONTEXT), then next().
  bool complete_and_next(DWORD bytes, DWORD error) noexcept {
    if (!fd_->enter_io()) return fail(Errc::closed);
    return complete_and_next_locked(bytes, error);
  }
  // The same, entered already: exits before next() (which may finish and free the FD).
  bool complete_and_next_locked(DWORD bytes, DWORD error) noexcept {
    const IoStatus s = static_cast<Derived*>(this)->complete(bytes, error);
    fd_->exit_io();
    return next(s);
  }

  Poller::operation_type iop_;
  std::error_code cancelled_;  // why the call was cancelled (closed / deadline exceeded)
  Phase phase_ = kLock;
};

class ReadOp : public OverlappedOp<ReadOp, std::size_t> {
 public:
  ReadOp(FD* fd, std::span<std::byte> buf) noexcept : OverlappedOp(fd, kRead), buf_(buf) {}
  IoStatus start() noexcept;
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;

 private:
  std::span<std::byte> buf_;
};

// Conn::Readable: a zero-byte overlapped WSARecv, which completes once the stream has bytes
// (or its end, or an error) and takes none: the idle connection holds no buffer in the kernel
// either (libuv's zero reads). A zero-byte receive on a datagram socket would consume and drop
// the datagram, so there it fails with operation_not_supported without a call.
class ReadableOp : public OverlappedOp<ReadableOp, bool> {
 public:
  explicit ReadableOp(FD* fd) noexcept : OverlappedOp(fd, kRead) {}
  IoStatus start() noexcept;
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;
  std::error_code result() const noexcept { return res_.error(); }
  std::error_code fail_on_loop_thread() const noexcept { return Errc::would_deadlock; }
};

class WriteOp : public OverlappedOp<WriteOp, std::size_t> {
 public:
  WriteOp(FD* fd, std::span<const std::byte> buf) noexcept : OverlappedOp(fd, kWrite), buf_(buf) {}
  IoStatus start() noexcept;
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;

 private:
  std::span<const std::byte> buf_;
  std::size_t done_ = 0;
};

// Gathered write of several buffers, in order, all of them (partial sends continue).
class WritevOp : public OverlappedOp<WritevOp, std::size_t> {
 public:
  WritevOp(FD* fd, GatherCursor::Buffers bufs) noexcept : OverlappedOp(fd, kWrite), cur_(bufs) {}
  IoStatus start() noexcept;
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;

 private:
  GatherCursor cur_;
};

// AcceptEx into a socket made beforehand (of the listener's family), then
// SO_UPDATE_ACCEPT_CONTEXT so getsockname / shutdown work on it. A client that reset before
// it was accepted (ERROR_NETNAME_DELETED / WSAECONNRESET) is skipped, as on POSIX.
class AcceptOp : public OverlappedOp<AcceptOp, Accepted> {
 public:
  AcceptOp(FD* fd, int family) noexcept : OverlappedOp(fd, kRead), family_(family) {}
  AcceptOp(const AcceptOp&) = delete;
  AcceptOp& operator=(const AcceptOp&) = delete;
  ~AcceptOp();
  IoStatus start() noexcept;  // makes the socket to accept into
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;

 private:
  // AcceptEx wants room for each address plus 16 bytes.
  static constexpr DWORD kAddrSpace = sizeof(sockaddr_storage) + 16;
  IoStatus accepted() noexcept;
  IoStatus new_socket() noexcept;
  int family_;
  NativeSocket s_ = kInvalidSocket;  // the socket being accepted into, until handed over
  alignas(8) char addrs_[2 * kAddrSpace];
};

// ConnectEx on a stream socket (bound to the wildcard first, as ConnectEx requires), then
// SO_UPDATE_CONNECT_CONTEXT. A datagram socket connects with connect(), which never blocks.
class ConnectOp : public OverlappedOp<ConnectOp, bool> {
 public:
  ConnectOp(FD* fd, const SockAddr& to) noexcept : OverlappedOp(fd, kWrite), to_(&to) {}
  IoStatus start() noexcept;  // datagrams connect here; streams bind for ConnectEx
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;

 private:
  const SockAddr* to_;
};

class RecvFromOp : public OverlappedOp<RecvFromOp, Datagram> {
 public:
  RecvFromOp(FD* fd, std::span<std::byte> buf) noexcept : OverlappedOp(fd, kRead), buf_(buf) {}
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;

 private:
  std::span<std::byte> buf_;
  SockAddr from_;  // written by the kernel until the packet
  INT from_len_ = 0;
};

class SendToOp : public OverlappedOp<SendToOp, std::size_t> {
 public:
  SendToOp(FD* fd, std::span<const std::byte> buf, const SockAddr& to) noexcept
      : OverlappedOp(fd, kWrite), buf_(buf), to_(to) {}
  DWORD call(OVERLAPPED* ov, DWORD* bytes) noexcept;
  IoStatus complete(DWORD bytes, DWORD error) noexcept;

 private:
  std::span<const std::byte> buf_;
  SockAddr to_;
};

// --- the machine ------------------------------------------------------------------------------

template <class Derived, class T>
bool OverlappedOp<Derived, T>::next(IoStatus s) noexcept {
  if (s == IoStatus::done) return finish();
  // Another call: close and deadlines are checked between calls, as before the first.
  const std::error_code ec = fd_->pd()->check(mode_);
  if (ec && ec != Errc::event_error) return fail(ec);
  phase_ = kIssue;
  return false;
}

template <class Derived, class T>
bool OverlappedOp<Derived, T>::step(Waiter* w) noexcept {
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
        // Every call on the socket is made between enter_io and exit_io: FD::close closes it
        // at once, waiting only for calls in flight (netpoll/net/internal/fd.h, Lifetime).
        if (!fd_->enter_io()) return fail(Errc::closed);
        const IoStatus s = self.start();
        fd_->exit_io();
        if (s == IoStatus::done) return finish();
        phase_ = kIssue;
        break;
      }
      case kIssue: {
        const std::uint32_t dir = mode_ == kRead ? Event::kReadable : Event::kWritable;
        DWORD bytes = 0;
        if (!fd_->enter_io()) return fail(Errc::closed);
        const DWORD r = self.call(iop_.begin(pd->token(), dir), &bytes);
        fd_->exit_io();
        // A packet will come for a pending call, for a success unless the socket skips it,
        // and for a datagram truncated at once (STATUS_BUFFER_OVERFLOW is a warning, which
        // skip-on-success does not cover: iocp_poller_test shows the packet).
        if (r == WSA_IO_PENDING || (r == 0 && !skips_packet_on_success(fd_->stream())) ||
            r == WSAEMSGSIZE || r == ERROR_MORE_DATA) {
          phase_ = kPark;
          break;
        }
        if (complete_and_next(bytes, r)) return true;  // done at once: no packet
        break;
      }
      case kPark:
        if (pd->begin_park(mode_)) {  // the packet was dispatched already
          phase_ = kComplete;
          break;
        }
        phase_ = kParked;
        if (pd->commit_park(mode_, w)) return false;
        break;  // refused: the packet, a close or a deadline intervened; see which now
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
        // Closed, past the deadline, or (never from the IOCP backend today) an error event.
        cancelled_ = ec == Errc::event_error ? fd_->socket_error() : ec;
        // ERROR_NOT_FOUND: it completed meanwhile; its packet is on the way all the same.
        // Anything else would leave the call, and this operation, waiting forever. A socket
        // already closed needs no cancel: closesocket cancelled every call pending on it.
        if (fd_->enter_io()) {
          const bool ok = CancelIoEx(reinterpret_cast<HANDLE>(fd_->sysfd()), iop_.overlapped()) ||
                          GetLastError() == ERROR_NOT_FOUND;
          fd_->exit_io();
          if (!ok) fatal("CancelIoEx failed on a pending socket operation");
        }
        phase_ = kDrain;
        break;
      }
      case kComplete: {
        // Only this call's own packet may end it: a wake while the OVERLAPPED is still the
        // kernel's (a stray packet) must not hand its memory back. Park again.
        if (!HasOverlappedIoCompleted(iop_.overlapped())) {
          phase_ = kPark;
          break;
        }
        // The outcome is read from the socket, and complete() may make calls on it: once it
        // is closed there is neither (the call was cancelled by the close, or its result is
        // dropped with the socket).
        if (!fd_->enter_io()) return fail(Errc::closed);
        const auto o = iop_.result(fd_->sysfd());
        const bool over = complete_and_next_locked(o.bytes, o.error);
        if (over) return true;
        break;
      }
      case kDrain:
        if (pd->begin_park(mode_)) {  // the packet was dispatched already
          phase_ = kDrained;
          break;
        }
        phase_ = kDrainParked;
        if (pd->commit_park_for_completion(mode_, w)) return false;
        break;  // refused: the packet arrived, or a close / deadline moved the slot
      case kDrainParked:
        // Woken by the packet, or by a close or deadline (those fire once each): park again.
        phase_ = pd->end_park(mode_) ? kDrained : kDrain;
        break;
      case kDrained: {
        if (!HasOverlappedIoCompleted(iop_.overlapped())) {  // as in kComplete
          phase_ = kDrain;
          break;
        }
        if (!fd_->enter_io()) return fail(cancelled_);  // closed since: see kComplete
        const auto o = iop_.result(fd_->sysfd());
        // Aborted, or failed on its own meanwhile: the cancel's reason is the answer.
        // It succeeded before the cancel took: keep what it did (bytes a read consumed must be
        // returned, a connection accepted must not be lost). A partial send stops here.
        const bool kept = !o.error && self.complete(o.bytes, 0) == IoStatus::done;
        fd_->exit_io();
        if (kept) return finish();
        return fail(cancelled_);
      }
      case kDone:
        return true;
    }
  }
}

}  // namespace netpoll::net
