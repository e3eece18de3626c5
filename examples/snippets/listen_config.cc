// README: socket options before bind / connect (ListenConfig, Dialer). The README shows the
// text between the markers verbatim (examples/snippets/readme_sync_test.sh checks it); main()
// below them runs it and checks what it says.
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "netpoll/net/net.h"

using netpoll::Result;
using namespace netpoll::net;
using namespace std::chrono_literals;

// [listen_config]
// Two listeners on one port (SO_REUSEPORT; Windows: std::errc::operation_not_supported), TCP
// keep-alive on what they accept, and a hook that sees each socket before bind.
Task<int> listen_and_dial(Loop& loop) {
  ListenConfig lc;
  lc.reuse_port = true;
  lc.keep_alive = 30s;
  lc.control = [](NativeSocket s) {
    int one = 1;  // runs before bind: options that must be set by then (here SO_KEEPALIVE)
    return ::setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) == 0
               ? std::error_code() : std::error_code(errno, std::generic_category());
  };
  Result<Listener> a = lc.Listen(loop, "tcp", "127.0.0.1:0");
  if (!a) co_return 1;
  Result<Listener> b = lc.Listen(loop, "tcp", a->Addr().to_string());  // the same port
  if (!b) co_return 2;
  Dialer d;
  d.timeout = 2s;
  d.keep_alive = 30s;
  Result<Conn> c = co_await d.Dial(loop, "tcp", a->Addr().to_string());
  co_return c ? 0 : 3;
}
// [listen_config]

int main() {
  Loop loop;
  const int rc = loop.block_on(listen_and_dial(loop));
  Result<std::size_t> left = loop.shutdown(netpoll::Timeout::after(5s));
  if (!left || *left != 0) return 4;
  std::printf("listen_config %s (%d)\n", rc == 0 ? "ok" : "FAILED", rc);
  return rc;
}
