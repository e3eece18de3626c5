// examples/echo.h on a LoopGroup, shut down while a session is parked in Write holding a
// buffer from its thread's pool (examples/buffer_pool.h, thread_local): the session must
// unwind on its Loop's thread, while that thread's pool still exists (it once unwound on the
// thread calling shutdown, after the Loop's thread and its pool were gone: a use after free
// ASan reports).
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "examples/echo.h"
#include "netpoll/net/loop_group.h"
#include "netpoll/net/net.h"
#include "test/net_test_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;

TEST_CASE("echo on a LoopGroup: a session parked in Write with a pooled buffer unwinds on its own thread") {
  auto serve = [](Loop& loop, Listener& ln, std::size_t) -> Task<void> {
    for (;;) {
      Result<Conn> c = co_await ln.Accept();
      if (!c) co_return;
      loop.spawn([](Conn c) -> Task<void> { co_await netpoll::examples::echo(c); }(std::move(*c)));
    }
  };
  Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(1, "tcp4", "127.0.0.1:0", serve);
  REQUIRE(g);
  netpoll::testing::LoopThread client;
  Result<Conn> c = Dial(client.loop, "tcp", (*g)->Addr().to_string()).wait();
  REQUIRE(c);
  // Send without reading until the send stalls: the echo's Write then parks with its lease.
  const auto fd = c->native_handle();
  std::vector<char> chunk(64 * 1024, 'x');
  std::size_t sent = 0;
  int stalls = 0;
  while (stalls < 50) {  // 50 x 2 ms with nothing accepted: both directions' buffers are full
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      stalls = 0;
    } else {
      ++stalls;
      std::this_thread::sleep_for(2ms);
    }
  }
  CHECK(sent > chunk.size());  // more than the server could read without writing back
  Result<std::size_t> left = (*g)->shutdown(Timeout::after(10s));
  REQUIRE(left);
  CHECK(*left == 0);
}
