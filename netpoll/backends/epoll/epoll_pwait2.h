#pragma once
// epoll_pwait2 by its system call, not glibc's wrapper: the call is Linux 5.11's, the wrapper
// only glibc 2.35's, and older glibcs (RHEL 9's 2.34, Ubuntu 20.04's 2.31) and musl do not
// declare it. No signal mask, so no sigsetsize. Headers too old to name the call: ENOSYS, as an
// old kernel says. Callers keep their ENOSYS / EPERM fallback to epoll_wait.

#include <errno.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace netpoll::epoll_sys {

inline int pwait2(int epfd, epoll_event* events, int max, const timespec* ts) noexcept {
#ifdef SYS_epoll_pwait2
  return static_cast<int>(::syscall(SYS_epoll_pwait2, epfd, events, max, ts, nullptr, 0));
#else
  (void)epfd, (void)events, (void)max, (void)ts;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace netpoll::epoll_sys
