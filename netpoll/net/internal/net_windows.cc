// The Windows half of the net layer: the os:: socket calls (netpoll/net/internal/sock.h) over Winsock, the
// listen backlog, and FileConn. Errors go through winsock_error, so they compare equal to the
// std::errc the POSIX layer returns for the same condition.
#include <string>

#include "netpoll/net/net.h"
#include "netpoll/net/internal/sock.h"
#include "netpoll/net/internal/sys_windows.h"
#include "netpoll/net/internal/winsock_error.h"

namespace netpoll::net {

namespace os {

namespace {
std::error_code last_error() noexcept { return winsock_error(static_cast<DWORD>(WSAGetLastError())); }
std::error_code check(int r) noexcept { return r == 0 ? std::error_code() : last_error(); }

Result<SockAddr> address(int(WSAAPI* get)(SOCKET, sockaddr*, int*), SOCKET s) noexcept {
  SockAddr a;
  a.set_len(SockAddr::capacity());
  if (get(s, a.get(), a.len_ptr()) != 0) return last_error();
  return a;
}
}  // namespace

namespace {
// Windows fails the next receive with WSAECONNRESET when an earlier datagram drew an ICMP
// port-unreachable; POSIX reports that only on a connected socket. Turned off, as Go does.
void udp_connreset_off(SOCKET s, int type) noexcept {
  if (type != SOCK_DGRAM) return;
  BOOL off = FALSE;
  DWORD n = 0;
  WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof off, nullptr, 0, &n, nullptr, nullptr);
}
}  // namespace

std::error_code startup() noexcept {
  // Once per process and never undone, as a library must: WSACleanup would pull Winsock from
  // under any other user in the process (and under wine, WSACleanup after cancelled
  // operations hung the process in about 1 test run of 10).
  static const int started = [] {
    WSADATA d;
    return WSAStartup(MAKEWORD(2, 2), &d);
  }();
  return winsock_error(static_cast<DWORD>(started));
}

void prepare_listener() noexcept {}

Result<NativeSocket> open_socket(int family, int type) noexcept {
  if (auto ec = startup()) return ec;
  // Overlapped (the only kind the completion port can drive) and not inherited by children.
  const SOCKET s = sys.wsa_socket(family, type, 0, nullptr, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return last_error();
  udp_connreset_off(s, type);
  return s;
}

std::error_code registered(NativeSocket s, bool stream) noexcept {
  if (!skips_packet_on_success(stream)) return {};
  return Poller::skip_completion_on_success(s);
}

void close_socket(NativeSocket s) noexcept {
  // Cancel what is pending first: each cancelled call queues its (aborted) packet, which the
  // operation that made it waits for (fd_windows.h). closesocket is documented to cancel them
  // itself, but under wine 8 operations pending at closesocket were never woken (case 7 of the
  // net suite hung with both a WSARecv and a WSASend pending) until this cancel came first.
  // ERROR_NOT_FOUND (nothing pending) is the common case.
  (void)CancelIoEx(reinterpret_cast<HANDLE>(s), nullptr);
  sys.closesocket(s);
}

std::error_code set_int(NativeSocket s, int level, int name, int value) noexcept {
  return check(sys.setsockopt(s, level, name, reinterpret_cast<const char*>(&value), sizeof value));
}
std::error_code bind(NativeSocket s, const SockAddr& a) noexcept {
  return check(sys.bind(s, a.get(), a.len()));
}
std::error_code listen(NativeSocket s) noexcept { return check(sys.listen(s, listener_backlog())); }
std::error_code listener_options(NativeSocket) noexcept { return {}; }
// SO_KEEPALIVE for getsockopt to read back, then the timing in milliseconds (u_long; capped).
std::error_code set_keep_alive(NativeSocket s, int seconds) noexcept {
  if (auto ec = set_int(s, SOL_SOCKET, SO_KEEPALIVE, seconds > 0 ? 1 : 0)) return ec;
  if (seconds <= 0) return {};
  constexpr int kMaxSeconds = 4'000'000;  // times 1000 still fits a 32-bit u_long
  const u_long ms = static_cast<u_long>(seconds > kMaxSeconds ? kMaxSeconds : seconds) * 1000u;
  tcp_keepalive ka{};
  ka.onoff = 1;
  ka.keepalivetime = ms;
  ka.keepaliveinterval = ms;
  DWORD n = 0;
  if (WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, sizeof ka, nullptr, 0, &n, nullptr, nullptr) != 0)
    return last_error();
  return {};
}
std::error_code shutdown(NativeSocket s, int how) noexcept { return check(sys.shutdown(s, how)); }
Result<SockAddr> local_address(NativeSocket s) noexcept { return address(sys.getsockname, s); }
Result<SockAddr> peer_address(NativeSocket s) noexcept { return address(sys.getpeername, s); }

std::error_code pending_error(NativeSocket s) noexcept {
  int err = 0;
  int len = sizeof err;
  if (sys.getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len) != 0) return last_error();
  return winsock_error(static_cast<DWORD>(err));
}

void at_fork(void (*)(), void (*)(), void (*)()) noexcept {}

// getaddrinfo returns Winsock codes (EAI_NONAME is WSAHOST_NOT_FOUND, ...).
std::error_code resolve_error(int r) noexcept { return winsock_error(static_cast<DWORD>(r)); }

}  // namespace os

int listener_backlog() noexcept { return SOMAXCONN; }

Result<Conn> FileConn(Loop& loop, NativeSocket s) {
  if (s == kInvalidSocket) return Errc::invalid_argument;
  if (auto ec = os::startup()) return ec;
  int type = 0, acc = 0;
  int len = sizeof type;
  if (sys.getsockopt(s, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len) != 0)
    return winsock_error(static_cast<DWORD>(WSAGetLastError()));  // not a socket: ENOTSOCK
  len = sizeof acc;
  if (sys.getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, reinterpret_cast<char*>(&acc), &len) == 0 && acc)
    return std::make_error_code(std::errc::invalid_argument);  // a listener is not a Conn
  Result<SockAddr> local = os::local_address(s);
  if (!local) return local.error();
  Result<SockAddr> peer = os::peer_address(s);  // none: an unconnected datagram socket
  Result<Network> n = network_of(local->family(), type);
  if (!n) return n.error();
  // As sockets netpoll makes: not inherited by child processes, no ICMP resets on UDP reads.
  if (!SetHandleInformation(reinterpret_cast<HANDLE>(s), HANDLE_FLAG_INHERIT, 0))
    return winsock_error(GetLastError());
  os::udp_connreset_off(s, type);
  // On error the socket stays the caller's (see the POSIX FileConn).
  Result<PackedAddr> plocal = PackedAddr::from(*local);
  Result<PackedAddr> ppeer = PackedAddr::from(peer ? *peer : SockAddr());
  if (!plocal) return plocal.error();
  if (!ppeer) return ppeer.error();
  Result<FD*> fd = FD::open(loop, s, type == SOCK_STREAM, /*adopt=*/true);
  if (!fd) return fd.error();
  return Conn(*fd, *n, std::move(*plocal), std::move(*ppeer));
}

}  // namespace netpoll::net
