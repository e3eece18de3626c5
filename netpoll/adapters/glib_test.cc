// The GLib adapter (netpoll/adapters/glib.h) in a real GLib main context: the shared embedding
// cases (test/embed_cases.h) with GlibDriver as the host's only netpoll code, then what only
// an adapter must show: the host's own timeout source keeps firing while netpoll serves,
// detach-then-shutdown leaves nothing behind, and a host with netpoll deadlines armed far
// ahead sleeps (no dispatches).
#include "netpoll/adapters/glib.h"

#include <glib.h>

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

using netpoll::adapters::GlibDriver;

// A Host (test/embed_cases.h): a private main context iterated on the test thread, with the
// driver's source and a test-only probe source that records when the context is about to
// block with no netpoll timer or step pending.
class GlibHost : public HostBase {
 public:
  explicit GlibHost(net::Loop& loop) : ctx_(g_main_context_new()), loop_(loop) {}
  ~GlibHost() { g_main_context_unref(ctx_); }
  GlibHost(const GlibHost&) = delete;
  GlibHost& operator=(const GlibHost&) = delete;

  void run(const std::function<bool()>& done) {
    GlibDriver driver(loop_, ctx_);
    Probe probe(ctx_, driver, sleeping_);
    const Clock::time_point give_up = Clock::now() + kHostSafetyTimeout;
    // The safety timeout as a GLib timeout source, so a missed wake ends the blocking
    // iteration instead of hanging it.
    GSource* watchdog = g_timeout_source_new(
        static_cast<guint>(std::chrono::duration_cast<std::chrono::milliseconds>(kHostSafetyTimeout).count()));
    g_source_set_callback(watchdog, [](gpointer) -> gboolean { return G_SOURCE_REMOVE; }, nullptr, nullptr);
    g_source_attach(watchdog, ctx_);
    while (!done()) {
      if (Clock::now() >= give_up) {
        stats_.timed_out = true;
        break;
      }
      g_main_context_iteration(ctx_, TRUE);
    }
    g_source_destroy(watchdog);
    g_source_unref(watchdog);
    driver.detach();
    record_steps(driver.stats());
  }

 private:
  // Lowest priority, so its prepare runs after the driver's: "about to block with only the
  // handle able to wake the context" is the driver asking for an infinite timeout.
  class Probe {
   public:
    Probe(GMainContext* ctx, const GlibDriver& d, std::atomic<bool>& sleeping) {
      static GSourceFuncs funcs = {&prepare, nullptr, &dispatch, nullptr, nullptr, nullptr};
      src_ = g_source_new(&funcs, sizeof(Src));
      reinterpret_cast<Src*>(src_)->driver = &d;
      reinterpret_cast<Src*>(src_)->sleeping = &sleeping;
      g_source_set_priority(src_, G_PRIORITY_LOW);
      g_source_attach(src_, ctx);
    }
    ~Probe() {
      g_source_destroy(src_);
      g_source_unref(src_);
    }
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

   private:
    struct Src {
      GSource base;
      const GlibDriver* driver;
      std::atomic<bool>* sleeping;
    };
    static gboolean prepare(GSource* s, gint* timeout) {
      const Src* p = reinterpret_cast<Src*>(s);
      if (p->driver->last_timeout().is_infinite()) p->sleeping->store(true, std::memory_order_release);
      *timeout = -1;
      return FALSE;
    }
    static gboolean dispatch(GSource*, GSourceFunc, gpointer) { return G_SOURCE_CONTINUE; }
    GSource* src_;
  };

  GMainContext* ctx_;
  net::Loop& loop_;
};

// Iterates `ctx` for `ms` (a timeout source ends it).
void iterate_for(GMainContext* ctx, guint ms) {
  bool over = false;
  GSource* end = g_timeout_source_new(ms);
  g_source_set_callback(end, [](gpointer p) -> gboolean {
    *static_cast<bool*>(p) = true;
    return G_SOURCE_REMOVE;
  }, &over, nullptr);
  g_source_attach(end, ctx);
  while (!over) g_main_context_iteration(ctx, TRUE);
  g_source_unref(end);
}

}  // namespace

TEST_CASE("glib adapter: coroutine echo server on the embedded Loop, clients on 4 threads") {
  check_echo<GlibHost>();
}

TEST_CASE("glib adapter: sleep_for and a read deadline fire through the poll timeout") {
  check_timers<GlibHost>();
}

TEST_CASE("glib adapter: a read deadline set from another thread while the host sleeps re-arms it") {
  check_deadline_from_other_thread<GlibHost>();
}

TEST_CASE("glib adapter: loop.post from other threads wakes the host") {
  check_post<GlibHost>();
}

TEST_CASE("glib adapter: more events than a step takes are all served") {
  check_full_batch<GlibHost>();
}

TEST_CASE("glib adapter: the host's own timeout source keeps firing while netpoll serves echo") {
  net::Loop loop;
  constexpr int kConns = 4;
  constexpr std::size_t kBytes = 256 * 1024;
  EchoService echo(loop, kConns);
  GMainContext* ctx = g_main_context_new();
  GlibDriver driver(loop, ctx);
  int ticks = 0;
  GSource* tick = g_timeout_source_new(1);
  g_source_set_callback(tick, [](gpointer p) -> gboolean {
    ++*static_cast<int*>(p);
    return G_SOURCE_CONTINUE;
  }, &ticks, nullptr);
  g_source_attach(tick, ctx);
  std::string client_error;
  std::atomic<bool> client_done{false};
  std::thread client([&] {
    client_error = echo_client(echo.port(), kConns, kBytes, 11);
    client_done.store(true);
  });
  const auto give_up = Clock::now() + kHostSafetyTimeout;
  while ((loop.spawned() != 0 || !client_done.load()) && Clock::now() < give_up)
    g_main_context_iteration(ctx, TRUE);
  client.join();
  CHECK_MESSAGE(client_error.empty(), client_error);
  CHECK(echo.rec.finished == kConns);
  CHECK(echo.rec.echoed == kConns * kBytes);
  MESSAGE("host timeout ticks while serving: ", ticks, "; steps on handle ", driver.stats().on_handle);
  CHECK(ticks > 0);
  CHECK(driver.stats().on_handle > 0);

  // Detach, then shut down: no further dispatch once detach() returned.
  driver.detach();
  const std::uint64_t handle_steps = driver.stats().on_handle;
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  CHECK(driver.stats().on_handle == handle_steps);
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK((left && *left == 0));
  g_source_destroy(tick);
  g_source_unref(tick);
  g_main_context_unref(ctx);
}

TEST_CASE("glib adapter: with netpoll deadlines armed far ahead the host sleeps, making no steps") {
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  int parked = 0, ended = 0;
  spawn_parked_pair(loop, *ln, parked, ended);
  GMainContext* ctx = g_main_context_new();
  {
    GlibDriver driver(loop, ctx);
    // Connect, accept, both Reads park with their deadlines armed; then a moment to settle.
    const auto give_up = Clock::now() + kHostSafetyTimeout;
    while (parked < 2 && Clock::now() < give_up) g_main_context_iteration(ctx, TRUE);
    REQUIRE(parked == 2);
    iterate_for(ctx, 50);
    const GlibDriver::Stats before = driver.stats();
    const double cpu0 = thread_cpu_ms();
    iterate_for(ctx, 300);
    const double cpu = thread_cpu_ms() - cpu0;
    const GlibDriver::Stats after = driver.stats();
    const std::uint64_t steps = steps_between(before, after);
    MESSAGE("300 ms idle with 2 netpoll deadlines armed: host thread CPU ", cpu, " ms, ", steps, " steps");
    CHECK(steps == 0);
    CHECK(ended == 0);
    CHECK(loop.spawned() == 2);
  }  // the driver detaches as it goes
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK((left && *left == 0));
  CHECK(ended == 2);
  g_main_context_unref(ctx);
}

}  // namespace netpoll::embed_test
