#include "netpoll/net/internal/fd_uring.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <utility>

#include "netpoll/net/internal/sock.h"
#include "netpoll/net/internal/sys_posix.h"

namespace netpoll::net::ring {

namespace {

// One ring call carries at most this much (its length field is 32 bits; read(2) stops at
// MAX_RW_COUNT anyway): a larger buffer is read or sent in several calls, as a short read or
// a partial send would be.
constexpr std::size_t kMaxCall = 0x7ffff000;

unsigned call_len(std::size_t n) noexcept { return static_cast<unsigned>(std::min(n, kMaxCall)); }

// A send that succeeded with nothing sent while bytes remain would repeat forever; the POSIX
// FD reports it as EIO.
IoStatus sent(int res, std::size_t* done, std::size_t total, Result<std::size_t>& out) noexcept {
  if (res == 0) {
    out = errno_code(EIO);
    return IoStatus::done;
  }
  *done += static_cast<std::size_t>(res);
  if (*done < total) return IoStatus::again;
  out = total;
  return IoStatus::done;
}

}  // namespace

// --- read / write ------------------------------------------------------------------------------

IoStatus ReadOp::start() noexcept {
  return finished_empty(buf_.size()) ? IoStatus::done : IoStatus::again;
}

void ReadOp::prepare(io_uring_sqe* sqe) noexcept {
  const int fd = fd_->sysfd();
  const unsigned len = call_len(buf_.size());
  // A descriptor that refused a receive (a Conn may hold a pipe: the examples' signal pipe) is
  // read with read(2), as the readiness FD reads it. A socket gets a receive: the kernel's read
  // path costs more per call (B2, 500 connections on one CPU: perf put the ring read at ~550 ns
  // of server CPU per round trip, the receive at ~400; alternating runs, ~2 % more round trips).
  if (fd_->read_inq == kNotSocket) {
    io_uring_prep_read(sqe, fd, buf_.data(), len, 0);
    return;
  }
  io_uring_prep_recv(sqe, fd, buf_.data(), len, 0);
}

IoStatus ReadOp::complete(int res) noexcept {
  if (res == -ENOTSOCK && fd_->read_inq != kNotSocket) {
    fd_->read_inq = kNotSocket;
    return IoStatus::again;
  }
  if (res < 0) return fail_with(-res);
  res_ = static_cast<std::size_t>(res);  // 0 on a stream: end of stream
  return IoStatus::done;
}

void ReadableOp::prepare(io_uring_sqe* sqe) noexcept {
  io_uring_prep_poll_add(sqe, fd_->sysfd(), POLLIN | POLLRDHUP);
}

IoStatus ReadableOp::complete(int res) noexcept {
  if (res < 0) return fail_with(-res);
  // An error is the answer, as the POSIX Readable's peek reports it (and clears it).
  if (res & POLLERR) {
    const std::error_code ec = os::pending_error(fd_->sysfd());
    if (ec) {
      res_ = ec;
      return IoStatus::done;
    }
  }
  res_ = true;
  return IoStatus::done;
}

IoStatus WriteOp::start() noexcept {
  return finished_empty(buf_.size()) ? IoStatus::done : IoStatus::again;
}

void WriteOp::prepare(io_uring_sqe* sqe) noexcept {
  // MSG_NOSIGNAL: a library must not raise SIGPIPE in its host.
  io_uring_prep_send(sqe, fd_->sysfd(), buf_.data() + done_, call_len(buf_.size() - done_),
                     MSG_NOSIGNAL);
}

IoStatus WriteOp::complete(int res) noexcept {
  if (res < 0) return fail_with(-res);
  return sent(res, &done_, buf_.size(), res_);
}

IoStatus WritevOp::start() noexcept {
  return finished_empty(cur_.total()) ? IoStatus::done : IoStatus::again;
}

void WritevOp::prepare(io_uring_sqe* sqe) noexcept {
  std::size_t cnt = 0;
  cur_.fill(kMaxIov, [&](const std::byte* p, std::size_t n) {
    iov_[cnt++] = iovec{const_cast<std::byte*>(p), n};
    return true;
  });
  msg_ = msghdr{};
  msg_.msg_iov = iov_;
  msg_.msg_iovlen = cnt;
  io_uring_prep_sendmsg(sqe, fd_->sysfd(), &msg_, MSG_NOSIGNAL);
}

IoStatus WritevOp::complete(int res) noexcept {
  if (res < 0) return fail_with(-res);
  if (res == 0) return fail_with(EIO);
  cur_.advance(static_cast<std::size_t>(res));
  if (!cur_.done()) return IoStatus::again;
  res_ = cur_.total();
  return IoStatus::done;
}

// --- accept ------------------------------------------------------------------------------------

void AcceptOp::prepare(io_uring_sqe* sqe) noexcept {
  peer_.set_len(SockAddr::capacity());
  io_uring_prep_accept(sqe, fd_->sysfd(), peer_.get(), peer_.len_ptr(), SOCK_NONBLOCK | SOCK_CLOEXEC);
}

IoStatus AcceptOp::complete(int res) noexcept {
  if (res >= 0) {
    Accepted a;
    a.sysfd = res;
    a.peer = peer_;
    res_ = std::move(a);
    return IoStatus::done;
  }
  const int err = -res;
  if (err == ECONNABORTED || err == EINTR) return IoStatus::again;  // the client gave up
  // As the POSIX AcceptOp: shed the clients there is no descriptor for, then wait for the next
  // one (a poll for input, then the accept again: a ring accept would fail again at once)
  // rather than make a retrying caller spin.
  if ((err == EMFILE || err == ENFILE) && os::shed_pending(fd_->sysfd())) return IoStatus::poll;
  return fail_with(err);
}

void AcceptOp::discard(int res) noexcept { sys.close(res); }

// --- connect -----------------------------------------------------------------------------------

IoStatus ConnectOp::start() noexcept {
  if (fd_->stream()) return IoStatus::again;
  // A datagram socket's connect only sets its peer: it never blocks.
  if (sys.connect(fd_->sysfd(), to_->get(), to_->len()) != 0) return fail_with(errno);
  res_ = true;
  return IoStatus::done;
}

void ConnectOp::prepare(io_uring_sqe* sqe) noexcept {
  // The kernel copies the address when it takes the SQE; the caller's lives until then.
  io_uring_prep_connect(sqe, fd_->sysfd(), to_->get(), to_->len());
}

IoStatus ConnectOp::complete(int res) noexcept {
  if (res < 0 && res != -EISCONN) return fail_with(-res);
  res_ = true;
  return IoStatus::done;
}

// --- datagrams ---------------------------------------------------------------------------------

void RecvFromOp::prepare(io_uring_sqe* sqe) noexcept {
  iov_ = iovec{buf_.data(), buf_.size()};
  msg_ = msghdr{};
  msg_.msg_name = from_.get();
  msg_.msg_namelen = SockAddr::capacity();
  msg_.msg_iov = &iov_;
  msg_.msg_iovlen = 1;
  io_uring_prep_recvmsg(sqe, fd_->sysfd(), &msg_, 0);
}

IoStatus RecvFromOp::complete(int res) noexcept {
  if (res < 0) return fail_with(-res);
  Datagram d;
  d.size = static_cast<std::size_t>(res);  // a truncated datagram: the buffer's size, as recvfrom
  from_.set_len(msg_.msg_namelen);
  d.from = from_;
  res_ = std::move(d);
  return IoStatus::done;
}

void SendToOp::prepare(io_uring_sqe* sqe) noexcept {
  iov_ = iovec{const_cast<std::byte*>(buf_.data()), buf_.size()};
  msg_ = msghdr{};
  if (!to_.empty()) {
    msg_.msg_name = to_.get();
    msg_.msg_namelen = to_.len();
  }
  msg_.msg_iov = &iov_;
  msg_.msg_iovlen = 1;
  io_uring_prep_sendmsg(sqe, fd_->sysfd(), &msg_, MSG_NOSIGNAL);
}

IoStatus SendToOp::complete(int res) noexcept {
  if (res < 0) return fail_with(-res);
  res_ = static_cast<std::size_t>(res);
  return IoStatus::done;
}

}  // namespace netpoll::net::ring

namespace netpoll::net {

// --- close -------------------------------------------------------------------------------------

void hand_over_filled_calls(FD& fd) noexcept {
  if (fd.ring_calls.load(std::memory_order_acquire) == 0) return;  // an epoll Loop's FD
  fd.loop().netpoll().backend().uring().flush_submissions();
}

void release_kernel_calls(FD& fd) noexcept {
  // Issued calls were counted before their SQE could be filled, and close_socket waited for
  // the ones being filled: a count of 0 here means the kernel holds none.
  if (fd.ring_calls.load(std::memory_order_acquire) == 0) return;
  // On the polling thread the kernel lets go before close() returns (the address is free).
  if (fd.loop().netpoll().backend().uring().cancel_descriptor(fd.sysfd(), Loop::current() == &fd.loop()))
    return;
  // Elsewhere it cannot wait for the polling thread (a Close must not wait on the Loop): the
  // operations close() woke each cancel their own call by its address as they step (on their
  // threads, or on the Loop's, which the wake reaches), and the socket goes with the last of
  // them, a moment later. A listener is shut down now, so its address is free when Close
  // returns (it leaves the listening state; the next listener binds with SO_REUSEADDR).
  int listening = 0;
  socklen_t len = sizeof listening;
  if (sys.getsockopt(fd.sysfd(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
    (void)sys.shutdown(fd.sysfd(), SHUT_RD);
}

}  // namespace netpoll::net
