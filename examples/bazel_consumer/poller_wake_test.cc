// A consumer's program over @netpoll//:poller alone: a wake() from another thread ends a wait()
// that has no handles and no deadline. Exit 0 = passed.
#include <cstdio>
#include <thread>

#include "netpoll/platform/poller.h"

int main() {
  netpoll::Poller poller;
  std::thread waker([&poller] { poller.wake(); });
  netpoll::Event events[8];
  auto n = poller.wait(events, netpoll::Timeout::infinite());
  waker.join();
  std::printf("woken: %s\n", n ? "ok" : "FAILED");
  return n ? 0 : 1;
}
