// IdleHandle<B> for every backend built for this target (see test/portable_util.h).
#pragma once

#include "test/backend_list.h"
#include "test/portable_util.h"

#if defined(NETPOLL_HAVE_EPOLL) || defined(NETPOLL_HAVE_KQUEUE)
#include "test/test_util.h"
#endif
#ifdef NETPOLL_HAVE_IOCP
#include "netpoll/backends/iocp/iocp_test_util.h"
#endif
