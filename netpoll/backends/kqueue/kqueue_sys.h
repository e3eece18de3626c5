// The kqueue system interface the backend is written against: the kernel's <sys/event.h> on
// the BSDs and macOS, or, in the test-only build on Linux (NETPOLL_KQUEUE_DOUBLE, set by
// //netpoll/backends/kqueue:kqueue_on_double only), the userspace double in testing/kqueue_double.h,
// which declares the same struct kevent, constants, kqueue() and kevent().
#pragma once

#include <string_view>

#if defined(NETPOLL_KQUEUE_DOUBLE)
#include "netpoll/backends/kqueue/testing/kqueue_double.h"
#else
#include <sys/types.h>  // before <sys/event.h>: FreeBSD < 12 needs it (kevent(2) BUGS)
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>
#endif

namespace netpoll::kqueue_sys {

#if defined(NETPOLL_KQUEUE_DOUBLE)
// The double cannot see close(2) of its own descriptor, so it is told.
inline int close_kqueue(int kq) noexcept { return kqueue_double::close_kqueue(kq); }
// Test logs say which kqueue ran (tools/test prints the backends exercised).
inline constexpr std::string_view kBackendName = "kqueue-double";
#else
inline int close_kqueue(int kq) noexcept { return ::close(kq); }
inline constexpr std::string_view kBackendName = "kqueue";
#endif

}  // namespace netpoll::kqueue_sys
