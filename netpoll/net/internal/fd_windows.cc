#include "netpoll/net/internal/fd_windows.h"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <utility>

#include "netpoll/net/internal/sock.h"
#include "netpoll/net/internal/sys_windows.h"
#include "netpoll/contract/error.h"

namespace netpoll::net {

namespace {

// One call carries at most this much, in one WSABUF or several: Winsock's lengths and byte
// counts are 32-bit. A larger buffer is sent or read in several calls, as a short read or a
// partial send would be.
constexpr std::size_t kMaxWsaBuf = std::numeric_limits<ULONG>::max() / 2 + 1;

WSABUF wsabuf(const std::byte* p, std::size_t n) noexcept {
  return WSABUF{static_cast<ULONG>(std::min(n, kMaxWsaBuf)),
                reinterpret_cast<char*>(const_cast<std::byte*>(p))};
}

// A datagram longer than the buffer: the buffer is full and the rest is dropped, which POSIX
// reports as a short read, not an error.
bool truncated(DWORD err) noexcept { return err == WSAEMSGSIZE || err == ERROR_MORE_DATA; }

// A send that succeeded with nothing sent while bytes remain would repeat forever; POSIX
// reports the same case (send returning 0) as EIO.
IoStatus nothing_sent(Result<std::size_t>& res) noexcept {
  res = errno_code(EIO);
  return IoStatus::done;
}

}  // namespace

// --- read / write ------------------------------------------------------------------------------

IoStatus ReadOp::start() noexcept {
  return finished_empty(buf_.size()) ? IoStatus::done : IoStatus::again;
}

DWORD ReadOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  DWORD flags = 0;
  return sys.wsa_recv(fd_->sysfd(), &b, 1, bytes, &flags, ov, nullptr) == 0 ? 0 : last_error();
}

IoStatus ReadOp::complete(DWORD bytes, DWORD error) noexcept {
  if (!fd_->stream() && truncated(error)) {  // the buffer is full; POSIX reports its size
    res_ = std::min(buf_.size(), kMaxWsaBuf);
    return IoStatus::done;
  }
  if (error) return fail_with(error);
  res_ = static_cast<std::size_t>(bytes);  // 0 on a stream: end of stream
  return IoStatus::done;
}

IoStatus ReadableOp::start() noexcept {
  if (fd_->stream()) return IoStatus::again;
  res_ = std::make_error_code(std::errc::operation_not_supported);
  return IoStatus::done;
}

DWORD ReadableOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(nullptr, 0);
  DWORD flags = 0;
  return sys.wsa_recv(fd_->sysfd(), &b, 1, bytes, &flags, ov, nullptr) == 0 ? 0 : last_error();
}

IoStatus ReadableOp::complete(DWORD /*bytes*/, DWORD error) noexcept {
  if (error) return fail_with(error);
  res_ = true;
  return IoStatus::done;
}

IoStatus WriteOp::start() noexcept {
  return finished_empty(buf_.size()) ? IoStatus::done : IoStatus::again;
}

DWORD WriteOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(buf_.data() + done_, buf_.size() - done_);
  return sys.wsa_send(fd_->sysfd(), &b, 1, bytes, 0, ov, nullptr) == 0 ? 0 : last_error();
}

IoStatus WriteOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error) return fail_with(error);  // bytes sent before an error are not reported (POSIX)
  if (bytes == 0) return nothing_sent(res_);
  done_ += bytes;
  if (done_ < buf_.size()) return IoStatus::again;
  res_ = done_;
  return IoStatus::done;
}

IoStatus WritevOp::start() noexcept {
  return finished_empty(cur_.total()) ? IoStatus::done : IoStatus::again;
}

DWORD WritevOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  // As many buffers per WSASend as the POSIX layer puts in one sendmsg.
  constexpr std::size_t kMaxBufs = 64;
  WSABUF bufs[kMaxBufs];
  DWORD cnt = 0;
  std::size_t total = 0;
  // Pieces in order, up to kMaxWsaBuf in all: a piece cut short ends the call, so what is sent
  // is always a prefix of what is left (the cursor advances by the count as a prefix).
  cur_.fill(kMaxBufs, [&](const std::byte* p, std::size_t n) {
    const std::size_t take = std::min(n, kMaxWsaBuf - total);
    bufs[cnt++] = wsabuf(p, take);
    total += take;
    return take == n && total < kMaxWsaBuf;
  });
  return sys.wsa_send(fd_->sysfd(), bufs, cnt, bytes, 0, ov, nullptr) == 0 ? 0 : last_error();
}

IoStatus WritevOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error) return fail_with(error);
  if (bytes == 0) return nothing_sent(res_);
  cur_.advance(bytes);
  if (!cur_.done()) return IoStatus::again;
  res_ = cur_.total();
  return IoStatus::done;
}

// --- accept ------------------------------------------------------------------------------------

AcceptOp::~AcceptOp() {
  if (s_ != kInvalidSocket) os::close_socket(s_);
}

IoStatus AcceptOp::new_socket() noexcept {
  Result<NativeSocket> s = os::open_socket(family_, SOCK_STREAM);
  if (!s) {
    res_ = s.error();
    return IoStatus::done;
  }
  s_ = *s;
  return IoStatus::again;
}

IoStatus AcceptOp::start() noexcept { return new_socket(); }

DWORD AcceptOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  const BOOL ok = sys.accept_ex(fd_->sysfd(), s_, addrs_, 0, kAddrSpace, kAddrSpace, bytes, ov);
  return ok ? 0 : last_error();
}

IoStatus AcceptOp::complete(DWORD, DWORD error) noexcept {
  if (!error) return accepted();
  os::close_socket(s_);  // a failed AcceptEx leaves the socket unusable for another one
  s_ = kInvalidSocket;
  // The client gave up before we took it: take the next (POSIX retries ECONNABORTED alike).
  if (error == ERROR_NETNAME_DELETED || error == WSAECONNRESET) return new_socket();
  return fail_with(error);
}

IoStatus AcceptOp::accepted() noexcept {
  const SOCKET ln = fd_->sysfd();
  if (sys.setsockopt(s_, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, reinterpret_cast<const char*>(&ln),
                     sizeof ln) != 0) {
    const DWORD err = last_error();
    os::close_socket(s_);
    s_ = kInvalidSocket;
    return fail_with(err);
  }
  sockaddr *local = nullptr, *remote = nullptr;
  INT local_len = 0, remote_len = 0;
  accept_ex_addresses(ln, addrs_, kAddrSpace, kAddrSpace, &local, &local_len, &remote,
                      &remote_len);
  Accepted a;
  a.sysfd = std::exchange(s_, kInvalidSocket);
  if (remote) a.peer = SockAddr::from(remote, remote_len);
  res_ = std::move(a);
  return IoStatus::done;
}

// --- connect -----------------------------------------------------------------------------------

IoStatus ConnectOp::start() noexcept {
  const SOCKET s = fd_->sysfd();
  // ConnectEx is for TCP. A datagram "connection" only records the peer, and a Unix-domain
  // connect has no handshake to wait for: connect() returns at once for both (as in Go).
  const bool ip = to_->family() == AF_INET || to_->family() == AF_INET6;
  if (!fd_->stream() || !ip) {
    if (sys.connect(s, to_->get(), to_->len()) != 0) return fail_with(last_error());
    res_ = true;
    return IoStatus::done;
  }
  // ConnectEx requires a bound socket; the wildcard of the target's family, port 0.
  Result<SockAddr> any = SockAddr::ip("", 0, to_->family());
  if (!any) {
    res_ = any.error();
    return IoStatus::done;
  }
  if (auto ec = os::bind(s, *any); ec && ec != std::errc::invalid_argument) {  // EINVAL: bound
    res_ = ec;
    return IoStatus::done;
  }
  return IoStatus::again;
}

DWORD ConnectOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  const SOCKET s = fd_->sysfd();
  return sys.connect_ex(s, to_->get(), to_->len(), nullptr, 0, bytes, ov) ? 0 : last_error();
}

IoStatus ConnectOp::complete(DWORD, DWORD error) noexcept {
  if (error) return fail_with(error);
  // Without it getpeername, shutdown and getsockname fail on the socket.
  if (sys.setsockopt(fd_->sysfd(), SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0)
    return fail_with(last_error());
  res_ = true;
  return IoStatus::done;
}

// --- datagrams ---------------------------------------------------------------------------------

DWORD RecvFromOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  DWORD flags = 0;
  from_len_ = static_cast<INT>(SockAddr::capacity());
  const int r = sys.wsa_recv_from(fd_->sysfd(), &b, 1, bytes, &flags, from_.get(), &from_len_, ov, nullptr);
  return r == 0 ? 0 : last_error();
}

IoStatus RecvFromOp::complete(DWORD bytes, DWORD error) noexcept {
  std::size_t n = bytes;
  if (truncated(error)) n = std::min(buf_.size(), kMaxWsaBuf);  // full buffer, rest dropped
  else if (error) return fail_with(error);
  from_.set_len(from_len_);
  res_ = Datagram{n, from_};
  return IoStatus::done;
}

DWORD SendToOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  const int r = sys.wsa_send_to(fd_->sysfd(), &b, 1, bytes, 0, to_.empty() ? nullptr : to_.get(),
                          to_.len(), ov, nullptr);
  return r == 0 ? 0 : last_error();
}

IoStatus SendToOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error) return fail_with(error);
  res_ = static_cast<std::size_t>(bytes);
  return IoStatus::done;
}

// os::close_socket cancels what is pending, and each operation waits for its packet.
void release_kernel_calls(FD&) noexcept {}
void hand_over_filled_calls(FD&) noexcept {}

}  // namespace netpoll::net
