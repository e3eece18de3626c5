// http_server [--loops N] [address]: an HTTP/1.1 server answering every request with
// "Hello, World!" (keep-alive, pipelining; examples/http.h), one coroutine per connection.
// One Loop by default; with --loops N, N Loops on N threads share the address through
// SO_REUSEPORT (net::LoopGroup), each with its own sessions and preformatted responses.
//
// Prints "listening on <addr>" once listening; exits with status 0 on SIGTERM / SIGINT after
// closing every connection (examples/serve.h).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "examples/http.h"
#include "examples/serve.h"
#include "netpoll/net/net.h"

namespace http = netpoll::examples::http;

int main(int argc, char** argv) {
  long loops = 1;
  if (argc >= 3 && std::strcmp(argv[1], "--loops") == 0) {
    char* end = nullptr;
    loops = std::strtol(argv[2], &end, 10);
    if (*end != '\0' || loops < 1 || loops > 1024) {
      std::fprintf(stderr, "http_server: --loops takes a number from 1 to 1024, not %s\n", argv[2]);
      return 2;
    }
    argv[2] = argv[0];
    argc -= 2;
    argv += 2;
  }
  if (loops > 1) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
      std::fprintf(stderr, "usage: http_server [--loops N] [address]   (default 127.0.0.1:0)\n");
      return 2;
    }
    return netpoll::examples::run_server_loops(
        "http_server", argc == 2 ? argv[1] : "127.0.0.1:0", static_cast<std::size_t>(loops),
        [](std::size_t) {
          // Loop i's sessions and responses; the handler holds them (only that Loop uses it).
          auto server = std::make_shared<http::Server>();
          return [server](netpoll::net::Conn& c) { return http::serve_conn(c, *server); };
        });
  }
  // Shared by every connection: only the Loop thread touches it.
  http::Server server;
  return netpoll::examples::run_server("http_server", argc, argv,
                                       [&server](netpoll::net::Conn& c) {
                                         return http::serve_conn(c, server);
                                       });
}
