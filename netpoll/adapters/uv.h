// netpoll::adapters::UvDriver: a net::Loop stepped by a libuv loop, following the embedding
// contract (docs/embedding.md). Header-only: netpoll itself does not link libuv; a program
// that includes this header links it (Bazel: //netpoll/adapters:uv).
//
//   uv_poll_t  on loop.native_handle(), UV_READABLE: I/O, wakes and posts became ready;
//   uv_timer_t re-armed after every step from loop.next_timeout() (ms, rounded up);
//   uv_idle_t  while next_timeout() is zero (tasks queued, or a full batch of events taken):
//              libuv polls without blocking while an idle handle is active, so the host's own
//              I/O and timers keep running between steps.
//
// Why an idle handle rather than a 0 ms timer for "zero": libuv (1.44) runs a timer again,
// without polling I/O, when its callback re-armed it with timeout 0, so a Loop that always has
// work queued would starve the rest of the host.
//
// Threads: everything here runs on the uv loop's thread, which becomes the Loop's host thread
// (docs/embedding.md, "Threads"). Not for Windows: uv_poll_t cannot watch a completion port.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <limits>

#include "netpoll/adapters/steps.h"
#include "netpoll/contract/timeout.h"
#include "netpoll/runtime/loop.h"

namespace netpoll::adapters {

class UvDriver {
 public:
  using Stats = Steps;  // how the host stepped the Loop (diagnostics)

  // Binds to `uv` and `loop`; nothing is registered until start(). Both must outlive the
  // driver.
  UvDriver(uv_loop_t* uv, net::Loop& loop) noexcept : uv_(uv), loop_(loop) {}
  UvDriver(const UvDriver&) = delete;
  UvDriver& operator=(const UvDriver&) = delete;
  // A started driver must be stopped and its handles closed (closed() true: the uv loop ran
  // their close callbacks) before it is destroyed; libuv still points at them until then.
  ~UvDriver() {
    if (open_handles_ != 0) {
      std::fputs("netpoll::adapters::UvDriver destroyed with libuv handles open: call stop() and "
                 "run the uv loop until closed()\n", stderr);
      std::abort();
    }
  }

  // Starts stepping the Loop from the uv loop (on its thread). 0, or the libuv error
  // (uv_strerror names it); on an error nothing stays registered but handles being closed
  // (run the uv loop until closed() before destroying the driver). Once only.
  int start() noexcept {
    if (state_ != State::idle) return UV_EINVAL;
    state_ = State::running;
    int rc = uv_poll_init(uv_, &poll_, loop_.native_handle());
    if (rc == 0) opened(reinterpret_cast<uv_handle_t*>(&poll_));
    if (rc == 0 && (rc = uv_timer_init(uv_, &timer_)) == 0) opened(reinterpret_cast<uv_handle_t*>(&timer_));
    if (rc == 0 && (rc = uv_idle_init(uv_, &idle_)) == 0) opened(reinterpret_cast<uv_handle_t*>(&idle_));
    if (rc == 0) rc = uv_poll_start(&poll_, UV_READABLE, &on_poll);
    if (rc != 0) {
      stop();
      return rc;
    }
    // Work may be queued already (spawned before start): ask the Loop what it needs first.
    rearm();
    return 0;
  }

  // Stops stepping the Loop and closes the handles; they are closed once the uv loop has run
  // again (closed()), and `on_closed`, if given, runs then. Idempotent. After stop() the Loop
  // is the caller's again: shut it down on this thread (docs/embedding.md, "Shutdown order").
  void stop(void (*on_closed)(UvDriver*, void*) = nullptr, void* arg = nullptr) noexcept {
    if (state_ == State::stopped) return;
    state_ = State::stopped;
    on_closed_ = on_closed;
    on_closed_arg_ = arg;
    for (uv_handle_t* h : handles())
      if (h->data == this && !uv_is_closing(h)) uv_close(h, &on_close);
    if (open_handles_ == 0) notify_closed();
  }
  bool closed() const noexcept { return state_ == State::stopped && open_handles_ == 0; }

  const Stats& stats() const noexcept { return stats_; }
  // Why the driver stopped by itself: libuv reported an error polling the handle (and
  // stopped watching it); 0 otherwise. The handles are then closing, as after stop().
  int poll_error() const noexcept { return poll_error_; }

 private:
  enum class State { idle, running, stopped };

  std::array<uv_handle_t*, 3> handles() noexcept {
    return {reinterpret_cast<uv_handle_t*>(&poll_), reinterpret_cast<uv_handle_t*>(&timer_),
            reinterpret_cast<uv_handle_t*>(&idle_)};
  }
  // Only an initialised handle carries `this`: stop() closes exactly those.
  void opened(uv_handle_t* h) noexcept {
    h->data = this;
    ++open_handles_;
  }
  static UvDriver& self(void* h) noexcept {
    return *static_cast<UvDriver*>(static_cast<uv_handle_t*>(h)->data);
  }

  static void on_poll(uv_poll_t* h, int status, int) noexcept {
    UvDriver& d = self(h);
    if (status < 0) {
      // libuv has stopped watching the handle (it does on POLLERR): the Loop would only be
      // stepped by chance from now on. Stop, and say why (poll_error()).
      d.poll_error_ = status;
      d.stop();
      return;
    }
    ++d.stats_.on_handle;
    d.step();
  }
  static void on_timer(uv_timer_t* h) noexcept {
    ++self(h).stats_.on_timer;
    self(h).step();
  }
  static void on_idle(uv_idle_t* h) noexcept {
    ++self(h).stats_.on_zero;
    self(h).step();
  }
  static void on_close(uv_handle_t* h) noexcept {
    UvDriver& d = self(h);
    if (--d.open_handles_ == 0) d.notify_closed();
  }
  void notify_closed() noexcept {
    if (on_closed_) on_closed_(this, on_closed_arg_);
  }

  void step() noexcept {
    // A callback libuv had already queued in this iteration may run after stop().
    if (state_ != State::running) return;
    loop_.run_once(Timeout::zero());
    // A task the step ran may have stopped the driver.
    if (state_ == State::running) rearm();
  }

  // Right before the uv loop can sleep (docs/embedding.md, "The cycle", step 2).
  void rearm() noexcept {
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
    // libuv times from the loop time cached when this iteration began: refresh it so the timer
    // counts from now. libuv's clock is whole ms, so the timer may fire up to a millisecond
    // before netpoll's timer is due; that step fires nothing and re-arms (netpoll never fires
    // a timer early).
    uv_update_time(uv_);
    const std::int64_t ms = t.milliseconds_ceil(std::numeric_limits<std::int64_t>::max());
    uv_timer_start(&timer_, &on_timer, static_cast<std::uint64_t>(ms), 0);
  }

  uv_loop_t* const uv_;
  net::Loop& loop_;
  uv_poll_t poll_{};
  uv_timer_t timer_{};
  uv_idle_t idle_{};
  State state_ = State::idle;
  int open_handles_ = 0;
  int poll_error_ = 0;
  void (*on_closed_)(UvDriver*, void*) = nullptr;
  void* on_closed_arg_ = nullptr;
  Stats stats_;
};

}  // namespace netpoll::adapters
