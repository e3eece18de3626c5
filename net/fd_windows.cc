#include "net/fd_windows.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "net/sock.h"

namespace netpoll::net {

namespace {

// One WSABUF carries at most this much. Winsock's lengths are 32-bit; a larger buffer is sent
// or read in several calls, as a short read or a partial send would be.
constexpr std::size_t kMaxWsaBuf = std::numeric_limits<ULONG>::max() / 2 + 1;

WSABUF wsabuf(const std::byte* p, std::size_t n) noexcept {
  return WSABUF{static_cast<ULONG>(std::min(n, kMaxWsaBuf)),
                reinterpret_cast<char*>(const_cast<std::byte*>(p))};
}

// A datagram longer than the buffer: the buffer is full and the rest is dropped, which POSIX
// reports as a short read, not an error.
bool truncated(DWORD err) noexcept { return err == WSAEMSGSIZE || err == ERROR_MORE_DATA; }

// The Winsock extension functions, looked up once per process (they are the same for every
// TCP socket of the default provider).
template <class Fn>
Fn extension(SOCKET s, GUID id) noexcept {
  Fn fn = nullptr;
  DWORD n = 0;
  if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn, sizeof fn, &n,
               nullptr, nullptr) != 0)
    return nullptr;
  return fn;
}

LPFN_ACCEPTEX accept_ex(SOCKET s) noexcept {
  static const LPFN_ACCEPTEX fn = extension<LPFN_ACCEPTEX>(s, WSAID_ACCEPTEX);
  return fn;
}
LPFN_GETACCEPTEXSOCKADDRS get_accept_ex_sockaddrs(SOCKET s) noexcept {
  static const LPFN_GETACCEPTEXSOCKADDRS fn =
      extension<LPFN_GETACCEPTEXSOCKADDRS>(s, WSAID_GETACCEPTEXSOCKADDRS);
  return fn;
}
LPFN_CONNECTEX connect_ex(SOCKET s) noexcept {
  static const LPFN_CONNECTEX fn = extension<LPFN_CONNECTEX>(s, WSAID_CONNECTEX);
  return fn;
}

}  // namespace

// --- read / write ------------------------------------------------------------------------------

IoStatus ReadOp::start() noexcept {
  if (buf_.empty()) {  // Go: a zero-length read returns at once (after the closed check)
    res_ = std::size_t{0};
    return IoStatus::done;
  }
  return IoStatus::again;
}

DWORD ReadOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  DWORD flags = 0;
  return WSARecv(fd_->sysfd(), &b, 1, bytes, &flags, ov, nullptr) == 0 ? 0 : last_error();
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

IoStatus WriteOp::start() noexcept {
  if (buf_.empty()) {
    res_ = std::size_t{0};
    return IoStatus::done;
  }
  return IoStatus::again;
}

DWORD WriteOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(buf_.data() + done_, buf_.size() - done_);
  return WSASend(fd_->sysfd(), &b, 1, bytes, 0, ov, nullptr) == 0 ? 0 : last_error();
}

IoStatus WriteOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error) return fail_with(error);  // bytes sent before an error are not reported (POSIX)
  done_ += bytes;
  if (done_ < buf_.size()) return IoStatus::again;
  res_ = done_;
  return IoStatus::done;
}

IoStatus WritevOp::start() noexcept {
  if (cur_.total() == 0) {
    res_ = std::size_t{0};
    return IoStatus::done;
  }
  return IoStatus::again;
}

DWORD WritevOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  // As many buffers per WSASend as the POSIX layer puts in one sendmsg.
  constexpr std::size_t kMaxBufs = 64;
  WSABUF bufs[kMaxBufs];
  DWORD cnt = 0;
  cur_.fill(kMaxBufs, [&](const std::byte* p, std::size_t n) { bufs[cnt++] = wsabuf(p, n); });
  return WSASend(fd_->sysfd(), bufs, cnt, bytes, 0, ov, nullptr) == 0 ? 0 : last_error();
}

IoStatus WritevOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error) return fail_with(error);
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

IoStatus AcceptOp::start() noexcept {
  const SOCKET ln = fd_->sysfd();
  if (!accept_ex(ln) || !get_accept_ex_sockaddrs(ln)) return fail_with(WSAEOPNOTSUPP);
  return new_socket();
}

DWORD AcceptOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  const BOOL ok = accept_ex(fd_->sysfd())(fd_->sysfd(), s_, addrs_, 0, kAddrSpace, kAddrSpace, bytes, ov);
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
  if (setsockopt(s_, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, reinterpret_cast<const char*>(&ln),
                 sizeof ln) != 0) {
    const DWORD err = last_error();
    os::close_socket(s_);
    s_ = kInvalidSocket;
    return fail_with(err);
  }
  sockaddr *local = nullptr, *remote = nullptr;
  INT local_len = 0, remote_len = 0;
  get_accept_ex_sockaddrs(ln)(addrs_, 0, kAddrSpace, kAddrSpace, &local, &local_len, &remote,
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
  if (!fd_->stream()) {  // a datagram "connection" only records the peer: never blocks
    if (connect(s, to_->get(), to_->len()) != 0) return fail_with(last_error());
    res_ = true;
    return IoStatus::done;
  }
  if (!connect_ex(s)) return fail_with(WSAEOPNOTSUPP);
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
  return connect_ex(s)(s, to_->get(), to_->len(), nullptr, 0, bytes, ov) ? 0 : last_error();
}

IoStatus ConnectOp::complete(DWORD, DWORD error) noexcept {
  if (error) return fail_with(error);
  // Without it getpeername, shutdown and getsockname fail on the socket.
  if (setsockopt(fd_->sysfd(), SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0)
    return fail_with(last_error());
  res_ = true;
  return IoStatus::done;
}

// --- datagrams ---------------------------------------------------------------------------------

DWORD RecvFromOp::call(OVERLAPPED* ov, DWORD* bytes) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  DWORD flags = 0;
  from_len_ = static_cast<INT>(SockAddr::capacity());
  const int r = WSARecvFrom(fd_->sysfd(), &b, 1, bytes, &flags, from_.get(), &from_len_, ov, nullptr);
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
  const int r = WSASendTo(fd_->sysfd(), &b, 1, bytes, 0, to_.empty() ? nullptr : to_.get(),
                          to_.len(), ov, nullptr);
  return r == 0 ? 0 : last_error();
}

IoStatus SendToOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error) return fail_with(error);
  res_ = static_cast<std::size_t>(bytes);
  return IoStatus::done;
}

}  // namespace netpoll::net
