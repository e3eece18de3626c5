// README quick start (net API): an echo server and a client on one Loop. The README shows the
// text between the markers verbatim (examples/snippets/readme_sync_test.sh checks it).
// [quickstart_net]
#include <chrono>
#include <cstdio>
#include <string>

#include "netpoll/net/net.h"

using netpoll::Result;
using namespace netpoll::net;

Task<void> echo(Conn c) {
  char buf[4096];
  for (;;) {
    Result<std::size_t> n = co_await c.Read(std::span<char>(buf));  // 0 = end of stream
    if (!n || *n == 0) co_return;
    if (!co_await c.Write(std::string_view(buf, *n))) co_return;    // writes all of it
  }
}

Task<void> serve(Loop& loop, Listener& ln) {
  for (;;) {
    Result<Conn> c = co_await ln.Accept();
    if (!c) co_return;  // Errc::closed once the listener closes
    loop.spawn(echo(std::move(*c)));
  }
}

Task<int> client(Loop& loop, Listener& ln) {
  Result<Conn> c = co_await Dial(loop, "tcp", ln.Addr().to_string());
  if (!c) co_return 1;
  if (!co_await c->Write(std::string_view("hello"))) co_return 1;
  char buf[5];
  std::size_t got = 0;
  while (got < sizeof buf) {
    Result<std::size_t> n = co_await c->Read(std::span<char>(buf + got, sizeof buf - got));
    if (!n || *n == 0) co_return 1;
    got += *n;
  }
  co_return std::string_view(buf, got) == "hello" ? 0 : 1;
}

int main() {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");  // port 0: any free port
  if (!ln) return std::fprintf(stderr, "%s\n", ln.error().message().c_str()), 1;
  loop.spawn(serve(loop, *ln));
  int rc = loop.block_on(client(loop, *ln));
  // Close every socket, let the spawned tasks unwind (Errc::closed), then destroy the Loop.
  Result<std::size_t> left = loop.shutdown(netpoll::Timeout::after(std::chrono::seconds(5)));
  if (!left || *left != 0) return 1;
  std::printf("echo %s\n", rc == 0 ? "ok" : "FAILED");
  return rc;
}
// [quickstart_net]
