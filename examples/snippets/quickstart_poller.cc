// README quick start (raw Poller): the Backend contract on its own, over a socketpair. The
// README shows the text between the markers verbatim (readme_sync_test.sh checks it).
// [quickstart_poller]
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "netpoll/platform/poller.h"

int main() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 1;
  if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) return 1;  // the end the poller watches

  netpoll::Poller p;                                     // epoll or kqueue, close-on-exec
  if (p.register_handle(fds[0], netpoll::Token{42})) return 1;  // once; edge-triggered, r+w
  if (write(fds[1], "x", 1) != 1) return 1;

  netpoll::Event evs[128];
  bool readable = false;
  for (int tries = 0; !readable && tries < 100; ++tries) {  // an event may be spurious
    auto n = p.wait(evs, netpoll::Timeout::after(std::chrono::milliseconds(100)));
    for (std::size_t i = 0; n && i < *n; ++i)
      if (evs[i].token == netpoll::Token{42} && evs[i].wakes_reader()) readable = true;
  }
  char c;
  while (read(fds[0], &c, 1) > 0) {}                     // edge-triggered: read until EAGAIN

  p.wake();                                              // any thread; coalesced
  auto woken = p.wait(evs, netpoll::Timeout::infinite());  // returns (0 events) on a wake
  if (p.deregister_handle(fds[0])) return 1;             // before close(fd)
  close(fds[0]);
  close(fds[1]);
  std::printf("readable %d, woken %d\n", readable, static_cast<bool>(woken));
  return readable && woken ? 0 : 1;
}
// [quickstart_poller]
