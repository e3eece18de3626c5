// Winsock helpers for the IOCP tests (test-only).
#pragma once

#include <winsock2.h>
#include <ws2tcpip.h>

#include "netpoll/backends/iocp/iocp_poller.h"
#include "doctest/doctest.h"
#include "test/portable_util.h"

namespace netpoll::testing {

// Winsock is started once per process and never cleaned up, as a library would: under wine,
// WSACleanup after a test that cancelled operations hung the process in about 1 run of 10.
struct Winsock {
  Winsock() {
    static const int started = [] {
      WSADATA d;
      return WSAStartup(MAKEWORD(2, 2), &d);
    }();
    REQUIRE(started == 0);
  }
};

inline SOCKET overlapped_socket() {
  SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  REQUIRE(s != INVALID_SOCKET);
  return s;
}

// A connected loopback TCP pair made with blocking calls (overlapped sockets allow them).
struct Pair {
  SOCKET a = INVALID_SOCKET, b = INVALID_SOCKET;
  Pair() {
    SOCKET l = overlapped_socket();
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(l, 4) == 0);
    int len = sizeof addr;
    REQUIRE(getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    a = overlapped_socket();
    REQUIRE(connect(a, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    b = accept(l, nullptr, nullptr);
    REQUIRE(b != INVALID_SOCKET);
    closesocket(l);
  }
  ~Pair() {
    if (a != INVALID_SOCKET) closesocket(a);
    if (b != INVALID_SOCKET) closesocket(b);
  }
};

// Starts an overlapped receive into `buf`; returns WSA_IO_PENDING or 0 (done at once).
inline int start_recv(SOCKET s, IocpOperation& op, Token t, char* buf, ULONG len) {
  WSABUF wb{len, buf};
  DWORD flags = 0;
  if (WSARecv(s, &wb, 1, nullptr, &flags, op.begin(t, Event::kReadable), nullptr) == 0) return 0;
  return WSAGetLastError();
}

inline int start_send(SOCKET s, IocpOperation& op, Token t, const char* buf, ULONG len) {
  WSABUF wb{len, const_cast<char*>(buf)};
  if (WSASend(s, &wb, 1, nullptr, 0, op.begin(t, Event::kWritable), nullptr) == 0) return 0;
  return WSAGetLastError();
}

// The portable suites' idle handle on IOCP: an unconnected overlapped socket.
template <>
struct IdleHandle<IocpPoller> {
  Winsock ws;
  SOCKET s = overlapped_socket();
  IdleHandle() = default;
  IdleHandle(const IdleHandle&) = delete;
  IdleHandle& operator=(const IdleHandle&) = delete;
  ~IdleHandle() { closesocket(s); }
  SOCKET get() const noexcept { return s; }
};

}  // namespace netpoll::testing
