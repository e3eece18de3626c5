// netpoll::Netpoll: the core glue over the target OS's Poller.
#pragma once

#include "core/netpoll.h"
#include "poller/poller.h"

namespace netpoll {
using Netpoll = BasicNetpoll<Poller>;
}  // namespace netpoll
