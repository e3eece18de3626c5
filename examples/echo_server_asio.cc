// echo_server_asio [address]: echo_server with an asio::io_context owning the thread: the
// Loop is stepped by the Asio adapter (netpoll/adapters/asio.h). Same output, same shutdown.
#include <asio/io_context.hpp>

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
        if (driver.start()) return;
        while (!ended) io.run_one();  // other Asio handlers run too
        driver.stop();
        io.restart();
        io.run();  // the cancelled handlers
      });
}
