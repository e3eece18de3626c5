// netpoll::adapters::AsioDriver: a net::Loop stepped by an asio::io_context (standalone Asio,
// Debian libasio-dev), following the embedding contract (docs/embedding.md). Header-only:
// netpoll itself does not use Asio (Bazel: //netpoll/adapters:asio).
//
//   a posix::stream_descriptor on loop.native_handle() with one async_wait(wait_read) always
//     outstanding, re-queued before each step: Asio's reactor watches descriptors
//     edge-triggered, and a wait queued on an idle descriptor relies on the reactor re-checking
//     readiness (Asio 1.22 does, with EPOLL_CTL_MOD); keeping one queued never depends on it;
//   a steady_timer armed from next_timeout() when that is finite and not zero;
//   asio::post of a step while next_timeout() is zero, so the io_context's other handlers
//     (and its own I/O) run between steps.
// stop() cancels both and release()s the descriptor (the handle is the Loop's: Asio must not
// close it). Cancelled handlers still run, with operation_aborted, when the io_context next
// runs: the driver may be destroyed only once stopped() (none of its handlers pending).
//
// Threads: the io_context must run on one thread, which becomes the Loop's host thread.
// Not for Windows: a completion port cannot be watched by a stream_descriptor.
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include "netpoll/adapters/steps.h"
#include "netpoll/contract/clock.h"
#include "netpoll/contract/timeout.h"
#include "netpoll/runtime/loop.h"

namespace netpoll::adapters {

class AsioDriver {
 public:
  using Stats = Steps;  // how the host stepped the Loop (diagnostics)

  // Binds to `io` and `loop`; nothing is registered until start(). Both must outlive the
  // driver.
  AsioDriver(asio::io_context& io, net::Loop& loop) : loop_(loop), sd_(io), timer_(io) {}
  AsioDriver(const AsioDriver&) = delete;
  AsioDriver& operator=(const AsioDriver&) = delete;
  ~AsioDriver() {
    if (pending_ != 0 || running_) {
      std::fputs("netpoll::adapters::AsioDriver destroyed while running or with handlers pending: "
                 "call stop() and run the io_context until stopped()\n", stderr);
      std::abort();
    }
  }

  // Starts stepping the Loop from the io_context (call on its thread, or before it runs).
  // Empty, or the error of registering the handle with Asio's reactor. Once only.
  std::error_code start() {
    if (started_) return std::make_error_code(std::errc::invalid_argument);
    started_ = true;
    std::error_code ec;
    sd_.assign(loop_.native_handle(), ec);
    if (ec) return ec;
    running_ = true;
    wait_handle();
    // Work may be queued already (spawned before start): ask the Loop what it needs first.
    rearm();
    return {};
  }

  // Stops stepping the Loop: cancels the wait and the timer, and gives the handle back to the
  // Loop (release, not close). On the io_context's thread. Idempotent. The cancelled handlers
  // run when the io_context runs next; stopped() is true after that. The Loop is then the
  // caller's again: shut it down on this thread (docs/embedding.md, "Shutdown order").
  void stop() noexcept {
    if (!running_) return;
    running_ = false;
    std::error_code ignored;
    timer_.cancel(ignored);
    sd_.cancel(ignored);
    (void)sd_.release();
  }
  bool stopped() const noexcept { return !running_ && pending_ == 0; }
  // Why the driver stopped by itself: Asio failed to wait on the handle (empty otherwise).
  // Asio 1.22 sets the descriptor non-blocking with ioctl(FIONBIO) only; where a kqueue
  // descriptor refuses that (ENOTTY), every wait fails at once and lands here.
  std::error_code error() const noexcept { return error_; }

  const Stats& stats() const noexcept { return stats_; }
  // What the last step asked for (diagnostics: infinite = only the handle can wake it).
  Timeout last_timeout() const noexcept { return last_; }

 private:
  void wait_handle() {
    ++pending_;
    sd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
      --pending_;
      if (!running_) return;
      if (ec) {
        // Not a cancellation (only stop() cancels, and it clears running_ first): the reactor
        // cannot watch the handle, so the Loop would only be stepped by chance from now on.
        // Stop, and say why (error()); the io_context then runs out of this driver's work.
        error_ = ec;
        stop();
        return;
      }
      wait_handle();  // first: an edge during the step below must find a wait queued
      ++stats_.on_handle;
      step();
    });
  }

  void step() {
    loop_.run_once(Timeout::zero());
    if (running_) rearm();  // a task the step ran may have stopped the driver
  }

  // Right before the io_context can sleep (docs/embedding.md, "The cycle", step 2).
  void rearm() {
    const Timeout t = loop_.next_timeout();
    last_ = t;
    if (t.is_zero()) {
      if (!zero_posted_) {
        zero_posted_ = true;
        ++pending_;
        asio::post(sd_.get_executor(), [this] {
          --pending_;
          zero_posted_ = false;
          if (!running_) return;
          ++stats_.on_zero;
          step();
        });
      }
      return;
    }
    if (t.is_infinite()) {
      if (timer_due_ns_ != 0) {
        timer_due_ns_ = 0;
        std::error_code ignored;
        timer_.cancel(ignored);
      }
      return;
    }
    const std::int64_t due = t.deadline_from(now_ns());
    if (due == timer_due_ns_) return;  // armed for this already
    timer_due_ns_ = due;
    // steady_timer counts on std::chrono::steady_clock, which now_ns() reads too.
    timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due)));
    ++pending_;
    timer_.async_wait([this, due](const std::error_code& ec) {
      --pending_;
      if (ec || !running_ || due != timer_due_ns_) return;  // cancelled or re-armed since
      timer_due_ns_ = 0;
      ++stats_.on_timer;
      step();
    });
  }

  net::Loop& loop_;
  asio::posix::stream_descriptor sd_;
  asio::steady_timer timer_;
  bool started_ = false;
  bool running_ = false;
  bool zero_posted_ = false;
  std::int64_t timer_due_ns_ = 0;  // the absolute monotonic ns the timer is armed for; 0 none
  int pending_ = 0;                // our handlers Asio still holds
  Timeout last_ = Timeout::infinite();
  std::error_code error_;
  Stats stats_;
};

}  // namespace netpoll::adapters
