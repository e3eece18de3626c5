// netpoll/adapters/README.md's example: a net::Loop driven by a libuv loop through UvDriver.
// A greeting server and its client both run as coroutines on the Loop while libuv owns the
// thread; the program exits 0 if the client read the greeting. The README shows the text
// between the markers verbatim (readme_sync_test checks it).
// [adapter_uv]
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "netpoll/adapters/uv.h"
#include "netpoll/net/net.h"

using netpoll::Result;
using namespace netpoll::net;

Task<void> greet(Listener& ln) {
  Result<Conn> c = co_await ln.Accept();
  if (c) (void)co_await c->Write(std::string_view("hello from inside libuv"));
}  // the Conn closes here: the client reads to end of stream

Task<void> fetch(Loop& loop, std::string addr, std::string& got, uv_loop_t* uv) {
  Result<Conn> c = co_await Dial(loop, "tcp", addr);
  char buf[64];
  while (c) {
    Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
    if (!n || *n == 0) break;
    got.append(buf, *n);
  }
  uv_stop(uv);  // done: hand the thread back to main
}

int main() {
  uv_loop_t* uv = uv_default_loop();
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  if (!ln) return 1;
  netpoll::adapters::UvDriver driver(uv, loop);
  if (int rc = driver.start(); rc != 0) return std::fprintf(stderr, "%s\n", uv_strerror(rc)), 1;

  std::string got;
  loop.spawn(greet(*ln));
  loop.spawn(fetch(loop, ln->Addr().to_string(), got, uv));
  uv_run(uv, UV_RUN_DEFAULT);  // libuv steps the Loop until fetch() stops it

  // Shutdown order (docs/embedding.md): stop the driver, let libuv close its handles, then
  // shut the Loop down on this thread.
  driver.stop();
  uv_run(uv, UV_RUN_DEFAULT);  // returns once the driver's handles are closed
  Result<std::size_t> left = loop.shutdown(netpoll::Timeout::after(std::chrono::seconds(5)));
  std::printf("client read: %s\n", got.c_str());
  return got == "hello from inside libuv" && driver.closed() && left && *left == 0 ? 0 : 1;
}
// [adapter_uv]
