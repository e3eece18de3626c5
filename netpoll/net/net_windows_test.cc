// The net suite's Windows-only cases, over IOCP: what the portable suite
// (test/net_conformance_test.cc) cannot say through the public API alone. The POSIX
// counterparts are in netpoll/net/net_posix_test.cc.
//
// Connects held in progress: a loopback listener with a full queue. Linux (what wine runs
// on) drops a SYN to a full queue, so the connect stays pending; Windows itself answers with
// a reset. These cases need the first and say so when they run where it does not hold.
#include <winsock2.h>
#include <ws2tcpip.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "doctest/doctest.h"
#include "netpoll/net/net.h"
#include "test/net_test_util.h"
#include "test/portable_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;
using netpoll::testing::Clock;
using netpoll::testing::ConnPair;
using netpoll::testing::LoopThread;
using netpoll::testing::blocking_pair;
using netpoll::testing::elapsed_ns;
using netpoll::testing::tcp_conn_pair;

namespace {

// Winsock for the test's own sockets (the net layer starts it on its first socket; these
// may come first). Once per process and never cleaned up, as the library does.
void start_winsock() {
  static const int started = [] {
    WSADATA d;
    return WSAStartup(MAKEWORD(2, 2), &d);
  }();
  REQUIRE(started == 0);
}

// A plain (blocking, non-overlapped) Winsock socket, closed on scope exit.
struct PlainSocket {
  SOCKET s;
  explicit PlainSocket(int type = SOCK_STREAM) : s((start_winsock(), ::socket(AF_INET, type, 0))) {
    REQUIRE(s != INVALID_SOCKET);
  }
  PlainSocket(const PlainSocket&) = delete;
  PlainSocket& operator=(const PlainSocket&) = delete;
  ~PlainSocket() {
    if (s != INVALID_SOCKET) closesocket(s);
  }
  SOCKET release() { return std::exchange(s, INVALID_SOCKET); }
};

SockAddr bound_loopback(SOCKET s) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  int len = sizeof sin;
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
  return SockAddr::from(reinterpret_cast<sockaddr*>(&sin), len);
}

// A loopback listener with a zero backlog that never accepts (see the top of the file).
struct SilentListener {
  SilentListener() {
    addr = bound_loopback(sock.s);
    REQUIRE(::listen(sock.s, 0) == 0);
  }
  PlainSocket sock;
  SockAddr addr;
};

}  // namespace

TEST_SUITE("net (Windows)") {

TEST_CASE("the Windows net layer runs over IOCP") {
  MESSAGE("backend: " << netpoll::Poller::kName);
  CHECK(std::string_view(netpoll::Poller::kName) == "iocp");
}

TEST_CASE("case 18: a ConnectEx held pending ends at the dial timeout; Close cancels one") {
  Loop loop;
  SilentListener silent;
  const std::string to = silent.addr.to_string();
  std::vector<Conn> fillers;
  std::error_code timed_out;
  for (int i = 0; i < 16 && !timed_out; ++i) {
    const auto start = Clock::now();
    Result<Conn> c = loop.block_on(Dial(loop, "tcp", to, 100ms));
    if (c) {
      fillers.push_back(std::move(*c));  // accepted into the queue before it filled
      continue;
    }
    timed_out = c.error();
    if (timed_out != Errc::deadline_exceeded) break;
    CHECK(elapsed_ns(start) >= 100'000'000);
  }
  if (timed_out == std::errc::connection_refused) {
    MESSAGE("this stack refuses a SYN to a full queue: no connect can be held pending here");
    return;
  }
  REQUIRE(timed_out == Errc::deadline_exceeded);

  // The queue is full now: the next ConnectEx stays pending until Close cancels it.
  LoopThread lt;
  SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  REQUIRE(s != INVALID_SOCKET);
  Result<FD*> fd = FD::open(lt.loop, s, true);
  REQUIRE(fd);
  std::thread closer([f = *fd] {
    std::this_thread::sleep_for(50ms);
    (void)f->close();
  });
  Result<bool> r = Operation<ConnectOp>(*fd, silent.addr).wait();
  closer.join();
  (*fd)->release();
  CHECK(r.error() == Errc::closed);
}

TEST_CASE("case 19: writing to a connection the peer reset fails, it does not hang") {
  LoopThread lt;
  ConnPair p = blocking_pair(lt.loop);
  linger lg{1, 0};  // SO_LINGER {1, 0}: closesocket resets the connection
  REQUIRE(setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER,
                     reinterpret_cast<const char*>(&lg), sizeof lg) == 0);
  REQUIRE(!p.client.Close());
  std::string chunk(64 * 1024, 'z');
  std::error_code err;
  for (int i = 0; i < 1000 && !err; ++i) err = p.server.Write(std::string_view(chunk)).wait().error();
  CHECK((err == std::errc::connection_reset || err == std::errc::broken_pipe ||
         err == std::errc::connection_aborted));
  char b[8];
  Result<std::size_t> r = p.server.Read(std::span<char>(b)).wait();
  CHECK((!r || *r == 0));
}

TEST_CASE("case 24: a read cancelled by its deadline loses no data that arrives after it") {
  LoopThread lt;
  ConnPair p = blocking_pair(lt.loop);
  char b[64];
  for (int round = 0; round < 20; ++round) {
    // A WSARecv pending into b, cancelled by the deadline; the FD waits for the aborted packet
    // before the operation returns, so b is ours again and the next read starts clean.
    REQUIRE(!p.server.SetReadDeadline(Clock::now() + 2ms));
    CHECK(p.server.Read(std::span<char>(b)).wait().error() == Errc::deadline_exceeded);
    REQUIRE(!p.server.SetReadDeadline(TimePoint{}));
    const std::string msg = "round " + std::to_string(round);
    REQUIRE(p.client.Write(std::string_view(msg)).wait());
    std::string got;
    while (got.size() < msg.size()) {
      Result<std::size_t> n = p.server.Read(std::span<char>(b)).wait();
      REQUIRE(n);
      REQUIRE(*n > 0);
      got.append(b, *n);
    }
    CHECK(got == msg);
  }
}

TEST_CASE("case 24: Close with an AcceptEx pending; the listener's port is free afterwards") {
  SockAddr addr;
  {
    LoopThread lt;
    Result<Listener> ln = Listen(lt.loop, "tcp4", "127.0.0.1:0");
    REQUIRE(ln);
    addr = ln->Addr();
    std::error_code err;
    std::thread acceptor([&] { err = ln->Accept().wait().error(); });
    std::this_thread::sleep_for(20ms);  // let it park (correctness does not depend on it)
    REQUIRE(!ln->Close());
    acceptor.join();
    CHECK(err == Errc::closed);
  }
  // The socket made for the AcceptEx and the listener are both closed: the port binds again.
  Loop loop;
  Result<Listener> again = Listen(loop, "tcp4", addr.to_string());
  CHECK(again);
}

TEST_CASE("Close from a coroutine with an AcceptEx pending frees the port before it returns") {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp4", "127.0.0.1:0");
  REQUIRE(ln);
  const std::string addr = ln->Addr().to_string();
  std::error_code accepted;
  loop.spawn([](Listener& l, std::error_code& out) -> Task<void> {
    out = (co_await l.Accept()).error();
  }(*ln, accepted));
  loop.run_once(Timeout::zero());  // the AcceptEx is pending
  REQUIRE(loop.spawned() == 1);
  bool relisted = false;
  loop.block_on([&]() -> Task<void> {
    CHECK(!ln->Close());
    Result<Listener> again = Listen(loop, "tcp4", addr);  // before the Loop steps again
    relisted = static_cast<bool>(again);
    co_return;
  }());
  CHECK(relisted);
  while (loop.spawned() > 0) loop.run_once(Timeout::after(100ms));
  CHECK(accepted == Errc::closed);
}

TEST_CASE("AcceptEx: peer and local addresses; many clients accepted in order of arrival") {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  loop.block_on([&]() -> Task<void> {
    for (int i = 0; i < 50; ++i) {
      ConnPair p = co_await tcp_conn_pair(loop, *ln);
      CHECK(p.server.RemoteAddr() == p.client.LocalAddr());
      CHECK(p.server.LocalAddr() == ln->Addr());
      CHECK(p.client.RemoteAddr() == ln->Addr());
      REQUIRE(co_await p.client.Write(std::string_view("x")));
      char b[4];
      Result<std::size_t> n = co_await p.server.Read(std::span<char>(b));
      REQUIRE(n);
      CHECK(*n == 1);
    }
  }());
}

TEST_CASE("FileConn: an overlapped connected socket becomes a Conn; bad sockets are refused") {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp4", "127.0.0.1:0");
  REQUIRE(ln);
  SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  REQUIRE(s != INVALID_SOCKET);
  REQUIRE(::connect(s, ln->Addr().get(), ln->Addr().len()) == 0);
  Result<Conn> c = FileConn(loop, s);
  REQUIRE(c);
  CHECK(c->network() == Network::tcp4);
  CHECK(c->RemoteAddr() == ln->Addr());
  loop.block_on([&]() -> Task<void> {
    Result<Conn> server = co_await ln->Accept();
    REQUIRE(server);
    REQUIRE(co_await c->Write(std::string_view("file")));
    char b[8];
    Result<std::size_t> n = co_await server->Read(std::span<char>(b));
    REQUIRE(n);
    CHECK(std::string(b, *n) == "file");
  }());
  CHECK(FileConn(loop, kInvalidSocket).error() == Errc::invalid_argument);
  // A listening socket is not a Conn; the caller keeps it.
  PlainSocket l;
  bound_loopback(l.s);
  REQUIRE(::listen(l.s, 1) == 0);
  CHECK(FileConn(loop, l.s).error() == std::errc::invalid_argument);
}

TEST_CASE("UDP: a datagram longer than the buffer is truncated, not an error") {
  Loop loop;
  Result<PacketConn> a = ListenPacket(loop, "udp4", "127.0.0.1:0");
  Result<PacketConn> b = ListenPacket(loop, "udp4", "127.0.0.1:0");
  REQUIRE(a);
  REQUIRE(b);
  loop.block_on([&]() -> Task<void> {
    REQUIRE(co_await a->WriteTo(as_bytes(std::string_view("0123456789")), b->LocalAddr()));
    char buf[4];
    Result<Datagram> d = co_await b->ReadFrom(std::as_writable_bytes(std::span<char>(buf)));
    REQUIRE(d);
    CHECK(d->size == 4);
    CHECK(std::string(buf, 4) == "0123");
    CHECK(d->from == a->LocalAddr());
    // A datagram to a closed port draws ICMP port-unreachable; the next receive must not fail
    // with WSAECONNRESET for it (SIO_UDP_CONNRESET off, as on POSIX for an unconnected socket).
    SockAddr gone;
    {
      Result<PacketConn> g = ListenPacket(loop, "udp4", "127.0.0.1:0");
      REQUIRE(g);
      gone = g->LocalAddr();
    }
    // The next receive has nothing to read and stays pending: only its own packet may end it
    // (a datagram socket gets no skip-on-success, so the truncated receive's packet, if any,
    // was its own and not a stray one for this read).
    Result<Datagram> later{Errc::invalid_argument};
    bool got_later = false;
    loop.spawn([](PacketConn& pc, char* out, Result<Datagram>& r, bool& done) -> Task<void> {
      r = co_await pc.ReadFrom(std::as_writable_bytes(std::span<char>(out, 4)));
      done = true;
    }(*b, buf, later, got_later));
    co_await sleep_for(loop, 20ms);
    CHECK(!got_later);
    REQUIRE(co_await a->WriteTo(as_bytes(std::string_view("abc")), b->LocalAddr()));
    while (!got_later) co_await sleep_for(loop, 1ms);
    REQUIRE(later);
    CHECK(later->size == 3);
    CHECK(std::string(buf, 3) == "abc");
    REQUIRE(co_await b->WriteTo(as_bytes(std::string_view("lost")), gone));
    REQUIRE(co_await a->WriteTo(as_bytes(std::string_view("next")), b->LocalAddr()));
    Result<Datagram> e = co_await b->ReadFrom(std::as_writable_bytes(std::span<char>(buf)));
    REQUIRE(e);
    CHECK(std::string(buf, e->size) == "next");
  }());
}

TEST_CASE("Unix-domain streams: end to end where Winsock has AF_UNIX, a clear error where not") {
  Loop loop;
  const std::string path = "np-unix-test.sock";
  std::remove(path.c_str());
  Result<Listener> ln = Listen(loop, "unix", path);
  if (!ln) {
    // wine's Winsock has no AF_UNIX; Windows 10 1803 and later have stream sockets.
    CHECK(ln.error() == std::errc::address_family_not_supported);
    CHECK(ln.error().message().find("Unknown error") == std::string::npos);
    MESSAGE("no AF_UNIX in this Winsock: " << ln.error().message());
    return;
  }
  loop.block_on([&]() -> Task<void> {
    Result<Conn> client = co_await Dial(loop, "unix", path);
    REQUIRE(client);
    Result<Conn> server = co_await ln->Accept();
    REQUIRE(server);
    REQUIRE(co_await client->Write(std::string_view("unix")));
    char b[8];
    Result<std::size_t> n = co_await server->Read(std::span<char>(b));
    REQUIRE(n);
    CHECK(std::string(b, *n) == "unix");
  }());
}

}  // TEST_SUITE
