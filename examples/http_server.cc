// http_server [address]: an HTTP/1.1 server answering every request with "Hello, World!"
// (keep-alive, pipelining; examples/http.h), one coroutine per connection on one Loop.
//
// Prints "listening on <addr>" once listening; exits with status 0 on SIGTERM / SIGINT after
// closing every connection (examples/serve.h).
#include "examples/http.h"
#include "examples/serve.h"
#include "netpoll/net/net.h"

int main(int argc, char** argv) {
  // Shared by every connection: only the Loop thread touches it.
  netpoll::examples::http::Server server;
  return netpoll::examples::run_server("http_server", argc, argv,
                                       [&server](netpoll::net::Conn& c) {
                                         return netpoll::examples::http::serve_conn(c, server);
                                       });
}
