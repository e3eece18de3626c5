// A net::Loop embedded in a libuv loop (docs/architecture.md, "Embedding in an existing event
// loop"): libuv owns the thread; netpoll is one uv_poll_t on its native handle plus a timer.
// Not built for Windows: uv_poll_t cannot watch a completion port (and libuv is a Linux-only
// dependency here).
//
//   uv_poll_t  on loop.native_handle(), UV_READABLE: I/O, wakes and posts became ready;
//   uv_timer_t re-armed after every step from loop.next_timeout() (ms, rounded up);
//   uv_idle_t  when next_timeout() is zero (tasks already queued): libuv polls without
//              blocking while an idle handle is active, so I/O keeps flowing between steps.
//
// Why an idle handle rather than a 0 ms timer for "zero": libuv 1.44's uv__run_timers runs a
// timer again, without polling I/O, if its callback re-armed it with timeout 0, so a Loop that
// always has work queued would starve the rest of the host.
#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>

#include "netpoll/net/net.h"
#include "test/embed_cases.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {
namespace {

class UvHost {
 public:
  explicit UvHost(net::Loop& loop) : loop_(loop) {
    REQUIRE(uv_loop_init(&uv_) == 0);
    // The epoll fd is itself pollable; libuv adds it to its own epoll set (nested epoll).
    REQUIRE(uv_poll_init(&uv_, &poll_, loop.native_handle()) == 0);
    REQUIRE(uv_timer_init(&uv_, &timer_) == 0);
    REQUIRE(uv_idle_init(&uv_, &idle_) == 0);
    REQUIRE(uv_prepare_init(&uv_, &prepare_) == 0);
    REQUIRE(uv_timer_init(&uv_, &watchdog_) == 0);
    for (uv_handle_t* h : handles()) h->data = this;
  }
  ~UvHost() { CHECK(uv_loop_close(&uv_) == 0); }  // every handle closed: nothing leaked
  UvHost(const UvHost&) = delete;
  UvHost& operator=(const UvHost&) = delete;

  void run(std::function<bool()> done) {
    done_ = std::move(done);
    REQUIRE(uv_poll_start(&poll_, UV_READABLE, &on_poll) == 0);
    REQUIRE(uv_prepare_start(&prepare_, &on_prepare) == 0);
    const auto safety = std::chrono::duration_cast<std::chrono::milliseconds>(kHostSafetyTimeout);
    REQUIRE(uv_timer_start(&watchdog_, &on_watchdog, static_cast<std::uint64_t>(safety.count()), 0) == 0);
    // Work may already be queued (spawned before run): ask the Loop what it needs first.
    rearm();
    // Returns once finish() has closed every handle.
    uv_run(&uv_, UV_RUN_DEFAULT);
  }

  const HostStats& stats() const { return stats_; }
  bool sleeping() const { return sleeping_.load(std::memory_order_acquire); }

 private:
  std::array<uv_handle_t*, 5> handles() {
    return {reinterpret_cast<uv_handle_t*>(&poll_), reinterpret_cast<uv_handle_t*>(&timer_),
            reinterpret_cast<uv_handle_t*>(&idle_), reinterpret_cast<uv_handle_t*>(&prepare_),
            reinterpret_cast<uv_handle_t*>(&watchdog_)};
  }
  static UvHost& self(void* h) { return *static_cast<UvHost*>(static_cast<uv_handle_t*>(h)->data); }

  static void on_poll(uv_poll_t* h, int status, int) {
    UvHost& s = self(h);
    CHECK_MESSAGE(status == 0, "uv_poll on the native handle: ", uv_strerror(status));
    ++s.stats_.handle_wakeups;
    s.step();
  }
  static void on_timer(uv_timer_t* h) {
    ++self(h).stats_.timer_wakeups;
    self(h).step();
  }
  static void on_idle(uv_idle_t* h) {
    ++self(h).stats_.zero_steps;
    self(h).step();
  }
  // Runs just before libuv blocks in epoll_wait.
  static void on_prepare(uv_prepare_t* h) {
    UvHost& s = self(h);
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&s.timer_)) &&
        !uv_is_active(reinterpret_cast<uv_handle_t*>(&s.idle_)))
      s.sleeping_.store(true, std::memory_order_release);
  }
  static void on_watchdog(uv_timer_t* h) {
    self(h).stats_.timed_out = true;
    self(h).finish();
  }

  void step() {
    if (finished_) return;  // a callback already queued in this iteration, after finish()
    loop_.run_once(Timeout::zero());
    if (done_()) {
      finish();
      return;
    }
    rearm();
  }

  // Called on the host thread, which is the Loop thread for the duration of each run_once.
  void rearm() {
    const Timeout t = loop_.next_timeout();
    if (t.is_zero()) {
      uv_timer_stop(&timer_);
      uv_idle_start(&idle_, &on_idle);
      return;
    }
    uv_idle_stop(&idle_);
    if (t.is_infinite()) {
      uv_timer_stop(&timer_);
      return;
    }
    // libuv times from the loop time cached when this iteration began; refresh it so the
    // timer starts from now. (libuv's clock is whole ms, so the timer may still fire up to a
    // millisecond before the netpoll timer is due: the step then fires nothing and re-arms.)
    uv_update_time(&uv_);
    const std::int64_t ms = t.milliseconds_ceil(std::numeric_limits<std::int64_t>::max());
    uv_timer_start(&timer_, &on_timer, static_cast<std::uint64_t>(ms), 0);
  }

  void finish() {
    finished_ = true;
    for (uv_handle_t* h : handles())
      if (!uv_is_closing(h)) uv_close(h, nullptr);
  }

  net::Loop& loop_;
  uv_loop_t uv_;
  uv_poll_t poll_;
  uv_timer_t timer_;
  uv_idle_t idle_;
  uv_prepare_t prepare_;
  uv_timer_t watchdog_;
  std::function<bool()> done_;
  bool finished_ = false;
  HostStats stats_;
  std::atomic<bool> sleeping_{false};
};

}  // namespace

TEST_CASE("embed libuv: coroutine echo server on the embedded Loop, clients on 4 threads") {
  check_echo<UvHost>();
}

TEST_CASE("embed libuv: sleep_for and a read deadline fire through the host's uv_timer_t") {
  check_timers<UvHost>();
}

TEST_CASE("embed libuv: a read deadline set from another thread while the host sleeps re-arms it") {
  check_deadline_from_other_thread<UvHost>();
}

TEST_CASE("embed libuv: loop.post from other threads wakes the host through uv_poll_t") {
  check_post<UvHost>();
}

TEST_CASE("embed libuv: more events than a step takes are all served") {
  check_full_batch<UvHost>();
}

}  // namespace netpoll::embed_test
