// embed_socket.h on POSIX sockets.
#include "test/embed_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "test/embed_common.h"
#include "test/posix_fd.h"

namespace netpoll::embed_test {

namespace sock {
namespace {
std::string error_of(const char* call) {
  return std::string(call) + ": " + std::strerror(errno) +
         (errno == EAGAIN ? " (client timeout: the server stopped answering)" : "");
}
}  // namespace

Handle connect_loopback(std::uint16_t port, std::string& err) {
  const int fd = testing::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    err = error_of("socket");
    return kInvalid;
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
    err = error_of("connect");
    ::close(fd);
    return kInvalid;
  }
  return fd;
}

long send_some(Handle s, const void* p, std::size_t n, std::string& err) {
  for (;;) {
    // MSG_NOSIGNAL: a server that dies must fail the test, not SIGPIPE the process.
    const ssize_t w = ::send(static_cast<int>(s), p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) err = error_of("send");
    return static_cast<long>(w);
  }
}

long recv_some(Handle s, void* p, std::size_t n, std::string& err) {
  for (;;) {
    const ssize_t r = ::recv(static_cast<int>(s), p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) err = error_of("recv");
    return static_cast<long>(r);
  }
}

bool shutdown_write(Handle s, std::string& err) {
  if (::shutdown(static_cast<int>(s), SHUT_WR) == 0) return true;
  err = error_of("shutdown");
  return false;
}

void close(Handle s) { ::close(static_cast<int>(s)); }
}  // namespace sock

}  // namespace netpoll::embed_test
