// Built against netpoll::poller alone (no core, no net layer): one Poller, woken from another
// thread, must return from an unbounded wait. Exit 0 on success.
#include <cstdio>
#include <thread>

#include "netpoll/platform/poller.h"

int main() {
  netpoll::Poller poller;
  std::thread waker([&poller] { poller.wake(); });
  netpoll::Event events[16];
  auto n = poller.wait(events, netpoll::Timeout::infinite());
  waker.join();
  std::printf("poller_check: %s woke: %s\n", netpoll::Poller::kName.data(), n ? "ok" : "FAILED");
  return n ? 0 : 1;
}
