// Close-on-exec (and optionally non-blocking) descriptors for the POSIX tests, helpers and
// examples, on every POSIX system: Linux's one-call flags (SOCK_CLOEXEC / SOCK_NONBLOCK,
// accept4) where the platform layer has them (netpoll/platform/socket_posix.h), else the call
// followed by fcntl, which macOS needs. pipe_cloexec is pipe + fcntl everywhere (macOS has no
// pipe2); a test spawning children while another thread makes a pipe is the only window, and
// no test does that. Each returns what the underlying call returns (-1 and errno on failure;
// nothing is left open then).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include "netpoll/platform/socket.h"

namespace netpoll::testing {

// Sets FD_CLOEXEC, and O_NONBLOCK if asked; false (errno set) if fcntl fails.
inline bool set_cloexec(int fd, bool nonblock = false) {
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return false;
  if (!nonblock) return true;
  const int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

namespace posix_fd_detail {
inline int finish(int fd, bool nonblock) {
  if (fd < 0 || set_cloexec(fd, nonblock)) return fd;
  const int e = errno;
  ::close(fd);
  errno = e;
  return -1;
}
// Both of a new pair, or neither: on failure both are closed.
inline int finish_pair(int fds[2], bool nonblock) {
  for (int i = 0; i < 2; ++i) {
    if (set_cloexec(fds[i], nonblock)) continue;
    const int e = errno;
    ::close(fds[0]), ::close(fds[1]);
    errno = e;
    return -1;
  }
  return 0;
}
inline int type_flags(bool nonblock) {
  return net::kSockCloexec | (nonblock ? net::kSockNonblock : 0);
}
}  // namespace posix_fd_detail

inline int socket_cloexec(int domain, int type, int protocol, bool nonblock = false) {
  return posix_fd_detail::finish(
      ::socket(domain, type | posix_fd_detail::type_flags(nonblock), protocol), nonblock);
}

inline int socketpair_cloexec(int domain, int type, int protocol, int sv[2], bool nonblock = false) {
  if (::socketpair(domain, type | posix_fd_detail::type_flags(nonblock), protocol, sv) != 0) return -1;
  return posix_fd_detail::finish_pair(sv, nonblock);
}

inline int accept_cloexec(int fd, sockaddr* addr, socklen_t* len, bool nonblock = false) {
  int s = net::accept4_or_enosys(fd, addr, len, posix_fd_detail::type_flags(nonblock));
  if (s < 0 && errno == ENOSYS) s = ::accept(fd, addr, len);
  return posix_fd_detail::finish(s, nonblock);
}

inline int pipe_cloexec(int p[2], bool nonblock = false) {
  if (::pipe(p) != 0) return -1;
  return posix_fd_detail::finish_pair(p, nonblock);
}

}  // namespace netpoll::testing
