// echo_server [address]: a TCP echo server on one Loop, one coroutine per connection.
//
// Prints "listening on <addr>" once listening; exits with status 0 on SIGTERM / SIGINT after
// closing every connection (examples/serve.h).
#include "examples/echo.h"
#include "examples/serve.h"

int main(int argc, char** argv) {
  return netpoll::examples::run_server("echo_server", argc, argv,
                                       [](netpoll::net::Conn& c) { return netpoll::examples::echo(c); });
}
