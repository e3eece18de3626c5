#include "test/test_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "test/posix_fd.h"

namespace netpoll::testing {
namespace {

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) fail("fcntl");
}

}  // namespace

TempDir::TempDir(const std::string& prefix) : path_("/tmp/" + prefix + "-XXXXXX") {
  if (::mkdtemp(path_.data()) == nullptr) fail("mkdtemp");
}

TempDir::~TempDir() { ::rmdir(path_.c_str()); }

Pair unix_pair() {
  int sv[2];
  if (socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv, /*nonblock=*/true) != 0) fail("socketpair");
  return {Fd(sv[0]), Fd(sv[1])};
}

Fd tcp_listener(std::uint16_t* port) {
  Fd l(socket_cloexec(AF_INET, SOCK_STREAM, 0, /*nonblock=*/true));
  if (l.get() < 0) fail("socket");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) fail("bind");
  if (listen(l.get(), 128) != 0) fail("listen");
  socklen_t len = sizeof sa;
  if (getsockname(l.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) fail("getsockname");
  if (port) *port = ntohs(sa.sin_port);
  return l;
}

Pair tcp_pair() {
  std::uint16_t port = 0;
  Fd l = tcp_listener(&port);
  Fd c(socket_cloexec(AF_INET, SOCK_STREAM, 0));
  if (c.get() < 0) fail("socket");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (connect(c.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) fail("connect");
  // The listener is non-blocking; a loopback connect has completed the handshake already, but
  // the accept queue entry may lag by a moment on a busy machine.
  int s = -1;
  for (int i = 0; i < 1000 && s < 0; ++i) {
    s = accept_cloexec(l.get(), nullptr, nullptr, /*nonblock=*/true);
    if (s < 0 && errno != EAGAIN) fail("accept");
    if (s < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (s < 0) fail("accept (timed out)");
  set_nonblock(c.get());
  int one = 1;
  setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return {std::move(c), Fd(s)};
}

std::size_t write_all(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::string drain(int fd, bool* eof) {
  std::string out;
  char buf[65536];
  if (eof) *eof = false;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      if (eof) *eof = true;
      return out;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return out;
    if (errno == ECONNRESET) {
      if (eof) *eof = true;
      return out;
    }
    fail("read");
  }
}

bool would_block_read(int fd) {
  char c;
  ssize_t n = ::read(fd, &c, 1);
  if (n > 0) throw std::logic_error("would_block_read consumed a byte");
  return n < 0 && errno == EAGAIN;
}

void close_with_reset(Fd& fd) {
  linger lg{1, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  fd.reset();
}

std::uint32_t flags_for(const std::vector<Event>& evs, Token token, int* count) {
  std::uint32_t f = 0;
  int c = 0;
  for (const Event& e : evs)
    if (e.token == token) {
      f |= e.flags;
      ++c;
    }
  if (count) *count = c;
  return f;
}

}  // namespace netpoll::testing
