#include "examples/test_socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "test/posix_fd.h"

namespace netpoll::examples::testing {

Fd dial(const std::string& addr) {
  const std::size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    errno = EINVAL;
    return Fd();
  }
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  // Numeric only: no resolver, one result.
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), addr.c_str() + colon + 1, &hints, &res) != 0) {
    errno = EINVAL;
    return Fd();
  }
  sockaddr_storage ss{};
  const socklen_t len = res->ai_addrlen;
  std::memcpy(&ss, res->ai_addr, len);
  ::freeaddrinfo(res);
  Fd s(netpoll::testing::socket_cloexec(ss.ss_family, SOCK_STREAM, 0));
  if (s.get() < 0) return Fd();
  const timeval tv{static_cast<time_t>(kTimeout.count()), 0};
  const int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int r;
  do r = ::connect(s.get(), reinterpret_cast<sockaddr*>(&ss), len);
  while (r < 0 && errno == EINTR);
  if (r != 0) return Fd();
  return s;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long recv_once(int fd, std::string& out, std::size_t max) {
  const std::size_t at = out.size();
  out.resize(at + max);
  ssize_t r;
  do r = ::recv(fd, out.data() + at, max, 0);
  while (r < 0 && errno == EINTR);
  out.resize(at + (r > 0 ? static_cast<std::size_t>(r) : 0));
  return r < 0 ? -1 : static_cast<long>(r);
}

std::size_t recv_some(int fd, std::size_t n, std::string& out) {
  std::size_t got = 0;
  char buf[16384];
  while (got < n) {
    const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - got), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
    got += static_cast<std::size_t>(r);
  }
  return got;
}

std::string recv_to_eof(int fd, bool* eof) {
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      *eof = r == 0;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(r));
  }
}

}  // namespace netpoll::examples::testing
