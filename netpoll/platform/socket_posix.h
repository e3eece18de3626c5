// The socket vocabulary of the portable net layer, POSIX half (netpoll/platform/socket.h
// chooses it): the OS headers, the native socket type and the shutdown directions.
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdio>

#if defined(__APPLE__) || defined(__FreeBSD__)
#include <sys/sysctl.h>
#endif

namespace netpoll::net {

using NativeSocket = int;
inline constexpr NativeSocket kInvalidSocket = -1;
inline constexpr int kShutRead = SHUT_RD;
inline constexpr int kShutWrite = SHUT_WR;

// socket(2) / accept4(2) type flags where the OS has them (Linux, the BSDs); 0 where it does
// not (macOS), and then the net layer sets close-on-exec and non-blocking with fcntl after the
// call, as it does for a kernel that refuses the flags.
// accept4_or_enosys is accept4(2) where the OS has it; elsewhere it fails with ENOSYS, which
// the net layer answers with accept + fcntl, as for a kernel without the call.
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
inline constexpr int kSockCloexec = SOCK_CLOEXEC;
inline constexpr int kSockNonblock = SOCK_NONBLOCK;
inline int accept4_or_enosys(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return ::accept4(fd, addr, len, flags);
}
#else
inline constexpr int kSockCloexec = 0;
inline constexpr int kSockNonblock = 0;
inline int accept4_or_enosys(int, sockaddr*, socklen_t*, int) {
  errno = ENOSYS;
  return -1;
}
#endif

// SIGPIPE: the net layer sends with kSendNoSignal (MSG_NOSIGNAL) on every call, which Linux and
// FreeBSD honour. Darwin's kernel documents only the per-socket SO_NOSIGPIPE, so there every
// socket the net layer opens or accepts also gets kSoNoSigpipe; 0 elsewhere: nothing to set.
#if defined(MSG_NOSIGNAL)
inline constexpr int kSendNoSignal = MSG_NOSIGNAL;
#else
inline constexpr int kSendNoSignal = 0;
#endif
#if defined(__APPLE__)
inline constexpr int kSoNoSigpipe = SO_NOSIGPIPE;
#else
inline constexpr int kSoNoSigpipe = 0;
#endif

// Unix socket names starting with '@' are Linux's abstract namespace (Go spells them so).
// Elsewhere '@' is an ordinary first character of a path.
#if defined(__linux__)
inline constexpr bool kAbstractUnixNames = true;
#else
inline constexpr bool kAbstractUnixNames = false;
#endif

// The kernel's cap on a listen backlog, as configured (0: unknown): Linux's
// /proc/sys/net/core/somaxconn, the BSDs' and macOS's kern.ipc.somaxconn sysctl.
inline long system_somaxconn() noexcept {
#if defined(__APPLE__) || defined(__FreeBSD__)
  int v = 0;
  size_t len = sizeof v;
  return ::sysctlbyname("kern.ipc.somaxconn", &v, &len, nullptr, 0) == 0 ? v : 0;
#else
  std::FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "re");
  if (!f) return 0;
  long v = 0;
  const int got = std::fscanf(f, "%ld", &v);
  std::fclose(f);
  return got == 1 ? v : 0;
#endif
}

}  // namespace netpoll::net
