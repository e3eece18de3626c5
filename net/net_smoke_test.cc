#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "net/net.h"

using namespace netpoll;
using namespace netpoll::net;

namespace {
Task<void> echo_once(Listener& ln) {
  Result<Conn> c = co_await ln.Accept();
  REQUIRE(c);
  char buf[64];
  for (;;) {
    Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
    REQUIRE(n);
    if (*n == 0) break;
    Result<std::size_t> w = co_await c->Write(std::string_view(buf, *n));
    REQUIRE(w);
  }
}

Task<std::string> client(Loop& loop, std::string addr) {
  Result<Conn> c = co_await Dial(loop, "tcp", addr);
  REQUIRE(c);
  REQUIRE(co_await c->Write(std::string_view("hello")));
  REQUIRE(!c->CloseWrite());
  std::string got;
  char buf[16];
  for (;;) {
    Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
    REQUIRE(n);
    if (*n == 0) break;
    got.append(buf, *n);
  }
  co_return got;
}
}  // namespace

TEST_CASE("smoke: coroutine echo over loopback") {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  loop.spawn(echo_once(*ln));
  std::string got = loop.block_on(client(loop, ln->Addr().to_string()));
  CHECK(got == "hello");
}

TEST_CASE("smoke: blocking mode") {
  Loop loop;
  std::thread t([&] { loop.run(); });
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  std::thread server([&] {
    Result<Conn> c = ln->Accept().wait();
    REQUIRE(c);
    char buf[64];
    Result<std::size_t> n = c->Read(std::span<char>(buf)).wait();
    REQUIRE(n);
    REQUIRE(c->Write(std::string_view(buf, *n)).wait());
  });
  Result<Conn> c = Dial(loop, "tcp", ln->Addr().to_string()).wait();
  REQUIRE(c);
  REQUIRE(c->Write(std::string_view("ping")).wait());
  char buf[8];
  Result<std::size_t> n = c->Read(std::span<char>(buf)).wait();
  REQUIRE(n);
  CHECK(std::string(buf, *n) == "ping");
  server.join();
  loop.stop();
  t.join();
}
