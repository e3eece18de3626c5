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
#ifdef NETPOLL_HAVE_URING
#include "netpoll/backends/uring/uring_poller.h"
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

// io_uring: only in the test targets that depend on //test:backend_list_uring (Linux with
// Debian's liburing; the cross builds have none).
#ifdef NETPOLL_HAVE_URING
using UringBackends = std::tuple<UringPoller>;
#else
using UringBackends = std::tuple<>;
#endif

// The readiness backends (what poller_conformance_test and netpoll_conformance_test need:
// events without a call made first), and all of them (the contract's portable half).
using ReadinessBackends = decltype(std::tuple_cat(std::declval<EpollBackends>(),
                                                  std::declval<KqueueBackends>()));
// The io_uring targets run io_uring alone: a ring's task work interrupts other blocking
// syscalls of its thread (EINTR), which the epoll and kqueue cases would see as early returns.
#ifdef NETPOLL_TEST_URING_ONLY
using Backends = UringBackends;
#else
using Backends = decltype(std::tuple_cat(std::declval<ReadinessBackends>(),
                                         std::declval<IocpBackends>(),
                                         std::declval<UringBackends>()));
#endif
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
#ifdef NETPOLL_HAVE_URING
TYPE_TO_STRING(netpoll::UringPoller);
#endif
