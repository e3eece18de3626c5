// The one place that selects the backend for the target OS: `netpoll::Poller`.
// Bazel's select() on @platforms//os links the matching backend library (poller/BUILD).
//
// Override: define NETPOLL_POLLER_HEADER (a quoted include path) and NETPOLL_POLLER_TYPE to
// use another Backend, e.g. a test double.
#pragma once

#include "poller/backend.h"

#if defined(NETPOLL_POLLER_HEADER) && defined(NETPOLL_POLLER_TYPE)
#include NETPOLL_POLLER_HEADER
namespace netpoll {
using Poller = NETPOLL_POLLER_TYPE;
}
#elif defined(__linux__)
#include "backends/epoll/epoll_poller.h"
namespace netpoll {
using Poller = EpollPoller;
}
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#include "backends/kqueue/kqueue_poller.h"
namespace netpoll {
using Poller = KqueuePoller;
}
#elif defined(_WIN32)
#include "backends/iocp/iocp_poller.h"
namespace netpoll {
using Poller = IocpPoller;
}
#else
#error "netpoll: no poller backend for this OS; define NETPOLL_POLLER_HEADER and NETPOLL_POLLER_TYPE"
#endif

namespace netpoll {
static_assert(Backend<Poller>, "the selected poller does not satisfy netpoll::Backend");
}  // namespace netpoll
