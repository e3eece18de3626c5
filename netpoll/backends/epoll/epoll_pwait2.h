#pragma once
// epoll_pwait2 by its system call, not glibc's wrapper: the call is Linux 5.11's, the wrapper
// only glibc 2.35's, and older glibcs (RHEL 9's 2.34, Ubuntu 20.04's 2.31) and musl do not
// declare it. No signal mask, so no sigsetsize. Kernel headers older than 5.11 (Ubuntu 20.04's
// are 5.4) do not name the call either: then its number is used, 441 in the table every
// architecture shares since 5.x (not on alpha, ia64, mips, x32, whose tables are offset; there
// the call is ENOSYS, as an old kernel says). Callers keep their ENOSYS / EPERM fallback to
// epoll_wait.

#include <errno.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace netpoll::epoll_sys {

#if (defined(__x86_64__) && !defined(__ILP32__)) || defined(__i386__) || defined(__aarch64__) || \
    defined(__arm__) || defined(__riscv) || defined(__powerpc__) || defined(__s390__) ||       \
    defined(__loongarch__)
inline constexpr long kSharedTableNumber = 441;
#else
inline constexpr long kSharedTableNumber = -1;
#endif
#if defined(SYS_epoll_pwait2)
inline constexpr long kSysEpollPwait2 = SYS_epoll_pwait2;
// Every build with new headers checks the number used for old ones.
static_assert(kSharedTableNumber < 0 || kSysEpollPwait2 == kSharedTableNumber);
#else
inline constexpr long kSysEpollPwait2 = kSharedTableNumber;
#endif

inline int pwait2(int epfd, epoll_event* events, int max, const timespec* ts) noexcept {
  if constexpr (kSysEpollPwait2 < 0) {
    (void)epfd, (void)events, (void)max, (void)ts;
    errno = ENOSYS;
    return -1;
  } else {
    return static_cast<int>(::syscall(kSysEpollPwait2, epfd, events, max, ts, nullptr, 0));
  }
}

}  // namespace netpoll::epoll_sys
