// The backends built for this target, as a std::tuple for doctest's TEST_CASE_TEMPLATE_APPLY.
// Each backend library defines NETPOLL_HAVE_<NAME> (a build feature, not an OS test), so the
// conformance suites instantiate exactly what was compiled.
#pragma once

#include <tuple>
#include <utility>

#include "doctest/doctest.h"

#ifdef NETPOLL_HAVE_EPOLL
#include "netpoll/backends/epoll/epoll_poller.h"
#endif
#ifdef NETPOLL_HAVE_KQUEUE
#include "netpoll/backends/kqueue/kqueue_poller.h"
#endif
#ifdef NETPOLL_HAVE_IOCP
#include "netpoll/backends/iocp/iocp_poller.h"
#endif

namespace netpoll::testing {

#ifdef NETPOLL_HAVE_EPOLL
using EpollBackends = std::tuple<EpollPoller>;
#else
using EpollBackends = std::tuple<>;
#endif

// On macOS/FreeBSD the real kqueue; on Linux the same sources over the kqueue test double.
#ifdef NETPOLL_HAVE_KQUEUE
using KqueueBackends = std::tuple<KqueuePoller>;
#else
using KqueueBackends = std::tuple<>;
#endif

#ifdef NETPOLL_HAVE_IOCP
using IocpBackends = std::tuple<IocpPoller>;
#else
using IocpBackends = std::tuple<>;
#endif

using Backends = decltype(std::tuple_cat(std::declval<EpollBackends>(),
                                         std::declval<KqueueBackends>(),
                                         std::declval<IocpBackends>()));
static_assert(std::tuple_size_v<Backends> > 0, "no poller backend was built for this target");

}  // namespace netpoll::testing

// Names for doctest's template test cases.
#ifdef NETPOLL_HAVE_EPOLL
TYPE_TO_STRING(netpoll::EpollPoller);
#endif
#ifdef NETPOLL_HAVE_KQUEUE
TYPE_TO_STRING(netpoll::KqueuePoller);
#endif
#ifdef NETPOLL_HAVE_IOCP
TYPE_TO_STRING(netpoll::IocpPoller);
#endif
