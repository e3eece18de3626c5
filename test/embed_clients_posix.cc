// The embedding tests' clients on plain blocking POSIX sockets (embed_common.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/embed_common.h"

namespace netpoll::embed_test {

// --- clients (plain threads, plain blocking sockets) ------------------------------------------

namespace {
// A connected blocking TCP socket whose every call times out after kClientTimeout; -1 on error
// (`err` says why).
int connect_loopback(std::uint16_t port, std::string& err) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  timeval tv{};
  tv.tv_sec = kClientTimeout.count();
  // SO_SNDTIMEO also bounds connect(2) on Linux.
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    err = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// send(MSG_NOSIGNAL): a server that dies must fail the test, not SIGPIPE the process.
bool send_all(int fd, const void* p, std::size_t n, std::string& err) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = std::string("send: ") + (w < 0 ? std::strerror(errno) : "returned 0");
      return false;
    }
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; false on error, timeout or early end of stream.
bool recv_all(int fd, void* p, std::size_t n, std::string& err) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::recv(fd, c, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      err = r == 0 ? "recv: early end of stream"
                   : std::string("recv: ") + std::strerror(errno) +
                         (errno == EAGAIN ? " (client timeout: the server stopped answering)" : "");
      return false;
    }
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// After our half-close the server must close too: the next recv is 0.
bool expect_eof(int fd, std::string& err) {
  char b;
  for (;;) {
    const ssize_t r = ::recv(fd, &b, 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return true;
    err = r > 0 ? "unexpected byte after the echo" : std::string("recv at end: ") + std::strerror(errno);
    return false;
  }
}
}  // namespace

std::string echo_client(std::uint16_t port, int conns, std::size_t bytes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out, in;
  for (int i = 0; i < conns; ++i) {
    std::string err;
    const int fd = connect_loopback(port, err);
    if (fd < 0) return err;
    std::size_t sent = 0;
    bool ok = true;
    while (ok && sent < bytes) {
      // 1..8 KiB: crosses the server's 1500-byte buffer both ways.
      const std::size_t chunk = std::min<std::size_t>(bytes - sent, 1 + rng() % 8192);
      out.resize(chunk);
      in.assign(chunk, 0);
      for (auto& b : out) b = static_cast<unsigned char>(rng());
      ok = send_all(fd, out.data(), chunk, err) && recv_all(fd, in.data(), chunk, err);
      if (ok && in != out) {
        err = "echo differs at byte " + std::to_string(sent);
        ok = false;
      }
      sent += chunk;
    }
    if (ok && ::shutdown(fd, SHUT_WR) != 0) {
      err = std::string("shutdown: ") + std::strerror(errno);
      ok = false;
    }
    if (ok) ok = expect_eof(fd, err);
    ::close(fd);
    if (!ok) return "connection " + std::to_string(i) + ": " + err;
  }
  return "";
}

std::string silent_client(std::uint16_t port) {
  std::string err;
  const int fd = connect_loopback(port, err);
  if (fd < 0) return err;
  char got[4];
  const bool ok = recv_all(fd, got, sizeof got, err) &&
                  (std::memcmp(got, "done", 4) == 0 || (err = "expected \"done\"", false)) &&
                  send_all(fd, "bye", 3, err) && expect_eof(fd, err);
  ::close(fd);
  return ok ? "" : err;
}

double thread_cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

std::string burst_close_client(std::uint16_t port, int conns, const std::atomic<int>& accepted,
                               std::atomic<bool>& closed) {
  std::vector<int> fds;
  std::string err;
  for (int i = 0; i < conns && err.empty(); ++i) {
    const int fd = connect_loopback(port, err);
    if (fd >= 0) fds.push_back(fd);
  }
  const auto give_up = Clock::now() + kClientTimeout;
  while (err.empty() && accepted.load(std::memory_order_acquire) < conns) {
    if (Clock::now() >= give_up) err = "the server accepted only " + std::to_string(accepted.load()) + " connections";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int fd : fds) ::close(fd);
  closed.store(true, std::memory_order_release);
  return err;
}

}  // namespace netpoll::embed_test
