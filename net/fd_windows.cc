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

IoStatus ReadOp::issue(OVERLAPPED* ov) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  DWORD n = 0, flags = 0;
  const int r = WSARecv(fd_->sysfd(), &b, 1, &n, &flags, ov, nullptr);
  if (r == 0 || (!fd_->stream() && truncated(static_cast<DWORD>(WSAGetLastError())))) {
    res_ = static_cast<std::size_t>(r == 0 ? n : b.len);
    return IoStatus::done;  // 0 bytes on a stream: end of stream
  }
  return issued(r);
}

IoStatus ReadOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error && !(truncated(error) && !fd_->stream())) return fail_with(error);
  res_ = static_cast<std::size_t>(bytes);
  return IoStatus::done;
}

IoStatus WriteOp::start() noexcept {
  if (buf_.empty()) {
    res_ = std::size_t{0};
    return IoStatus::done;
  }
  return IoStatus::again;
}

IoStatus WriteOp::sent(std::size_t n) noexcept {
  done_ += n;
  if (done_ < buf_.size()) return IoStatus::again;
  res_ = done_;
  return IoStatus::done;
}

IoStatus WriteOp::issue(OVERLAPPED* ov) noexcept {
  WSABUF b = wsabuf(buf_.data() + done_, buf_.size() - done_);
  DWORD n = 0;
  const int r = WSASend(fd_->sysfd(), &b, 1, &n, 0, ov, nullptr);
  return r == 0 ? sent(n) : issued(r);
}

IoStatus WriteOp::complete(DWORD bytes, DWORD error) noexcept {
  // Bytes sent before an error are not reported (as on POSIX).
  return error ? fail_with(error) : sent(bytes);
}

IoStatus WritevOp::start() noexcept {
  if (cur_.total() == 0) {
    res_ = std::size_t{0};
    return IoStatus::done;
  }
  return IoStatus::again;
}

IoStatus WritevOp::sent(std::size_t n) noexcept {
  cur_.advance(n);
  if (!cur_.done()) return IoStatus::again;
  res_ = cur_.total();
  return IoStatus::done;
}

IoStatus WritevOp::issue(OVERLAPPED* ov) noexcept {
  // As many buffers per WSASend as the POSIX layer puts in one sendmsg.
  constexpr std::size_t kMaxBufs = 64;
  WSABUF bufs[kMaxBufs];
  DWORD cnt = 0;
  cur_.fill(kMaxBufs, [&](const std::byte* p, std::size_t n) { bufs[cnt++] = wsabuf(p, n); });
  DWORD n = 0;
  const int r = WSASend(fd_->sysfd(), bufs, cnt, &n, 0, ov, nullptr);
  return r == 0 ? sent(n) : issued(r);
}

IoStatus WritevOp::complete(DWORD bytes, DWORD error) noexcept {
  return error ? fail_with(error) : sent(bytes);
}

// --- accept ------------------------------------------------------------------------------------

AcceptOp::~AcceptOp() {
  if (s_ != kInvalidSocket) os::close_socket(s_);
}

IoStatus AcceptOp::issue(OVERLAPPED* ov) noexcept {
  const SOCKET ln = fd_->sysfd();
  LPFN_ACCEPTEX fn = accept_ex(ln);
  if (!fn || !get_accept_ex_sockaddrs(ln)) return fail_with(static_cast<DWORD>(WSAEOPNOTSUPP));
  if (s_ == kInvalidSocket) {
    Result<NativeSocket> s = os::open_socket(family_, SOCK_STREAM);
    if (!s) {
      res_ = s.error();
      return IoStatus::done;
    }
    s_ = *s;
  }
  DWORD n = 0;
  if (fn(ln, s_, addrs_, 0, kAddrSpace, kAddrSpace, &n, ov)) return accepted();
  const int err = WSAGetLastError();
  if (err == ERROR_IO_PENDING) return IoStatus::pending;
  return complete(0, static_cast<DWORD>(err));
}

IoStatus AcceptOp::complete(DWORD, DWORD error) noexcept {
  if (!error) return accepted();
  os::close_socket(s_);  // a failed AcceptEx leaves the socket unusable for another one
  s_ = kInvalidSocket;
  // The client gave up before we took it: take the next (POSIX retries ECONNABORTED alike).
  if (error == ERROR_NETNAME_DELETED || error == WSAECONNRESET) return IoStatus::again;
  return fail_with(error);
}

IoStatus AcceptOp::accepted() noexcept {
  const SOCKET ln = fd_->sysfd();
  if (setsockopt(s_, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, reinterpret_cast<const char*>(&ln),
                 sizeof ln) != 0) {
    const DWORD err = static_cast<DWORD>(WSAGetLastError());
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

IoStatus ConnectOp::issue(OVERLAPPED* ov) noexcept {
  const SOCKET s = fd_->sysfd();
  if (!fd_->stream()) {  // a datagram "connection" only records the peer: never blocks
    if (connect(s, to_->get(), to_->len()) != 0) return fail_with(static_cast<DWORD>(WSAGetLastError()));
    res_ = true;
    return IoStatus::done;
  }
  LPFN_CONNECTEX fn = connect_ex(s);
  if (!fn) return fail_with(static_cast<DWORD>(WSAEOPNOTSUPP));
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
  DWORD n = 0;
  if (fn(s, to_->get(), to_->len(), nullptr, 0, &n, ov)) return connected();
  const int err = WSAGetLastError();
  if (err == ERROR_IO_PENDING) return IoStatus::pending;
  return fail_with(static_cast<DWORD>(err));
}

IoStatus ConnectOp::complete(DWORD, DWORD error) noexcept {
  return error ? fail_with(error) : connected();
}

IoStatus ConnectOp::connected() noexcept {
  // Without it getpeername, shutdown and getsockname fail on the socket.
  if (setsockopt(fd_->sysfd(), SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0)
    return fail_with(static_cast<DWORD>(WSAGetLastError()));
  res_ = true;
  return IoStatus::done;
}

// --- datagrams ---------------------------------------------------------------------------------

IoStatus RecvFromOp::issue(OVERLAPPED* ov) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  DWORD n = 0, flags = 0;
  from_len_ = static_cast<INT>(SockAddr::capacity());
  const int r = WSARecvFrom(fd_->sysfd(), &b, 1, &n, &flags, from_.get(), &from_len_, ov, nullptr);
  if (r == 0) return received(n);
  const DWORD err = static_cast<DWORD>(WSAGetLastError());
  if (truncated(err)) return received(b.len);
  return issued(r);
}

IoStatus RecvFromOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error && !truncated(error)) return fail_with(error);
  return received(bytes);
}

IoStatus RecvFromOp::received(DWORD bytes) noexcept {
  from_.set_len(from_len_);
  res_ = Datagram{static_cast<std::size_t>(bytes), from_};
  return IoStatus::done;
}

IoStatus SendToOp::issue(OVERLAPPED* ov) noexcept {
  WSABUF b = wsabuf(buf_.data(), buf_.size());
  DWORD n = 0;
  const int r = WSASendTo(fd_->sysfd(), &b, 1, &n, 0, to_.empty() ? nullptr : to_.get(),
                          to_.len(), ov, nullptr);
  if (r != 0) return issued(r);
  res_ = static_cast<std::size_t>(n);
  return IoStatus::done;
}

IoStatus SendToOp::complete(DWORD bytes, DWORD error) noexcept {
  if (error) return fail_with(error);
  res_ = static_cast<std::size_t>(bytes);
  return IoStatus::done;
}

}  // namespace netpoll::net
