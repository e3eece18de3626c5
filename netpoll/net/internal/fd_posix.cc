#include "netpoll/net/internal/fd_posix.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

#include "netpoll/net/internal/sock.h"
#include "netpoll/platform/read_inq.h"
#include "netpoll/net/internal/sys_posix.h"
#include "netpoll/contract/error.h"

namespace netpoll::net::readiness {

namespace {
bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }
}  // namespace

// --- read / write ------------------------------------------------------------------------------

IoStatus ReadOp::start() noexcept {
  if (finished_empty(buf_.size())) return IoStatus::done;
  return parks_first() ? IoStatus::park : IoStatus::again;
}

// Before its first read a stream FD asks the kernel to state, in every read, the bytes left
// queued (one setsockopt per connection; refused by non-TCP sockets and kernels without it,
// and a failure only costs the shortcut). Then a read is recvmsg with room for exactly that
// statement; other FDs use read(2).
ssize_t ReadOp::read_stream(int* left) noexcept {
  *left = -1;
  if (fd_->read_inq == kInqUnasked) {
    const int on = 1;
    fd_->read_inq = os::kReadInq && sys.setsockopt(fd_->sysfd(), os::kReadInqLevel,
                                                   os::kReadInqOption, &on, sizeof on) == 0
                        ? kInqReported
                        : kInqUnavailable;
  }
  if (fd_->read_inq != kInqReported) return sys.read(fd_->sysfd(), buf_.data(), buf_.size());
  iovec iov{buf_.data(), buf_.size()};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = sys.recvmsg(fd_->sysfd(), &msg, 0);
  if (n <= 0) return n;
  // Only a complete statement counts; MSG_CTRUNC (timestamps the user enabled took the room)
  // or no message at all (kernel TLS, sockmap) leaves *left at -1: not drained.
  // musl's CMSG_NXTHDR compares a size_t with a socklen_t on 32-bit targets: a warning in the
  // libc's macro, not in this loop.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == os::kReadInqLevel && c->cmsg_type == os::kReadInqMessage &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
      std::memcpy(left, CMSG_DATA(c), sizeof(int));
  }
#pragma GCC diagnostic pop
  return n;
}

IoStatus ReadOp::io() noexcept {
  int left = -1;
  const ssize_t n = fd_->stream() ? read_stream(&left) : sys.read(fd_->sysfd(), buf_.data(), buf_.size());
  if (n < 0) {
    fd_->drained = false;
    return failed(errno);
  }
  // Drained only on the kernel's word that nothing is left (see ReadOp); never from the count,
  // and never at end of stream (a zero read, reported as 0).
  fd_->drained = n > 0 && left == 0;
  res_ = static_cast<std::size_t>(n);
  return IoStatus::done;
}

IoStatus ReadableOp::start() noexcept { return parks_first() ? IoStatus::park : IoStatus::again; }

IoStatus ReadableOp::io() noexcept {
  std::byte b;
  iovec iov{&b, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (sys.recvmsg(fd_->sysfd(), &msg, MSG_PEEK) < 0) return failed(errno);
  res_ = true;  // bytes, or (0) the end of stream: a Read returns at once either way
  return IoStatus::done;
}

IoStatus ReadableOp::woken() noexcept {
  fd_->drained = false;
  res_ = true;
  return IoStatus::done;
}

IoStatus WriteOp::start() noexcept {
  return finished_empty(buf_.size()) ? IoStatus::done : IoStatus::again;
}

IoStatus WriteOp::io() noexcept {
  while (done_ < buf_.size()) {
    // send(kSendNoSignal: MSG_NOSIGNAL), not write(2): a library must not raise SIGPIPE in its host.
    const ssize_t n = sys.send(fd_->sysfd(), buf_.data() + done_, buf_.size() - done_, kSendNoSignal);
    if (n > 0) {
      done_ += static_cast<std::size_t>(n);
      continue;
    }
    // Bytes written before an error are not reported (as with a reset). done_ persists, so
    // an EINTR retry resumes where it stopped.
    return failed(n == 0 ? EIO : errno);
  }
  res_ = done_;
  return IoStatus::done;
}

IoStatus WritevOp::start() noexcept {
  return finished_empty(cur_.total()) ? IoStatus::done : IoStatus::again;
}

IoStatus WritevOp::io() noexcept {
  // Up to this many iovecs per sendmsg; the kernel's limit (IOV_MAX) is 1024.
  constexpr std::size_t kMaxIov = 64;
  while (!cur_.done()) {
    iovec iov[kMaxIov];
    std::size_t cnt = 0;
    cur_.fill(kMaxIov, [&](const std::byte* p, std::size_t n) {
      iov[cnt++] = iovec{const_cast<std::byte*>(p), n};
      return true;
    });
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = cnt;
    const ssize_t n = sys.sendmsg(fd_->sysfd(), &msg, kSendNoSignal);
    if (n <= 0) return failed(n == 0 ? EIO : errno);
    cur_.advance(static_cast<std::size_t>(n));
  }
  res_ = cur_.total();
  return IoStatus::done;
}

// --- accept ------------------------------------------------------------------------------------

namespace {
int accept_fallback(int fd, sockaddr* sa, socklen_t* len) noexcept {
  const int c = sys.accept(fd, sa, len);
  if (c < 0) return c;
  if (sys.fcntl_setfd(c, FD_CLOEXEC) != 0 || sys.fcntl_setfl(c, O_NONBLOCK | O_RDWR) != 0) {
    const int err = errno;
    sys.close(c);
    errno = err;
    return -1;
  }
  return c;
}
}  // namespace


IoStatus AcceptOp::io() noexcept {
  for (;;) {
    Accepted a;
    a.peer.set_len(SockAddr::capacity());
    int c = sys.accept4(fd_->sysfd(), a.peer.get(), a.peer.len_ptr(), kSockNonblock | kSockCloexec);
    if (c < 0 && (errno == ENOSYS || errno == EINVAL)) {
      // Kernels without accept4 (or refusing its flags): accept + fcntl (Go's fallback).
      a.peer.set_len(SockAddr::capacity());
      c = accept_fallback(fd_->sysfd(), a.peer.get(), a.peer.len_ptr());
    }
    if (c >= 0) {
      a.sysfd = c;
      res_ = std::move(a);
      return IoStatus::done;
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;  // the client gave up: take the next
    if (would_block(err)) return IoStatus::park;
    // Linux allocates the new descriptor before looking at the queue, so EMFILE comes back
    // even when nobody is waiting. Shed the clients we cannot take; once the queue is empty,
    // park for the next one as libuv does (returning the error would make a retrying caller
    // spin). The error is reported only if shedding itself found no descriptor.
    if ((err == EMFILE || err == ENFILE) && os::shed_pending(fd_->sysfd())) return IoStatus::park;
    res_ = errno_code(err);
    return IoStatus::done;
  }
}

// --- connect -----------------------------------------------------------------------------------

IoStatus ConnectOp::io() noexcept {
  if (!started_) {
    started_ = true;
    for (;;) {
      if (sys.connect(fd_->sysfd(), to_->get(), to_->len()) == 0) {
        res_ = true;
        return IoStatus::done;
      }
      const int err = errno;
      // EINTR: the connect goes on in the background (POSIX); wait for it like EINPROGRESS.
      if (err == EINPROGRESS || err == EALREADY || err == EINTR) return IoStatus::park;
      if (err == EISCONN) {
        res_ = true;
        return IoStatus::done;
      }
      res_ = errno_code(err);
      return IoStatus::done;
    }
  }
  // Woken for writability (or an error event): SO_ERROR has the connect's outcome.
  int err = 0;
  socklen_t len = sizeof err;
  if (sys.getsockopt(fd_->sysfd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  switch (err) {
    case 0:
    case EISCONN: {
      // Writable with no error can still be a spurious wake on some systems; Go confirms with
      // getpeername. ENOTCONN means still connecting.
      SockAddr p;
      p.set_len(SockAddr::capacity());
      if (sys.getpeername(fd_->sysfd(), p.get(), p.len_ptr()) == 0) {
        res_ = true;
        return IoStatus::done;
      }
      if (errno == ENOTCONN) return IoStatus::park;
      res_ = errno_code(errno);
      return IoStatus::done;
    }
    case EINPROGRESS:
    case EALREADY:
    case EINTR:
      return IoStatus::park;
    default:
      res_ = errno_code(err);
      return IoStatus::done;
  }
}

// --- datagrams ---------------------------------------------------------------------------------

IoStatus RecvFromOp::io() noexcept {
  Datagram d;
  d.from.set_len(SockAddr::capacity());
  const ssize_t n = sys.recvfrom(fd_->sysfd(), buf_.data(), buf_.size(), 0, d.from.get(),
                                 d.from.len_ptr());
  if (n < 0) return failed(errno);
  d.size = static_cast<std::size_t>(n);
  res_ = std::move(d);
  return IoStatus::done;
}

IoStatus SendToOp::io() noexcept {
  const ssize_t n = sys.sendto(fd_->sysfd(), buf_.data(), buf_.size(), kSendNoSignal,
                               to_.empty() ? nullptr : to_.get(), to_.len());
  if (n < 0) return failed(errno);
  res_ = static_cast<std::size_t>(n);
  return IoStatus::done;
}

}  // namespace netpoll::net::readiness
