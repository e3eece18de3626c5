// The libuv adapter (netpoll/adapters/uv.h) in a real libuv loop: the shared embedding cases
// (test/embed_cases.h) with UvDriver as the host's only netpoll code, then what only an
// adapter must show: the host's own timers run while netpoll serves, stop-then-shutdown
// leaves nothing behind, and a host with a netpoll timer armed far ahead sleeps (no steps).
#include "netpoll/adapters/uv.h"

#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <thread>

#include "netpoll/net/net.h"
#include "test/embed_cases.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {
namespace {

// A Host (test/embed_cases.h) made of a uv loop, the adapter, and two test-only handles: a
// watchdog (the safety timeout) and a prepare handle that records when libuv is about to
// block with no netpoll timer or idle step pending.
class UvHost : public HostBase {
 public:
  explicit UvHost(net::Loop& loop) : driver_(&uv_, loop) {
    REQUIRE(uv_loop_init(&uv_) == 0);
    REQUIRE(uv_prepare_init(&uv_, &prepare_) == 0);
    REQUIRE(uv_timer_init(&uv_, &watchdog_) == 0);
    prepare_.data = watchdog_.data = this;
  }
  ~UvHost() { CHECK(uv_loop_close(&uv_) == 0); }  // every handle closed: nothing leaked
  UvHost(const UvHost&) = delete;
  UvHost& operator=(const UvHost&) = delete;

  void run(std::function<bool()> done) {
    done_ = std::move(done);
    REQUIRE(uv_prepare_start(&prepare_, &on_prepare) == 0);
    const auto safety = std::chrono::duration_cast<std::chrono::milliseconds>(kHostSafetyTimeout);
    REQUIRE(uv_timer_start(&watchdog_, &on_watchdog, static_cast<std::uint64_t>(safety.count()), 0) == 0);
    REQUIRE(driver_.start() == 0);
    // Returns once finish() has closed every handle.
    uv_run(&uv_, UV_RUN_DEFAULT);
    record_steps(driver_.stats());
    CHECK(driver_.closed());
    CHECK(driver_.poll_error() == 0);
  }

  uv_loop_t* uv() { return &uv_; }

 private:
  static UvHost& self(void* h) { return *static_cast<UvHost*>(static_cast<uv_handle_t*>(h)->data); }

  // Runs after the adapter's callbacks of an iteration, just before libuv may block: the
  // place to check done() (the adapter steps inside libuv callbacks, so no per-step hook).
  static void on_prepare(uv_prepare_t* h) {
    UvHost& s = self(h);
    if (s.finished_) return;
    if (s.done_()) return s.finish();
    if (s.driver_.stats().on_zero == s.idle_seen_ && s.driver_.stats().on_timer == s.timer_seen_)
      s.sleeping_.store(true, std::memory_order_release);
    s.idle_seen_ = s.driver_.stats().on_zero;
    s.timer_seen_ = s.driver_.stats().on_timer;
  }
  static void on_watchdog(uv_timer_t* h) {
    self(h).stats_.timed_out = true;
    self(h).finish();
  }
  void finish() {
    finished_ = true;
    driver_.stop();
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
  }

  uv_loop_t uv_;
  netpoll::adapters::UvDriver driver_;
  uv_prepare_t prepare_;
  uv_timer_t watchdog_;
  std::function<bool()> done_;
  bool finished_ = false;
  std::uint64_t idle_seen_ = 0, timer_seen_ = 0;
};

}  // namespace

TEST_CASE("uv adapter: coroutine echo server on the embedded Loop, clients on 4 threads") {
  check_echo<UvHost>();
}

TEST_CASE("uv adapter: sleep_for and a read deadline fire through the host's uv_timer_t") {
  check_timers<UvHost>();
}

TEST_CASE("uv adapter: a read deadline set from another thread while the host sleeps re-arms it") {
  check_deadline_from_other_thread<UvHost>();
}

TEST_CASE("uv adapter: loop.post from other threads wakes the host through uv_poll_t") {
  check_post<UvHost>();
}

TEST_CASE("uv adapter: more events than a step takes are all served") {
  check_full_batch<UvHost>();
}

TEST_CASE("uv adapter: the host's own repeating timer keeps firing while netpoll serves echo") {
  net::Loop loop;
  constexpr int kConns = 4;
  constexpr std::size_t kBytes = 256 * 1024;
  EchoService echo(loop, kConns);
  uv_loop_t uv;
  REQUIRE(uv_loop_init(&uv) == 0);
  netpoll::adapters::UvDriver driver(&uv, loop);
  REQUIRE(driver.start() == 0);
  struct Ticks {
    int n = 0;
    uv_timer_t timer;
  } ticks;
  ticks.timer.data = &ticks;
  REQUIRE(uv_timer_init(&uv, &ticks.timer) == 0);
  REQUIRE(uv_timer_start(&ticks.timer, [](uv_timer_t* t) { ++static_cast<Ticks*>(t->data)->n; }, 1, 1) == 0);
  std::string client_error;
  std::atomic<bool> client_done{false};
  std::thread client([&] {
    client_error = echo_client(echo.port(), kConns, kBytes, 7);
    client_done.store(true);
  });
  // The host runs until the server coroutines are done and the client has checked its echo.
  const auto give_up = Clock::now() + kHostSafetyTimeout;
  while ((loop.spawned() != 0 || !client_done.load()) && Clock::now() < give_up)
    uv_run(&uv, UV_RUN_ONCE);
  client.join();
  CHECK_MESSAGE(client_error.empty(), client_error);
  CHECK(echo.rec.finished == kConns);
  CHECK(echo.rec.echoed == kConns * kBytes);
  MESSAGE("host timer ticks while serving: ", ticks.n, "; steps on handle ", driver.stats().on_handle);
  CHECK(ticks.n > 0);
  CHECK(driver.stats().on_handle > 0);

  // Detach, then shut down: the Loop is the caller's again once the handles are closed.
  bool closed_cb = false;
  driver.stop([](netpoll::adapters::UvDriver*, void* arg) { *static_cast<bool*>(arg) = true; }, &closed_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&ticks.timer), nullptr);
  CHECK(uv_run(&uv, UV_RUN_DEFAULT) == 0);
  CHECK(driver.closed());
  CHECK(closed_cb);
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK((left && *left == 0));
  CHECK(uv_loop_close(&uv) == 0);
}

// Runs `uv` for `ms` of its own time.
void run_for(uv_loop_t* uv, std::uint64_t ms) {
  uv_timer_t end;
  REQUIRE(uv_timer_init(uv, &end) == 0);
  REQUIRE(uv_timer_start(&end, [](uv_timer_t* t) { uv_stop(t->loop); }, ms, 0) == 0);
  uv_run(uv, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&end), nullptr);
  uv_run(uv, UV_RUN_NOWAIT);  // the close callback
}

TEST_CASE("uv adapter: with netpoll timers armed far ahead the host sleeps, making no steps") {
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  int parked = 0, ended = 0;
  spawn_parked_pair(loop, *ln, parked, ended);
  uv_loop_t uv;
  REQUIRE(uv_loop_init(&uv) == 0);
  netpoll::adapters::UvDriver driver(&uv, loop);
  REQUIRE(driver.start() == 0);
  // Connect, accept, both Reads park with their deadlines armed; then a moment to settle.
  const auto give_up = Clock::now() + kHostSafetyTimeout;
  while (parked < 2 && Clock::now() < give_up) uv_run(&uv, UV_RUN_ONCE);
  REQUIRE(parked == 2);
  run_for(&uv, 50);
  const netpoll::adapters::UvDriver::Stats before = driver.stats();
  const double cpu0 = thread_cpu_ms();
  run_for(&uv, 300);
  const double cpu = thread_cpu_ms() - cpu0;
  const netpoll::adapters::UvDriver::Stats after = driver.stats();
  const std::uint64_t steps = steps_between(before, after);
  MESSAGE("300 ms idle with 2 netpoll deadlines armed: host thread CPU ", cpu, " ms, ", steps, " steps");
  CHECK(steps == 0);
  CHECK(ended == 0);
  CHECK(loop.spawned() == 2);  // both parked: the timers are armed, not fired

  driver.stop();
  CHECK(uv_run(&uv, UV_RUN_DEFAULT) == 0);
  CHECK(driver.closed());
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK((left && *left == 0));
  CHECK(ended == 2);
  CHECK(uv_loop_close(&uv) == 0);
}

}  // namespace netpoll::embed_test
