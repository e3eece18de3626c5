// netpoll::Netpoll: the core (netpoll/core/netpoll.h, generic over any Backend) over the
// target's Poller (netpoll/platform/poller.h).
#pragma once

#include "netpoll/core/netpoll.h"
#include "netpoll/platform/poller.h"

namespace netpoll {
using Netpoll = BasicNetpoll<Poller>;
}  // namespace netpoll
