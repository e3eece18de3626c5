// Linked into //test:net_conformance_packet_always_test only: proves the suite really ran in
// the mode it is named for (the environment reached the test process through Bazel and wine).
#include "netpoll/backends/iocp/iocp_poller.h"
#include "doctest/doctest.h"
#include "netpoll/net/net.h"

TEST_CASE("this run waits for a completion packet even for calls that succeed at once") {
  // Winsock must be started first (the check enumerates its providers).
  netpoll::net::Loop loop;
  netpoll::Result<netpoll::net::Listener> ln = netpoll::net::Listen(loop, "tcp4", "127.0.0.1:0");
  REQUIRE(ln);
  CHECK(!netpoll::IocpPoller::completion_skipping_safe());
  CHECK(!netpoll::net::skips_packet_on_success(/*stream=*/true));
}
