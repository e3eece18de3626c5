// The command line every B3 / B9 server binary takes (http_servers.cc, http_asio_server.cc):
//   --impl NAME [--loops N] [ADDR]     (ADDR default 127.0.0.1:0, N from 1 to 1024)
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace netpoll::bench {

struct HttpServerArgs {
  std::string impl;
  std::string addr = "127.0.0.1:0";
  long loops = 1;
};

// False (after saying why on stderr, as `prog`, for a bad --loops) on a malformed command line:
// the caller prints its usage.
inline bool parse_http_server_args(int argc, char** argv, const char* prog, HttpServerArgs* out) {
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--impl" && i + 1 < argc) out->impl = argv[++i];
    else if (a.rfind("--impl=", 0) == 0) out->impl = a.substr(7);
    else if (a == "--loops" && i + 1 < argc) {
      char* end = nullptr;
      out->loops = std::strtol(argv[++i], &end, 10);
      if (*argv[i] == '\0' || *end != '\0' || out->loops < 1 || out->loops > 1024) {
        std::fprintf(stderr, "%s: --loops takes a number from 1 to 1024, not %s\n", prog, argv[i]);
        return false;
      }
    } else if (!a.empty() && a[0] != '-' && positional++ == 0) out->addr = a;
    else return false;
  }
  return true;
}

}  // namespace netpoll::bench
