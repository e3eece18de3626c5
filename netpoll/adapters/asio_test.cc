// The Asio adapter (netpoll/adapters/asio.h) in a real asio::io_context: the shared embedding
// cases (test/embed_cases.h) with AsioDriver as the host's only netpoll code, then what only
// an adapter must show: the host's own steady_timer keeps firing while netpoll serves,
// stop-then-shutdown leaves the handle open for the Loop and nothing pending, and a host with
// netpoll deadlines armed far ahead sleeps (no steps).
#include "netpoll/adapters/asio.h"

#include <fcntl.h>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "netpoll/net/net.h"
#include "test/embed_cases.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {
namespace {

using netpoll::adapters::AsioDriver;

// A Host (test/embed_cases.h): an io_context run one handler at a time on the test thread, so
// done() is checked after every step.
class AsioHost : public HostBase {
 public:
  explicit AsioHost(net::Loop& loop) : loop_(loop) {}

  void run(const std::function<bool()>& done) {
    asio::io_context io;
    AsioDriver driver(io, loop_);
    REQUIRE_FALSE(driver.start());
    const Clock::time_point give_up = Clock::now() + kHostSafetyTimeout;
    while (!done()) {
      if (driver.last_timeout().is_infinite()) sleeping_.store(true, std::memory_order_release);
      const auto left = give_up - Clock::now();
      if (left <= Clock::duration::zero() || io.run_one_for(left) == 0) {
        stats_.timed_out = true;
        break;
      }
    }
    driver.stop();
    io.restart();
    io.run();  // the cancelled handlers
    CHECK(driver.stopped());
    record_steps(driver.stats());
  }

 private:
  net::Loop& loop_;
};

}  // namespace

TEST_CASE("asio adapter: coroutine echo server on the embedded Loop, clients on 4 threads") {
  check_echo<AsioHost>();
}

TEST_CASE("asio adapter: sleep_for and a read deadline fire through the steady_timer") {
  check_timers<AsioHost>();
}

TEST_CASE("asio adapter: a read deadline set from another thread while the host sleeps re-arms it") {
  check_deadline_from_other_thread<AsioHost>();
}

TEST_CASE("asio adapter: loop.post from other threads wakes the host") {
  check_post<AsioHost>();
}

TEST_CASE("asio adapter: more events than a step takes are all served") {
  check_full_batch<AsioHost>();
}

TEST_CASE("asio adapter: the host's own steady_timer keeps firing while netpoll serves echo") {
  net::Loop loop;
  constexpr int kConns = 4;
  constexpr std::size_t kBytes = 256 * 1024;
  EchoService echo(loop, kConns);
  asio::io_context io;
  AsioDriver driver(io, loop);
  REQUIRE_FALSE(driver.start());
  int ticks = 0;
  asio::steady_timer tick(io);
  std::function<void()> arm = [&] {
    tick.expires_after(std::chrono::milliseconds(1));
    tick.async_wait([&](const std::error_code& ec) {
      if (ec) return;
      ++ticks;
      arm();
    });
  };
  arm();
  std::string client_error;
  std::atomic<bool> client_done{false};
  std::thread client([&] {
    client_error = echo_client(echo.port(), kConns, kBytes, 13);
    client_done.store(true);
  });
  const auto give_up = Clock::now() + kHostSafetyTimeout;
  while ((loop.spawned() != 0 || !client_done.load()) && Clock::now() < give_up)
    io.run_one_for(std::chrono::milliseconds(100));
  client.join();
  CHECK_MESSAGE(client_error.empty(), client_error);
  CHECK(echo.rec.finished == kConns);
  CHECK(echo.rec.echoed == kConns * kBytes);
  MESSAGE("host timer ticks while serving: ", ticks, "; steps on handle ", driver.stats().on_handle);
  CHECK(ticks > 0);
  CHECK(driver.stats().on_handle > 0);

  // Stop, then shut down. The handle is released, not closed: it is still the Loop's.
  const int handle = loop.native_handle();
  driver.stop();
  tick.cancel();
  io.restart();
  io.run();
  CHECK(driver.stopped());
  CHECK(::fcntl(handle, F_GETFD) != -1);
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK((left && *left == 0));
}

TEST_CASE("asio adapter: with netpoll deadlines armed far ahead the host sleeps, making no steps") {
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  int parked = 0, ended = 0;
  spawn_parked_pair(loop, *ln, parked, ended);
  asio::io_context io;
  AsioDriver driver(io, loop);
  REQUIRE_FALSE(driver.start());
  // Connect, accept, both Reads park with their deadlines armed; then a moment to settle.
  const auto give_up = Clock::now() + kHostSafetyTimeout;
  while (parked < 2 && Clock::now() < give_up) io.run_one_for(std::chrono::milliseconds(100));
  REQUIRE(parked == 2);
  io.run_for(std::chrono::milliseconds(50));
  const AsioDriver::Stats before = driver.stats();
  const double cpu0 = thread_cpu_ms();
  io.restart();
  io.run_for(std::chrono::milliseconds(300));
  const double cpu = thread_cpu_ms() - cpu0;
  const AsioDriver::Stats after = driver.stats();
  const std::uint64_t steps = steps_between(before, after);
  MESSAGE("300 ms idle with 2 netpoll deadlines armed: host thread CPU ", cpu, " ms, ", steps, " steps");
  CHECK(steps == 0);
  CHECK(ended == 0);
  CHECK(loop.spawned() == 2);

  driver.stop();
  io.restart();
  io.run();
  CHECK(driver.stopped());
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK((left && *left == 0));
  CHECK(ended == 2);
}

}  // namespace netpoll::embed_test
