// Which backend netpoll's next Loop runs on, for the benchmarks' netpoll / netpoll_uring
// servers. In the io_uring build (--config=opt_uring, tools/bench's) the Poller chooses when a
// Loop is made (netpoll/backends/uring/fallback_poller.h); elsewhere there is nothing to choose.
#pragma once

#include "netpoll/platform/poller.h"

namespace netpoll::bench {

// Makes the next Loops run on io_uring (`ring`) or epoll; false where this build has no
// choice to make and `ring` asks for one. A template so the branch the Poller lacks is never
// compiled.
template <class P = netpoll::Poller>
bool choose_backend(bool ring) {
  if constexpr (requires { P::prefer(P::Preference::epoll); }) {
    P::prefer(ring ? P::Preference::io_uring : P::Preference::epoll);
    return true;
  } else {
    return !ring;
  }
}

}  // namespace netpoll::bench
