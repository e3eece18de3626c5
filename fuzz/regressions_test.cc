// Bugs the reliability work found (the fuzzers in fuzz/, test/fault_injection_test), each kept
// as a plain test that fails without its fix.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <string_view>

#include "netpoll/net/net.h"
#include "netpoll/net/internal/sys_posix.h"
#include "test/net_test_util.h"
#include "test/posix_fd.h"
#include "test/test_util.h"

using namespace netpoll;
using namespace netpoll::net;

TEST_SUITE("reliability regressions") {

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

// fault_injection_test: getsockname failing after bind made Listen(":0") succeed with
// Addr() reporting port 0, so nobody could learn the port it listened on.
TEST_CASE("Listen/ListenPacket on port 0 report a getsockname failure, leaking nothing") {
  HookGuard guard;
  Loop loop;
  (void)Listen(loop, "tcp", "127.0.0.1:0");  // opens the EMFILE reserve descriptor once
  const std::size_t fds = netpoll::testing::open_fd_count();
  sys.getsockname = [](int, sockaddr*, socklen_t*) -> int {
    errno = ENOBUFS;
    return -1;
  };
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(!ln);
  CHECK(ln.error() == std::errc::no_buffer_space);
  Result<PacketConn> pc = ListenPacket(loop, "udp", "127.0.0.1:0");
  REQUIRE(!pc);
  CHECK(pc.error() == std::errc::no_buffer_space);
  CHECK(netpoll::testing::open_fd_count() == fds);
  CHECK(loop.netpoll().cache().in_use() == 0);
}

// fault_injection_test (fallback mode): where accept4 is refused, EMFILE from accept was
// reported instead of shedding the pending client and parking, because the shedding loop used
// accept4 only; a caller retrying Accept would spin.
TEST_CASE("EMFILE on the accept fallback sheds the pending client and parks") {
  HookGuard guard;
  netpoll::testing::LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  netpoll::testing::Fd client(netpoll::testing::socket_cloexec(AF_INET, SOCK_STREAM, 0));
  REQUIRE(::connect(client.get(), ln->Addr().get(), ln->Addr().len()) == 0);
  static std::atomic<int> emfile_left;
  emfile_left = 1;
  sys.accept4 = [](int, sockaddr*, socklen_t*, int) -> int {
    errno = ENOSYS;
    return -1;
  };
  sys.accept = [](int fd, sockaddr* a, socklen_t* l) -> int {
    if (emfile_left.fetch_sub(1) > 0) {
      errno = EMFILE;
      return -1;
    }
    return ::accept(fd, a, l);
  };
  REQUIRE(!ln->SetDeadline(std::chrono::steady_clock::now() + std::chrono::milliseconds(100)));
  Result<Conn> c = ln->Accept().wait();
  REQUIRE(!c);
  REQUIRE(c.error() == Errc::deadline_exceeded);  // parked, not EMFILE
  char b;
  CHECK(::recv(client.get(), &b, 1, 0) == 0);  // the pending client was accepted and closed
}

}  // TEST_SUITE
