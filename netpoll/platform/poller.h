// The one place that selects the backend: `netpoll::Poller`, written against the contract
// (netpoll/contract/backend.h) and chosen here, above both the contract and the backends
// (netpoll/platform/BUILD links the matching backend library by the same choice).
//
//   Linux                      EpollPoller    (netpoll/backends/epoll)
//   macOS, FreeBSD (and BSDs)  KqueuePoller   (netpoll/backends/kqueue)
//   Windows                    IocpPoller     (netpoll/backends/iocp; a CompletionBackend)
//
// --config=kqueue_double (test builds on Linux) builds the kqueue backend over the userspace
// kqueue double and sets NETPOLL_PLATFORM_KQUEUE_DOUBLE, so the whole net layer runs over it.
// --config=uring (Linux) selects UringFallbackPoller (netpoll/backends/uring: io_uring, or
// epoll where the kernel refuses io_uring when the Loop is made) and sets
// NETPOLL_PLATFORM_URING; the net layer's operations follow the same choice per Loop.
//
// Override for your own backend: define NETPOLL_POLLER_HEADER (a quoted include path) and
// NETPOLL_POLLER_TYPE. Anything else is an #error, never a silently empty Poller.
#pragma once

#include "netpoll/contract/backend.h"

#if defined(NETPOLL_POLLER_HEADER) && defined(NETPOLL_POLLER_TYPE)
#include NETPOLL_POLLER_HEADER
namespace netpoll {
using Poller = NETPOLL_POLLER_TYPE;
}
#elif defined(NETPOLL_PLATFORM_KQUEUE_DOUBLE)
#include "netpoll/backends/kqueue/kqueue_poller.h"
namespace netpoll {
using Poller = KqueuePoller;
}
#elif defined(NETPOLL_PLATFORM_URING)
#include "netpoll/backends/uring/fallback_poller.h"
namespace netpoll {
using Poller = UringFallbackPoller;
}
#elif defined(__linux__)
#include "netpoll/backends/epoll/epoll_poller.h"
namespace netpoll {
using Poller = EpollPoller;
}
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#include "netpoll/backends/kqueue/kqueue_poller.h"
namespace netpoll {
using Poller = KqueuePoller;
}
#elif defined(_WIN32)
#include "netpoll/backends/iocp/iocp_poller.h"
namespace netpoll {
using Poller = IocpPoller;
}
#else
#error "netpoll: no poller backend for this OS; define NETPOLL_POLLER_HEADER and NETPOLL_POLLER_TYPE"
#endif

namespace netpoll {
static_assert(Backend<Poller>, "the selected poller does not satisfy netpoll::Backend");
}  // namespace netpoll
