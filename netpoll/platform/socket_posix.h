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

// SIGPIPE: the net layer sends with kSendNoSignal (MSG_NOSIGNAL) on every send, sendmsg and
// sendto, which Linux, FreeBSD and Darwin (XNU's send paths) all honour. Darwin also raises
// SIGPIPE on write(2) / writev(2), which a program may call on a Conn's native_handle(); its
// per-socket SO_NOSIGPIPE covers those too, so there the net layer sets kSoNoSigpipe on every
// socket it opens (accepted sockets inherit it). 0 elsewhere: nothing to set.
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

// SO_REUSEPORT (ListenConfig::reuse_port): on Linux every socket of the same user that sets
// it may bind the same address and the kernel spreads connections (and datagrams) over them;
// on macOS and the BSDs several sockets that all set it may bind it, and a new one takes the
// connections (datagrams: multicast goes to all). 0 where the OS has none.
#if defined(SO_REUSEPORT)
inline constexpr int kReusePortOption = SO_REUSEPORT;
#else
inline constexpr int kReusePortOption = 0;
#endif
// Whether the kernel spreads new connections over the listeners sharing a port with
// SO_REUSEPORT (net::LoopGroup relies on it to use every Loop): Linux does (a hash of each
// connection's addresses and ports); macOS and the BSDs give them to one listener.
#if defined(__linux__)
inline constexpr bool kReusePortSpreads = true;
#else
inline constexpr bool kReusePortSpreads = false;
#endif

// TCP keep-alive timing, IPPROTO_TCP options in seconds (ListenConfig / Dialer keep_alive):
// the idle time before the first probe (TCP_KEEPIDLE on Linux and the BSDs; Darwin calls it
// TCP_KEEPALIVE) and the time between probes (TCP_KEEPINTVL). 0 where the OS has no such
// option: then only SO_KEEPALIVE is set and the system's timing applies.
#if defined(TCP_KEEPIDLE)
inline constexpr int kTcpKeepIdleOption = TCP_KEEPIDLE;
#elif defined(__APPLE__) && defined(TCP_KEEPALIVE)
inline constexpr int kTcpKeepIdleOption = TCP_KEEPALIVE;
#else
inline constexpr int kTcpKeepIdleOption = 0;
#endif
#if defined(TCP_KEEPINTVL)
inline constexpr int kTcpKeepIntervalOption = TCP_KEEPINTVL;
#else
inline constexpr int kTcpKeepIntervalOption = 0;
#endif

// The kernel's cap on a listen backlog, as configured (0: unknown): Linux's
// /proc/sys/net/core/somaxconn; FreeBSD's kern.ipc.soacceptqueue (kern.ipc.somaxconn is its
// old alias); macOS's kern.ipc.somaxconn. socket_posix.cc.
long system_somaxconn() noexcept;

}  // namespace netpoll::net
