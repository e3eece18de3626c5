// Bugs the fuzzers found (fuzz/), each kept as a plain test that fails without its fix.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "net/net.h"

using namespace netpoll;
using namespace netpoll::net;

TEST_SUITE("fuzz regressions") {

// address_fuzzer: SockAddr::ip copied the host into a C string, so an embedded NUL ended it
// early and "127.0.0.1\0junk" was accepted as 127.0.0.1 (and a name with a NUL went to
// getaddrinfo cut short).
TEST_CASE("an IP host with an embedded NUL is invalid, not the part before the NUL") {
  const std::string_view v4("127.0.0.1\0junk", 14);
  const std::string_view v6("::1\0", 4);
  CHECK(!SockAddr::ip(v4, 80, AF_INET));
  CHECK(!SockAddr::ip(v4, 80, AF_INET6));
  CHECK(!SockAddr::ip(v6, 80, AF_INET6));
  Loop loop;
  const std::string listen_addr("127.0.0.1\0junk:0", 16);
  Result<Listener> ln = Listen(loop, "tcp", listen_addr);
  REQUIRE(!ln);
  CHECK(ln.error() == AddrErrc::invalid_host);
  const std::string dial_addr("localhost\0.example:80", 21);
  Result<Conn> c = loop.block_on(Dial(loop, "tcp", dial_addr));
  REQUIRE(!c);
  CHECK(c.error() == AddrErrc::invalid_host);
  CHECK(ResolveAddrs("tcp", std::string("[::1\0]:80", 9)).error() == AddrErrc::invalid_host);
}

}  // TEST_SUITE
