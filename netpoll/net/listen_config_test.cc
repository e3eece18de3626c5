// ListenConfig and Dialer (net.h): the control hook's place and failure, reuse_port, and
// keep-alive, observed through getsockopt on the sockets netpoll made. Portable: the Windows
// build runs it too, where reuse_port must give its documented error.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "netpoll/net/net.h"
#include "test/net_test_util.h"
#include "test/process_stats.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;
using netpoll::testing::LoopThread;
using netpoll::testing::open_fd_count;

namespace {

// getsockopt of an int option (Winsock takes char*, POSIX void*: char* converts to both).
// Zeroed first: Winsock (wine's, at least) writes a BOOL option such as SO_KEEPALIVE as one
// byte and leaves the rest as it was.
int sockopt(NativeSocket s, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  REQUIRE(::getsockopt(s, level, name, reinterpret_cast<char*>(&v), &len) == 0);
  return v;
}
// The socket is still open (getsockopt fails with ENOTSOCK / EBADF once it is closed).
bool is_open_socket(NativeSocket s) {
  int v = 0;
  socklen_t len = sizeof v;
  return ::getsockopt(s, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&v), &len) == 0;
}
// Unbound: getsockname fails (Windows) or reports port 0 (POSIX).
bool is_unbound(NativeSocket s) {
  SockAddr a;
  a.set_len(SockAddr::capacity());
  return ::getsockname(s, a.get(), a.len_ptr()) != 0 || a.port() == 0;
}
bool is_connected(NativeSocket s) {
  SockAddr a;
  a.set_len(SockAddr::capacity());
  return ::getpeername(s, a.get(), a.len_ptr()) == 0;
}
void set_keepalive_option(NativeSocket s) {
  const int one = 1;
  REQUIRE(::setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, reinterpret_cast<const char*>(&one), sizeof one) == 0);
}

// What the hook saw, each time it ran.
struct Seen {
  std::vector<NativeSocket> sockets;
  bool unbound = false, listening = true, connected = true;
};

}  // namespace

TEST_CASE("ListenConfig::control runs once per listener, before bind and listen, on its socket") {
  Loop loop;
  auto seen = std::make_shared<Seen>();
  ListenConfig lc;
  lc.control = [seen](NativeSocket s) {
    seen->sockets.push_back(s);
    seen->unbound = is_unbound(s);
    seen->listening = sockopt(s, SOL_SOCKET, SO_ACCEPTCONN) != 0;
    set_keepalive_option(s);  // an option netpoll leaves alone, read back on the Listener
    return std::error_code();
  };
  Result<Listener> ln = lc.Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  REQUIRE(seen->sockets.size() == 1);
  CHECK(seen->sockets[0] == ln->native_handle());
  CHECK(seen->unbound);
  CHECK_FALSE(seen->listening);
  CHECK(sockopt(ln->native_handle(), SOL_SOCKET, SO_ACCEPTCONN) != 0);
  CHECK(sockopt(ln->native_handle(), SOL_SOCKET, SO_KEEPALIVE) != 0);
  // Without the hook the option is off: what the hook set is what was read.
  Result<Listener> plain = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(plain);
  CHECK(sockopt(plain->native_handle(), SOL_SOCKET, SO_KEEPALIVE) == 0);

  seen->sockets.clear();
  Result<PacketConn> pc = lc.ListenPacket(loop, "udp", "127.0.0.1:0");
  REQUIRE(pc);
  REQUIRE(seen->sockets.size() == 1);
  CHECK(seen->sockets[0] == pc->native_handle());
  CHECK(seen->unbound);
}

TEST_CASE("Dialer::control runs once, before connect, on the Conn's socket; the Task owns the Dialer") {
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  auto seen = std::make_shared<Seen>();
  Task<Result<Conn>> dial = [&] {
    Dialer d;  // gone before the Task runs
    d.control = [seen](NativeSocket s) {
      seen->sockets.push_back(s);
      seen->connected = is_connected(s);
      return std::error_code();
    };
    return d.Dial(lt.loop, "tcp", ln->Addr().to_string());
  }();
  Result<Conn> c = std::move(dial).wait();
  REQUIRE(c);
  REQUIRE(seen->sockets.size() == 1);
  CHECK(seen->sockets[0] == c->native_handle());
  CHECK_FALSE(seen->connected);
  CHECK(is_connected(c->native_handle()));
}

TEST_CASE("a control error fails Listen, ListenPacket and Dial with it, and closes the socket") {
  LoopThread lt;
  Result<Listener> target = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(target);
  const std::error_code refused = std::make_error_code(std::errc::permission_denied);
  NativeSocket handed = kInvalidSocket;
  auto refuse = [&](NativeSocket s) {
    handed = s;
    return refused;
  };
  const std::size_t before = open_fd_count();

  // Each call: failed with the hook's error, after the hook got a socket that is now closed.
  auto check_refused = [&](const auto& result) {
    REQUIRE_FALSE(result);
    CHECK(result.error() == refused);
    REQUIRE(handed != kInvalidSocket);
    CHECK_FALSE(is_open_socket(handed));
    handed = kInvalidSocket;
  };
  ListenConfig lc;
  lc.control = refuse;
  check_refused(lc.Listen(lt.loop, "tcp", "127.0.0.1:0"));
  check_refused(lc.ListenPacket(lt.loop, "udp", "127.0.0.1:0"));
  Dialer d;
  d.control = refuse;
  check_refused(d.Dial(lt.loop, "tcp", target->Addr().to_string()).wait());

  // (0 where the OS cannot count: wine. The per-socket checks above still hold there.)
  CHECK(open_fd_count() == before);
}

TEST_CASE("reuse_port: two listeners share a port only when both ask (where the OS has it)") {
  Loop loop;
  const std::error_code not_supported = std::make_error_code(std::errc::operation_not_supported);
  ListenConfig reuse;
  reuse.reuse_port = true;

  // Without it the second bind is refused, on every OS.
  Result<Listener> a = Listen(loop, "tcp4", "127.0.0.1:0");
  REQUIRE(a);
  const std::string addr = a->Addr().to_string();
  Result<Listener> b = Listen(loop, "tcp4", addr);
  REQUIRE_FALSE(b);
  CHECK(b.error() == std::errc::address_in_use);

  // Not for a Unix socket anywhere, and refused before any socket (no file is made).
  Result<Listener> u = reuse.Listen(loop, "unix", "netpoll-reuse-port-test.sock");
  REQUIRE_FALSE(u);
  CHECK(u.error() == not_supported);

  if constexpr (kReusePortOption == 0) {
    // Windows: the documented error, for streams and datagrams alike.
    Result<Listener> w = reuse.Listen(loop, "tcp4", "127.0.0.1:0");
    REQUIRE_FALSE(w);
    CHECK(w.error() == not_supported);
    Result<PacketConn> wp = reuse.ListenPacket(loop, "udp4", "127.0.0.1:0");
    REQUIRE_FALSE(wp);
    CHECK(wp.error() == not_supported);
  } else {
    Result<Listener> r1 = reuse.Listen(loop, "tcp4", "127.0.0.1:0");
    REQUIRE(r1);
    const std::string raddr = r1->Addr().to_string();
    CHECK(sockopt(r1->native_handle(), SOL_SOCKET, kReusePortOption) != 0);
    Result<Listener> r2 = reuse.Listen(loop, "tcp4", raddr);
    REQUIRE(r2);
    CHECK(r2->Addr().to_string() == raddr);
    // A third socket that does not ask is still kept out.
    Result<Listener> r3 = Listen(loop, "tcp4", raddr);
    REQUIRE_FALSE(r3);
    CHECK(r3.error() == std::errc::address_in_use);

    Result<PacketConn> p1 = reuse.ListenPacket(loop, "udp4", "127.0.0.1:0");
    REQUIRE(p1);
    const std::string paddr = p1->LocalAddr().to_string();
    Result<PacketConn> p2 = reuse.ListenPacket(loop, "udp4", paddr);
    REQUIRE(p2);
    Result<PacketConn> p3 = ListenPacket(loop, "udp4", paddr);
    REQUIRE_FALSE(p3);
    CHECK(p3.error() == std::errc::address_in_use);
  }
}

TEST_CASE("keep_alive: on accepted and dialed TCP connections, with the timing asked for") {
  LoopThread lt;
  ListenConfig lc;
  lc.keep_alive = 7s;
  Result<Listener> ln = lc.Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  Dialer d;
  d.keep_alive = 9s;
  Result<Conn> client = d.Dial(lt.loop, "tcp", ln->Addr().to_string()).wait();
  REQUIRE(client);
  Result<Conn> server = ln->Accept().wait();
  REQUIRE(server);

  CHECK(sockopt(server->native_handle(), SOL_SOCKET, SO_KEEPALIVE) != 0);
  CHECK(sockopt(client->native_handle(), SOL_SOCKET, SO_KEEPALIVE) != 0);
  if constexpr (kTcpKeepIdleOption != 0) {
    CHECK(sockopt(server->native_handle(), IPPROTO_TCP, kTcpKeepIdleOption) == 7);
    CHECK(sockopt(client->native_handle(), IPPROTO_TCP, kTcpKeepIdleOption) == 9);
  }
  if constexpr (kTcpKeepIntervalOption != 0) {
    CHECK(sockopt(server->native_handle(), IPPROTO_TCP, kTcpKeepIntervalOption) == 7);
    CHECK(sockopt(client->native_handle(), IPPROTO_TCP, kTcpKeepIntervalOption) == 9);
  }

  // Unasked: the OS default, off. Asked off (0s): off.
  Result<Listener> plain = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(plain);
  Dialer off;
  off.keep_alive = 0s;
  Result<Conn> c2 = off.Dial(lt.loop, "tcp", plain->Addr().to_string()).wait();
  REQUIRE(c2);
  Result<Conn> s2 = plain->Accept().wait();
  REQUIRE(s2);
  CHECK(sockopt(c2->native_handle(), SOL_SOCKET, SO_KEEPALIVE) == 0);
  CHECK(sockopt(s2->native_handle(), SOL_SOCKET, SO_KEEPALIVE) == 0);
}

TEST_CASE("a negative keep_alive is refused before any socket is made") {
  LoopThread lt;
  ListenConfig lc;
  lc.keep_alive = -1s;
  bool ran = false;
  lc.control = [&](NativeSocket) {
    ran = true;
    return std::error_code();
  };
  Result<Listener> ln = lc.Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE_FALSE(ln);
  CHECK(ln.error() == Errc::invalid_argument);
  Dialer d;
  d.keep_alive = -1s;
  d.control = lc.control;
  Result<Conn> c = d.Dial(lt.loop, "tcp", "127.0.0.1:1").wait();
  REQUIRE_FALSE(c);
  CHECK(c.error() == Errc::invalid_argument);
  CHECK_FALSE(ran);
}
