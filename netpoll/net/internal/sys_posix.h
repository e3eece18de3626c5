// The syscalls the POSIX net layer makes, reached through one table of function pointers (Go
// keeps socketFunc, accept4Func, ... as package variables for the same reason): a test swaps
// an entry to inject an errno (EMFILE, ECONNABORTED, EINTR, EAGAIN, ...) at an exact point.
//
// Every entry behaves as the libc call (returns -1 and sets errno). The table is read on every
// call and written only by tests, while no operation is in flight; HookGuard restores an entry.
// A hook runs inside the call's enter_io/exit_io bracket (netpoll/net/internal/fd.h): it must not Close the
// socket whose call it intercepts (Close waits for that very call to end).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "netpoll/net/internal/table_guard.h"
#include "netpoll/platform/socket.h"

namespace netpoll::net {

struct SysHooks {
  int (*socket)(int domain, int type, int protocol);
  int (*accept4)(int fd, sockaddr* addr, socklen_t* len, int flags);
  int (*accept)(int fd, sockaddr* addr, socklen_t* len);
  int (*connect)(int fd, const sockaddr* addr, socklen_t len);
  int (*bind)(int fd, const sockaddr* addr, socklen_t len);
  int (*listen)(int fd, int backlog);
  ssize_t (*read)(int fd, void* buf, size_t n);
  ssize_t (*recvmsg)(int fd, msghdr* msg, int flags);  // stream reads that ask for the bytes left
  ssize_t (*send)(int fd, const void* buf, size_t n, int flags);
  ssize_t (*sendmsg)(int fd, const msghdr* msg, int flags);
  ssize_t (*recvfrom)(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* len);
  ssize_t (*sendto)(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t len);
  int (*close)(int fd);
  int (*shutdown)(int fd, int how);
  int (*setsockopt)(int fd, int level, int name, const void* val, socklen_t len);
  int (*getsockopt)(int fd, int level, int name, void* val, socklen_t* len);
  int (*getsockname)(int fd, sockaddr* addr, socklen_t* len);
  int (*getpeername)(int fd, sockaddr* addr, socklen_t* len);
  int (*fcntl_setfl)(int fd, int flags);  // fcntl(fd, F_SETFL, flags)
  int (*fcntl_setfd)(int fd, int flags);  // fcntl(fd, F_SETFD, flags)
};

// The live table. Defaults are the libc functions.
extern SysHooks sys;
// The libc functions, for a hook that wants to call through.
extern const SysHooks kRealSys;

// SO_NOSIGPIPE where the platform has it as the per-socket switch (netpoll/platform/
// socket_posix.h: kSoNoSigpipe), through the table so fault injection reaches it; 0 (success)
// without a call elsewhere. Set on the sockets the net layer opens (Dial, Listen, ListenPacket)
// and adopts (FileConn), never on accepted ones: Darwin copies it from the listener
// (sonewconn), and an accepted socket whose peer already closed refuses every option.
inline int set_no_sigpipe(int s) noexcept {
  if constexpr (kSoNoSigpipe == 0) {
    (void)s;
    return 0;
  } else {
    const int one = 1;
    return sys.setsockopt(s, SOL_SOCKET, kSoNoSigpipe, &one, sizeof one);
  }
}

// Restores the whole table when it goes out of scope.
class HookGuard : public TableGuard<SysHooks> {
 public:
  HookGuard() noexcept : TableGuard(sys) {}
};

}  // namespace netpoll::net
