// The embedding tests' clients on plain blocking Winsock sockets (embed_common.h): the same
// behaviour as embed_clients_posix.cc, in Winsock's terms.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/embed_common.h"

namespace netpoll::embed_test {

namespace {
std::string wsa_error(const char* call) {
  return std::string(call) + ": Winsock error " + std::to_string(WSAGetLastError());
}

// A connected blocking TCP socket whose receives and sends time out after kClientTimeout;
// INVALID_SOCKET on error (`err` says why). The Loop has started Winsock; starting it again
// here only counts.
SOCKET connect_loopback(std::uint16_t port, std::string& err) {
  static const int started = [] {
    WSADATA d;
    return WSAStartup(MAKEWORD(2, 2), &d);
  }();
  if (started != 0) {
    err = "WSAStartup failed: " + std::to_string(started);
    return INVALID_SOCKET;
  }
  const SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET) {
    err = wsa_error("socket");
    return INVALID_SOCKET;
  }
  const DWORD ms = static_cast<DWORD>(std::chrono::milliseconds(kClientTimeout).count());
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&ms), sizeof ms);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&ms), sizeof ms);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    err = wsa_error("connect");
    closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

bool send_all(SOCKET s, const void* p, std::size_t n, std::string& err) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const int w = send(s, c, static_cast<int>(std::min<std::size_t>(n, 1 << 20)), 0);
    if (w <= 0) {
      err = w < 0 ? wsa_error("send") : "send: returned 0";
      return false;
    }
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool recv_all(SOCKET s, void* p, std::size_t n, std::string& err) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const int r = recv(s, c, static_cast<int>(std::min<std::size_t>(n, 1 << 20)), 0);
    if (r <= 0) {
      err = r == 0 ? "recv: early end of stream"
                   : wsa_error("recv") + (WSAGetLastError() == WSAETIMEDOUT
                                              ? " (client timeout: the server stopped answering)"
                                              : "");
      return false;
    }
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool expect_eof(SOCKET s, std::string& err) {
  char b;
  const int r = recv(s, &b, 1, 0);
  if (r == 0) return true;
  err = r > 0 ? "unexpected byte after the echo" : wsa_error("recv at end");
  return false;
}
}  // namespace

std::string echo_client(std::uint16_t port, int conns, std::size_t bytes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out, in;
  for (int i = 0; i < conns; ++i) {
    std::string err;
    const SOCKET s = connect_loopback(port, err);
    if (s == INVALID_SOCKET) return err;
    std::size_t sent = 0;
    bool ok = true;
    while (ok && sent < bytes) {
      const std::size_t chunk = std::min<std::size_t>(bytes - sent, 1 + rng() % 8192);
      out.resize(chunk);
      in.assign(chunk, 0);
      for (auto& b : out) b = static_cast<unsigned char>(rng());
      ok = send_all(s, out.data(), chunk, err) && recv_all(s, in.data(), chunk, err);
      if (ok && in != out) {
        err = "echo differs at byte " + std::to_string(sent);
        ok = false;
      }
      sent += chunk;
    }
    if (ok && shutdown(s, SD_SEND) != 0) {
      err = wsa_error("shutdown");
      ok = false;
    }
    if (ok) ok = expect_eof(s, err);
    closesocket(s);
    if (!ok) return "connection " + std::to_string(i) + ": " + err;
  }
  return "";
}

std::string silent_client(std::uint16_t port) {
  std::string err;
  const SOCKET s = connect_loopback(port, err);
  if (s == INVALID_SOCKET) return err;
  char got[4];
  const bool ok = recv_all(s, got, sizeof got, err) &&
                  (std::string(got, 4) == "done" || (err = "expected \"done\"", false)) &&
                  send_all(s, "bye", 3, err) && expect_eof(s, err);
  closesocket(s);
  return ok ? "" : err;
}

double thread_cpu_ms() {
  FILETIME created, exited, kernel, user;
  if (!GetThreadTimes(GetCurrentThread(), &created, &exited, &kernel, &user)) return 0;
  const auto ticks = [](FILETIME f) {
    return (static_cast<std::uint64_t>(f.dwHighDateTime) << 32) | f.dwLowDateTime;
  };
  return static_cast<double>(ticks(kernel) + ticks(user)) / 1e4;  // 100 ns units
}

std::string burst_close_client(std::uint16_t port, int conns, const std::atomic<int>& accepted,
                               std::atomic<bool>& closed) {
  std::vector<SOCKET> socks;
  std::string err;
  for (int i = 0; i < conns && err.empty(); ++i) {
    const SOCKET s = connect_loopback(port, err);
    if (s != INVALID_SOCKET) socks.push_back(s);
  }
  const auto give_up = Clock::now() + kClientTimeout;
  while (err.empty() && accepted.load(std::memory_order_acquire) < conns) {
    if (Clock::now() >= give_up)
      err = "the server accepted only " + std::to_string(accepted.load()) + " connections";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (SOCKET s : socks) closesocket(s);
  closed.store(true, std::memory_order_release);
  return err;
}

}  // namespace netpoll::embed_test
