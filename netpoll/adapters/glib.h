// netpoll::adapters::GlibDriver: a net::Loop stepped by a GLib main context, as one GSource
// following the embedding contract (docs/embedding.md). Header-only: netpoll itself does not
// link GLib; a program that includes this header links glib-2.0 (Bazel: //netpoll/adapters:glib).
//
//   prepare   asks next_timeout() (right before GLib polls): zero -> ready now; otherwise the
//             poll timeout in whole ms, rounded up, and the absolute deadline kept for check;
//   check     ready if the Loop's handle polled readable or that deadline has passed;
//   dispatch  one run_once(Timeout::zero()).
//
// The source is can-recurse: GLib blocks a source that cannot recurse for the length of its
// dispatch, removing its descriptor from the poll set and adding it back, and each of those
// changes writes GLib's own wakeup descriptor, two needless writes per step. So a task that
// iterates the context itself (a modal dialog's nested loop) steps the Loop from inside that
// task: the nested step runs what is queued, as any step does.
//
// Priority: while next_timeout() is zero (tasks queued, a full batch) the source is ready at
// every iteration, and GLib does not dispatch sources of lower priority while one of higher
// priority is ready. Under sustained load, idle sources and redraws of a lower priority than
// the driver's wait; pass a lower priority (G_PRIORITY_DEFAULT_IDLE) to let them go first.
//
// Threads: everything runs on the thread that iterates the context, which becomes the
// Loop's host thread. Not for Windows: a completion port cannot be polled.
#pragma once

#include <glib.h>

#include <cstdint>
#include <limits>

#include "netpoll/contract/clock.h"
#include "netpoll/adapters/steps.h"
#include "netpoll/contract/timeout.h"
#include "netpoll/runtime/loop.h"

namespace netpoll::adapters {

class GlibDriver {
 public:
  using Stats = Steps;  // how the host stepped the Loop (diagnostics)

  // Attaches a source stepping `loop` to `context` (nullptr: the global default context) at
  // `priority`. From now on the context's thread is the Loop's host thread. `loop` must
  // outlive the driver.
  explicit GlibDriver(net::Loop& loop, GMainContext* context = nullptr,
                      int priority = G_PRIORITY_DEFAULT)
      : loop_(loop) {
    static GSourceFuncs funcs = {&prepare, &check, &dispatch, nullptr, nullptr, nullptr};
    source_ = g_source_new(&funcs, sizeof(Source));
    reinterpret_cast<Source*>(source_)->driver = this;
    g_source_set_priority(source_, priority);
    g_source_set_can_recurse(source_, TRUE);
    g_source_set_name(source_, "netpoll::Loop");
    tag_ = g_source_add_unix_fd(source_, loop.native_handle(), G_IO_IN);
    g_source_attach(source_, context);
  }
  GlibDriver(const GlibDriver&) = delete;
  GlibDriver& operator=(const GlibDriver&) = delete;
  ~GlibDriver() {
    detach();
    g_source_unref(source_);
  }

  // Stops stepping the Loop: once this returns (on the context's thread, also from inside a
  // step) GLib calls the source no more. Idempotent. The Loop is then the caller's again:
  // shut it down on this thread (docs/embedding.md, "Shutdown order").
  void detach() noexcept {
    if (!g_source_is_destroyed(source_)) g_source_destroy(source_);
  }

  GSource* source() const noexcept { return source_; }
  const Stats& stats() const noexcept { return stats_; }
  // What the last prepare asked GLib for (diagnostics: infinite = only the handle can wake it).
  Timeout last_timeout() const noexcept { return last_; }

 private:
  struct Source {
    GSource base;  // first: GLib allocates a Source and passes it as a GSource*
    GlibDriver* driver;
  };
  static GlibDriver& self(GSource* s) noexcept { return *reinterpret_cast<Source*>(s)->driver; }

  static gboolean prepare(GSource* s, gint* timeout_ms) noexcept {
    GlibDriver& d = self(s);
    const Timeout t = d.loop_.next_timeout();
    d.last_ = t;
    if (t.is_zero()) {
      *timeout_ms = 0;
      d.due_ = Due::now;
      return TRUE;
    }
    if (t.is_infinite()) {
      *timeout_ms = -1;
      d.due_ = Due::never;
      return FALSE;
    }
    const std::int64_t ms = t.milliseconds_ceil(std::numeric_limits<gint>::max());
    *timeout_ms = static_cast<gint>(ms);
    d.due_ = Due::at;
    d.due_ns_ = t.deadline_from(now_ns());
    return FALSE;
  }
  static gboolean check(GSource* s) noexcept {
    GlibDriver& d = self(s);
    if (g_source_query_unix_fd(s, d.tag_) & G_IO_IN) return TRUE;
    return d.due_ == Due::now || (d.due_ == Due::at && now_ns() >= d.due_ns_);
  }
  static gboolean dispatch(GSource* s, GSourceFunc, gpointer) noexcept {
    GlibDriver& d = self(s);
    if (g_source_query_unix_fd(s, d.tag_) & G_IO_IN) ++d.stats_.on_handle;
    else if (d.due_ == Due::now) ++d.stats_.on_zero;
    else ++d.stats_.on_timer;
    d.loop_.run_once(Timeout::zero());
    return G_SOURCE_CONTINUE;
  }

  enum class Due { never, now, at };
  net::Loop& loop_;
  GSource* source_ = nullptr;
  gpointer tag_ = nullptr;
  Due due_ = Due::never;
  std::int64_t due_ns_ = 0;  // Due::at: the absolute monotonic ns of next_timeout()
  Timeout last_ = Timeout::infinite();
  Stats stats_;
};

}  // namespace netpoll::adapters
