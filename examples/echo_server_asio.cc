// echo_server_asio [address]: echo_server with an asio::io_context owning the thread: the
// Loop is stepped by the Asio adapter (netpoll/adapters/asio.h). Same output, same shutdown.
#include <asio/io_context.hpp>

#include <cstdio>

#include "examples/echo.h"
#include "examples/serve.h"
#include "netpoll/adapters/asio.h"

int main(int argc, char** argv) {
  using namespace netpoll;
  return examples::run_server(
      "echo_server_asio", argc, argv, [](net::Conn& c) { return examples::echo(c); },
      [](net::Loop& loop, net::Task<void> server) {
        asio::io_context io;
        adapters::AsioDriver driver(io, loop);
        bool ended = false;
        examples::spawn_flagged(loop, std::move(server), ended);
        if (std::error_code ec = driver.start()) {
          std::fprintf(stderr, "echo_server_asio: %s\n", ec.message().c_str());
          return examples::abandon(loop);
        }
        // Other Asio handlers run here too. run_one returns 0 once the driver stopped itself.
        while (!ended && io.run_one() != 0) {
        }
        driver.stop();
        while (!driver.stopped()) io.run_one();  // the cancelled handlers
        if (driver.error()) {
          std::fprintf(stderr, "echo_server_asio: %s\n", driver.error().message().c_str());
          return examples::abandon(loop);
        }
        return 0;
      });
}
