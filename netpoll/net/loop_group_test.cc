// LoopGroup (loop_group.h): N Loops serving one address through SO_REUSEPORT. Connections
// spread over every Loop (where the kernel spreads them), one Loop's shutdown leaves the
// others' connections and accepting alone, and nothing (descriptor, task, socket) outlives
// the group. The Windows build runs it too, where a group of more than one Loop must fail with
// its documented error.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "netpoll/net/loop_group.h"
#include "netpoll/net/net.h"
#include "test/net_test_util.h"
#include "test/process_stats.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;
using netpoll::testing::LoopThread;
using netpoll::testing::open_fd_count;

namespace {

// Each connection: reads one byte, answers with its Loop's index, then echoes until EOF.
Task<void> tell_and_echo(Conn c, std::size_t index) {
  char b[64];
  Result<std::size_t> n = co_await c.Read(std::span<char>(b, 1));
  if (!n || *n == 0) co_return;
  const char id = static_cast<char>('0' + index);
  if (!co_await c.Write(std::string_view(&id, 1))) co_return;
  for (;;) {
    n = co_await c.Read(std::span<char>(b));
    if (!n || *n == 0) co_return;
    if (!co_await c.Write(std::span<const std::byte>(std::as_bytes(std::span<char>(b, *n))))) co_return;
  }
}

LoopGroup::ServeFn serve_tell_and_echo() {
  return [](Loop& loop, Listener& ln, std::size_t index) -> Task<void> {
    for (;;) {
      Result<Conn> c = co_await ln.Accept();
      if (!c) co_return;  // closed: the Loop is shutting down
      loop.spawn(tell_and_echo(std::move(*c), index));
    }
  };
}

// A client connection and the index of the Loop that accepted it.
struct Client {
  Conn conn;
  int loop = -1;
};

Client connect_one(Loop& client_loop, const std::string& addr) {
  Client c;
  Result<Conn> conn = Dial(client_loop, "tcp", addr).wait();
  REQUIRE(conn);
  // A bound, not a measurement: a connection no Loop serves fails here instead of hanging.
  REQUIRE(!conn->SetReadDeadline(std::chrono::steady_clock::now() + 10s));
  REQUIRE(conn->Write(std::string_view("?")).wait());
  char id = 0;
  Result<std::size_t> n = conn->Read(std::span<char>(&id, 1)).wait();
  REQUIRE(n);
  REQUIRE(*n == 1);
  REQUIRE(!conn->SetReadDeadline({}));
  c.conn = std::move(*conn);
  c.loop = id - '0';
  return c;
}

bool echoes(Conn& c) {
  if (!c.Write(std::string_view("ping")).wait()) return false;
  std::string got;
  char b[8];
  while (got.size() < 4) {
    Result<std::size_t> n = c.Read(std::span<char>(b)).wait();
    if (!n || *n == 0) return false;
    got.append(b, *n);
  }
  return got == "ping";
}

// The descriptors open now, after a first Listen made the process's reserve descriptor (the
// EMFILE fallback, opened once and kept), so a later count compares like with like.
std::size_t fds_after_first_listen() {
  {
    Loop loop;
    REQUIRE(Listen(loop, "tcp4", "127.0.0.1:0"));
  }
  return open_fd_count();
}

}  // namespace

TEST_CASE("LoopGroup: bad arguments are refused, and nothing is left open") {
  const std::size_t fds = fds_after_first_listen();
  {
    Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(0, "tcp", "127.0.0.1:0", serve_tell_and_echo());
    CHECK(g.error() == Errc::invalid_argument);
    g = LoopGroup::Start(2, "tcp", "127.0.0.1:0", LoopGroup::ServeFn());
    CHECK(g.error() == Errc::invalid_argument);
    g = LoopGroup::Start(2, "unix", "netpoll-loop-group-test.sock", serve_tell_and_echo());
    CHECK(g.error() == std::errc::operation_not_supported);
    // An address already taken: the first Listen fails, nothing runs.
    Loop other;
    Result<Listener> taken = Listen(other, "tcp4", "127.0.0.1:0");
    REQUIRE(taken);
    g = LoopGroup::Start(1, "tcp4", taken->Addr().to_string(), serve_tell_and_echo());
    CHECK(g.error() == std::errc::address_in_use);
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("LoopGroup: connections spread over every Loop, and each Loop serves its own") {
  if constexpr (kReusePortOption == 0) {
    // Windows: one Loop works, more cannot share the port.
    Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(2, "tcp4", "127.0.0.1:0", serve_tell_and_echo());
    CHECK(g.error() == std::errc::operation_not_supported);
    g = LoopGroup::Start(1, "tcp4", "127.0.0.1:0", serve_tell_and_echo());
    REQUIRE(g);
    LoopThread client;
    Client c = connect_one(client.loop, (*g)->Addr().to_string());
    CHECK(c.loop == 0);
    CHECK(echoes(c.conn));
    c.conn = Conn();
    CHECK(*(*g)->shutdown(Timeout::after(10s)) == 0);
    return;
  }
  constexpr std::size_t kLoops = 4;
  constexpr int kConns = 64;
  const std::size_t fds = fds_after_first_listen();
  {
    Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(kLoops, "tcp4", "127.0.0.1:0", serve_tell_and_echo());
    REQUIRE(g);
    LoopGroup& group = **g;
    CHECK(group.size() == kLoops);
    CHECK(group.Addr().port() != 0);
    LoopThread client;
    std::vector<Client> clients;
    int per_loop[kLoops] = {};
    for (int i = 0; i < kConns; ++i) {
      clients.push_back(connect_one(client.loop, group.Addr().to_string()));
      REQUIRE(clients.back().loop >= 0);
      REQUIRE(clients.back().loop < static_cast<int>(kLoops));
      ++per_loop[clients.back().loop];
    }
    for (Client& c : clients) CHECK(echoes(c.conn));
    if constexpr (kReusePortSpreads) {
      // A hash over 64 connections leaves a Loop empty with probability 4 * (3/4)^64 < 1e-7.
      for (std::size_t i = 0; i < kLoops; ++i) CHECK_MESSAGE(per_loop[i] > 0, "loop " << i);
    }
    clients.clear();  // the server sessions see EOF and end
    Result<std::size_t> left = group.shutdown(Timeout::after(10s));
    REQUIRE(left);
    CHECK(*left == 0);
    for (std::size_t i = 0; i < kLoops; ++i) {
      CHECK(group.loop(i).spawned() == 0);
      CHECK(group.loop(i).open_sockets() == 0);
    }
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("LoopGroup: one Loop's shutdown leaves the others' connections and accepting alone") {
  if constexpr (kReusePortOption == 0) return;  // needs two Loops (the case above covers Windows)
  constexpr std::size_t kLoops = 3;
  const std::size_t fds = fds_after_first_listen();
  {
    Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(kLoops, "tcp4", "127.0.0.1:0", serve_tell_and_echo());
    REQUIRE(g);
    LoopGroup& group = **g;
    LoopThread client;
    const std::string addr = group.Addr().to_string();
    std::vector<Client> clients;
    // Until every Loop has a connection (a few dozen on Linux; where the kernel does not
    // spread, the first Loop to bind or the last gets them all: then whichever it is).
    int seen = 0;
    for (int i = 0; i < 200 && (seen != (1 << kLoops) - 1); ++i) {
      clients.push_back(connect_one(client.loop, addr));
      seen |= 1 << clients.back().loop;
      if (!kReusePortSpreads && i >= 8) break;
    }
    const int victim = clients.front().loop;
    Result<std::size_t> left = group.shutdown(static_cast<std::size_t>(victim), Timeout::after(10s));
    REQUIRE(left);
    CHECK(*left == 0);
    CHECK(group.loop(static_cast<std::size_t>(victim)).spawned() == 0);
    CHECK(group.loop(static_cast<std::size_t>(victim)).open_sockets() == 0);
    for (Client& c : clients) {
      CAPTURE(c.loop);
      if (c.loop == victim) CHECK_FALSE(echoes(c.conn));  // closed with its Loop
      else CHECK(echoes(c.conn));                         // untouched
    }
    if constexpr (kReusePortSpreads) {
      // New connections go to the Loops still serving.
      for (int i = 0; i < 16; ++i) {
        Client c = connect_one(client.loop, addr);
        CHECK(c.loop != victim);
        CHECK(echoes(c.conn));
      }
    }
    // Twice is harmless; a Loop thread may not shut the group down.
    CHECK(*group.shutdown(static_cast<std::size_t>(victim), Timeout::zero()) == 0);
    const std::size_t other = static_cast<std::size_t>(victim == 0 ? 1 : 0);
    std::atomic<int> from_loop{0};
    group.loop(other).post([&] {
      Result<std::size_t> r = group.shutdown(static_cast<std::size_t>(victim), Timeout::zero());
      from_loop = !r && r.error() == Errc::would_deadlock ? 1 : 2;
    });
    REQUIRE(netpoll::testing::eventually([&] { return from_loop.load() != 0; }));
    CHECK(from_loop.load() == 1);
    CHECK(group.shutdown(kLoops, Timeout::zero()).error() == Errc::invalid_argument);
    clients.clear();
  }  // ~LoopGroup shuts the rest down
  CHECK(open_fd_count() == fds);
}

TEST_CASE("LoopGroup: a Loop shut down with tasks left stops taking connections at once") {
  if constexpr (!kReusePortSpreads) return;  // needs the kernel to spread over two Loops
  // Loop 0's serve task outlives its Accept by a while (a drain, a flush), so its first
  // shutdown returns 1; its Listener must already be out of the port's group, or the kernel
  // would keep queueing about half the new connections where nobody accepts them.
  auto serve = [](Loop& loop, Listener& ln, std::size_t index) -> Task<void> {
    for (;;) {
      Result<Conn> c = co_await ln.Accept();
      if (!c) break;
      loop.spawn(tell_and_echo(std::move(*c), index));
    }
    co_await sleep_for(loop, 1500ms);
  };
  Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(2, "tcp4", "127.0.0.1:0", serve);
  REQUIRE(g);
  LoopGroup& group = **g;
  Result<std::size_t> left = group.shutdown(0, Timeout::zero());
  REQUIRE(left);
  CHECK(*left == 1);
  LoopThread client;
  for (int i = 0; i < 16; ++i) {
    Client c = connect_one(client.loop, group.Addr().to_string());
    CHECK(c.loop == 1);
  }
  Result<std::size_t> rest = group.shutdown(Timeout::after(10s));
  REQUIRE(rest);
  CHECK(*rest == 0);
}

TEST_CASE("LoopGroup: the serve callable outlives its tasks, which unwind on their own Loop's thread") {
  // A capturing lambda: its closure lives in the group, not in Start's argument.
  const std::string greeting(100, 'g');  // long: the std::function keeps it on the heap
  struct Seen {
    std::atomic<int> started{0}, unwound_on_own_thread{0}, unwound_elsewhere{0};
  } seen;
  Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(
      1, "tcp4", "127.0.0.1:0", [greeting, &seen](Loop& loop, Listener& ln, std::size_t) -> Task<void> {
        for (;;) {
          Result<Conn> c = co_await ln.Accept();
          if (!c) co_return;
          (void)co_await c->Write(std::string_view(greeting));  // uses the capture
          loop.spawn([](Conn c, Seen& seen) -> Task<void> {
            const std::thread::id home = std::this_thread::get_id();
            ++seen.started;
            char b[8];
            (void)co_await c.Read(std::span<char>(b));  // parked until the shutdown ends it
            if (std::this_thread::get_id() == home) ++seen.unwound_on_own_thread;
            else ++seen.unwound_elsewhere;
          }(std::move(*c), seen));
        }
      });
  REQUIRE(g);
  LoopThread client;
  Result<Conn> c = Dial(client.loop, "tcp", (*g)->Addr().to_string()).wait();
  REQUIRE(c);
  std::string got;
  char b[128];
  while (got.size() < greeting.size()) {
    Result<std::size_t> n = c->Read(std::span<char>(b)).wait();
    REQUIRE(n);
    REQUIRE(*n > 0);
    got.append(b, *n);
  }
  CHECK(got == greeting);
  REQUIRE(netpoll::testing::eventually([&] { return seen.started.load() == 1; }));
  CHECK(*(*g)->shutdown(Timeout::after(10s)) == 0);
  CHECK(seen.unwound_on_own_thread.load() == 1);
  CHECK(seen.unwound_elsewhere.load() == 0);
}

TEST_CASE("LoopGroup: shutdown from several threads at once is serialized") {
  if constexpr (kReusePortOption == 0) return;
  for (int round = 0; round < 20; ++round) {
    Result<std::unique_ptr<LoopGroup>> g = LoopGroup::Start(3, "tcp4", "127.0.0.1:0", serve_tell_and_echo());
    REQUIRE(g);
    LoopGroup& group = **g;
    std::atomic<int> zero{0}, other{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&, t] {
        Result<std::size_t> r = t % 2 ? group.shutdown(Timeout::after(10s))
                                      : group.shutdown(static_cast<std::size_t>(t) % 3, Timeout::after(10s));
        if (!r) MESSAGE("shutdown: " << r.error().message());
        else if (*r != 0) MESSAGE("shutdown left " << *r);
        (r && *r == 0 ? zero : other)++;
      });
    for (auto& t : ts) t.join();
    CHECK(zero.load() == 4);
    CHECK(other.load() == 0);
  }
}
