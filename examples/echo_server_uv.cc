// echo_server_uv [address]: echo_server with libuv owning the thread: the Loop is stepped by
// the libuv adapter (netpoll/adapters/uv.h) from uv_run. Same output, same shutdown.
#include <uv.h>

#include "examples/echo.h"
#include "examples/serve.h"
#include "netpoll/adapters/uv.h"

int main(int argc, char** argv) {
  using namespace netpoll;
  return examples::run_server(
      "echo_server_uv", argc, argv, [](net::Conn& c) { return examples::echo(c); },
      [](net::Loop& loop, net::Task<void> server) {
        uv_loop_t* uv = uv_default_loop();
        adapters::UvDriver driver(uv, loop);
        bool ended = false;
        examples::spawn_flagged(loop, std::move(server), ended);
        if (driver.start() != 0) return;
        while (!ended) uv_run(uv, UV_RUN_ONCE);  // other libuv work would run here too
        driver.stop();
        uv_run(uv, UV_RUN_DEFAULT);  // until the driver's handles are closed
      });
}
