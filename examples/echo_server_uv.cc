// echo_server_uv [address]: echo_server with libuv owning the thread: the Loop is stepped by
// the libuv adapter (netpoll/adapters/uv.h) from uv_run. Same output, same shutdown.
#include <uv.h>

#include <cstdio>

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
        if (int rc = driver.start(); rc != 0) {
          std::fprintf(stderr, "echo_server_uv: %s\n", uv_strerror(rc));
          return examples::abandon(loop);
        }
        // Other libuv work would run here too. The driver stops itself only on an error.
        while (!ended && !driver.closed()) uv_run(uv, UV_RUN_ONCE);
        driver.stop();
        while (!driver.closed()) uv_run(uv, UV_RUN_NOWAIT);  // its close callbacks
        if (driver.poll_error() != 0) {
          std::fprintf(stderr, "echo_server_uv: %s\n", uv_strerror(driver.poll_error()));
          return examples::abandon(loop);
        }
        return 0;
      });
}
