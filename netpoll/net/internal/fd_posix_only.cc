// What the readiness-only POSIX build (epoll, kqueue) defines that the io_uring build defines
// in fd_uring.cc.
#include "netpoll/net/internal/fd.h"

namespace netpoll::net {

// Readiness calls are syscalls that have returned: the kernel holds nothing after them.
void release_kernel_calls(FD&) noexcept {}
void hand_over_filled_calls(FD&) noexcept {}

}  // namespace netpoll::net
