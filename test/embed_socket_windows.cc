// embed_socket.h on blocking Winsock sockets.
#include "test/embed_socket.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <algorithm>

#include "test/embed_common.h"

namespace netpoll::embed_test {

namespace sock {
namespace {
std::string error_of(const char* call) {
  const int e = WSAGetLastError();
  return std::string(call) + ": Winsock error " + std::to_string(e) +
         (e == WSAETIMEDOUT ? " (client timeout: the server stopped answering)" : "");
}
SOCKET raw(Handle s) { return static_cast<SOCKET>(s); }
// One call moves at most this much (send/recv take an int).
constexpr std::size_t kMaxCall = std::size_t{1} << 20;
}  // namespace

Handle connect_loopback(std::uint16_t port, std::string& err) {
  // The Loop has started Winsock; starting it again here only counts.
  static const int started = [] {
    WSADATA d;
    return WSAStartup(MAKEWORD(2, 2), &d);
  }();
  if (started != 0) {
    err = "WSAStartup failed: " + std::to_string(started);
    return kInvalid;
  }
  const SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET) {
    err = error_of("socket");
    return kInvalid;
  }
  const DWORD ms = static_cast<DWORD>(std::chrono::milliseconds(kClientTimeout).count());
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&ms), sizeof ms);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&ms), sizeof ms);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    err = error_of("connect");
    closesocket(s);
    return kInvalid;
  }
  return static_cast<Handle>(s);
}

long send_some(Handle s, const void* p, std::size_t n, std::string& err) {
  const int w = send(raw(s), static_cast<const char*>(p), static_cast<int>(std::min(n, kMaxCall)), 0);
  if (w < 0) err = error_of("send");
  return w;
}

long recv_some(Handle s, void* p, std::size_t n, std::string& err) {
  const int r = recv(raw(s), static_cast<char*>(p), static_cast<int>(std::min(n, kMaxCall)), 0);
  if (r < 0) err = error_of("recv");
  return r;
}

bool shutdown_write(Handle s, std::string& err) {
  if (shutdown(raw(s), SD_SEND) == 0) return true;
  err = error_of("shutdown");
  return false;
}

void close(Handle s) { closesocket(raw(s)); }
}  // namespace sock

}  // namespace netpoll::embed_test
