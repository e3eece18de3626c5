#include "netpoll/runtime/loop.h"

#include <cerrno>
#include <mutex>
#include <new>
#include <string>
#include <thread>

namespace netpoll::net {
namespace {
thread_local Loop* tls_current = nullptr;

struct PostedTask final : LoopTask {
  explicit PostedTask(Loop* loop, std::function<void()> f) : LoopTask(&go, loop), fn(std::move(f)) {}
  static void go(LoopTask* t) noexcept {
    auto* self = static_cast<PostedTask*>(t);
    self->fn();
    delete self;
  }
  std::function<void()> fn;
};
}  // namespace

Loop::Loop() = default;

Loop::~Loop() {
  cancel_waits();  // a resolver thread finishing later must not wake a task of a gone Loop
  // A thread still inside schedule(), unhold() or stop() finishes before the members go (see
  // them): a few instructions and at most one wake, so yielding is enough.
  while (schedulers_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  if (stepper_.load(std::memory_order_acquire) != nullptr)
    fatal("net::Loop destroyed while a thread is running it (run / run_once / block_on / shutdown)");
  if (const std::size_t n = open_sockets())
    fatal("net::Loop destroyed with " + std::to_string(n) +
          " of its sockets not yet freed: destroy every Conn, Listener and PacketConn of a Loop, "
          "and let their operations return, before the Loop (see Loop::open_sockets)");
  // Posted closures that never ran are freed without running. Other queued tasks belong to suspended
  // coroutines, which are their owners' to end before destroying the Loop (close their
  // sockets and step the Loop until spawned() is 0).
  MutexLock g(remote_mu_);
  while (Waiter* w = remote_.pop()) local_.push(w);
  while (Waiter* w = local_.pop()) {
    auto* t = static_cast<LoopTask*>(w);
    if (t->runs(&PostedTask::go)) delete static_cast<PostedTask*>(t);
  }
}

Loop* Loop::current() noexcept { return tls_current; }

namespace {
// Any per-thread address serves as the thread's tag (cheaper to store than a thread::id).
thread_local char tls_tag;
}  // namespace

bool Loop::stepped_by_this_thread(const Loop* loop) noexcept {
  return loop && (loop->last_stepper_.load(std::memory_order_relaxed) == &tls_tag ||
                  loop->stepper_.load(std::memory_order_relaxed) == &tls_tag);
}

bool Loop::claim(bool* took) noexcept {
  // Held already by an enclosing call on this thread (run, block_on, shutdown): no RMW, so a
  // run() pays one load per step for the claim.
  const void* cur = stepper_.load(std::memory_order_relaxed);
  if (cur == &tls_tag) return !(*took = false);
  cur = nullptr;
  *took = stepper_.compare_exchange_strong(cur, &tls_tag, std::memory_order_acquire,
                                           std::memory_order_relaxed);
  return *took;
}

void Loop::release_claim() noexcept { stepper_.store(nullptr, std::memory_order_release); }

Loop::Claim::Claim(Loop& l) noexcept
    : loop_(l),
      host_(l.last_stepper_.load(std::memory_order_relaxed) == &tls_tag),
      held_(l.claim(&took_)) {}

Loop::Claim::~Claim() {
  if (!took_) return;
  // Whole runs leave no last-stepper mark of their own: a thread that ran block_on or run()
  // may block on this Loop's operations afterwards while another thread runs it. A host that
  // called block_on between its run_once steps stays the host (its blocking calls must still
  // be refused).
  if (!host_) {
    const void* me = &tls_tag;
    loop_.last_stepper_.compare_exchange_strong(me, nullptr, std::memory_order_relaxed);
  }
  loop_.release_claim();
}

void Loop::schedule(LoopTask* t) noexcept {
  if (tls_current == this) {
    local_.push(t);
    return;
  }
  // Once `t` is queued the Loop may run it, finish its last task and be destroyed while this
  // thread is still in wake(): `schedulers_` makes ~Loop wait for us. The wake is outside the
  // lock: on one CPU the woken Loop thread often preempts the waker at once, and it must not
  // then find the lock held (measured in B7: waking under the lock cost 2.5x the round trip).
  // The backend coalesces the wake (an atomic exchange, no syscall) while one is pending.
  schedulers_.fetch_add(1, std::memory_order_acq_rel);
  {
    MutexLock g(remote_mu_);
    remote_.push(t);
    remote_pending_.store(true, std::memory_order_seq_cst);  // Backend::wake's contract
  }
  np_.wake();
  schedulers_.fetch_sub(1, std::memory_order_release);
}

void Loop::unhold() noexcept {
  // On the thread stepping the Loop nothing else is needed: a shutdown() is either this
  // thread's (it looks at held_ after this step) or cannot start (the step holds the claim),
  // and the Loop cannot be destroyed meanwhile. Two atomic read-modify-writes fewer per
  // operation on the io_uring backend's hot path.
  if (tls_current == this) {
    held_.fetch_sub(1, std::memory_order_seq_cst);
    return;
  }
  // Elsewhere the last one out wakes a shutdown() that may be asleep in the poller waiting for it. Once
  // held_ is 0 that shutdown may return and the Loop be destroyed while this thread is still
  // in wake(): `schedulers_` makes ~Loop wait, as for schedule().
  schedulers_.fetch_add(1, std::memory_order_acq_rel);
  if (held_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      shutting_down_.load(std::memory_order_seq_cst))
    np_.wake();
  schedulers_.fetch_sub(1, std::memory_order_release);
}

void Loop::drain_remote_slow() noexcept {
  MutexLock g(remote_mu_);
  remote_pending_.store(false, std::memory_order_relaxed);
  while (Waiter* w = remote_.pop()) local_.push(w);
}

void Loop::post(std::function<void()> fn) { schedule(new PostedTask(this, std::move(fn))); }

Loop::Step Loop::begin_step() noexcept {
  Step s{tls_current, false, false};
  if (s.outer && s.outer != this) fatal("net::Loop: two Loops run on one thread");
  if (!claim(&s.claimed))
    fatal("net::Loop::run_once while another thread is stepping the Loop: one thread at a time "
          "runs a Loop");
  tls_current = this;
  if (last_stepper_.load(std::memory_order_relaxed) != &tls_tag)
    last_stepper_.store(&tls_tag, std::memory_order_relaxed);
  budget_ = kInlineBudget;
  drain_remote();
  s.busy = !local_.empty();
  return s;
}

std::size_t Loop::end_step(Step s, bool polled, WaiterList& ready) noexcept {
  if (!polled) fatal("net::Loop: the poller failed");  // the backend already names real syscalls
  ready.notify_all();  // LoopTasks land on local_; blocked threads wake
  drain_remote();
  // Only what is queued now: a task queued by these runs after the next poll. A task may step
  // the Loop itself (a nested run_once: a host loop iterated from inside a task, such as a
  // GLib modal loop), and that step runs queued tasks too, so the queue can run dry first.
  const std::size_t todo = local_.size();
  std::size_t ran = 0;
  for (; ran < todo; ++ran) {
    Waiter* w = local_.pop();
    if (!w) break;
    static_cast<LoopTask*>(w)->run();
  }
  tls_current = s.outer;
  if (s.claimed) release_claim();
  return ran;
}

std::error_code Loop::run() {
  Claim claim(*this);
  if (!claim) return Errc::loop_busy;
  while (!stop_.exchange(false, std::memory_order_seq_cst)) run_once(Timeout::infinite());
  return {};
}

Result<std::size_t> Loop::shutdown(Timeout limit) {
  if (current()) return Errc::would_deadlock;  // a task cannot wait for every task to end
  Claim claim(*this);
  if (!claim) return Errc::loop_busy;
  shutting_down_.store(true, std::memory_order_seq_cst);
  np_.evict_all();
  cancel_waits();
  const std::int64_t end = limit.deadline_from(now_ns());
  while (spawned() > 0 || held_.load(std::memory_order_seq_cst) > 0) {
    const std::int64_t left = end - now_ns();
    if (left <= 0) break;
    run_once(limit.is_infinite() ? Timeout::infinite() : Timeout::after_ns(left));
  }
  shutting_down_.store(false, std::memory_order_seq_cst);
  return spawned() + held_.load(std::memory_order_seq_cst);
}

bool Loop::add_cancellable(CancellableWait* w) noexcept {
  MutexLock g(waits_mu_);
  // Under the lock that cancel_waits takes after shutdown() set the flag: a wait either sees
  // the flag here or is on the list when cancel_waits walks it.
  if (shutting_down_.load(std::memory_order_seq_cst)) return false;
  w->prev = nullptr;
  w->next = waits_;
  if (waits_) waits_->prev = w;
  waits_ = w;
  w->linked = true;
  return true;
}

void Loop::remove_cancellable(CancellableWait* w) noexcept {
  MutexLock g(waits_mu_);
  if (!w->linked) return;
  if (w->prev) w->prev->next = w->next;
  else waits_ = w->next;
  if (w->next) w->next->prev = w->prev;
  w->linked = false;
}

void Loop::cancel_waits() noexcept {
  MutexLock g(waits_mu_);
  while (CancellableWait* w = waits_) {
    waits_ = w->next;
    if (waits_) waits_->prev = nullptr;
    w->linked = false;
    w->cancel(w);  // under the lock: see CancellableWait
  }
}

void Loop::stop() noexcept {
  // Once stop_ is set, run() may return and the Loop be destroyed while this thread is still
  // in wake(): counted in schedulers_ (before the store) so ~Loop waits, as for schedule().
  schedulers_.fetch_add(1, std::memory_order_acq_rel);
  stop_.store(true, std::memory_order_seq_cst);  // Backend::wake's contract
  np_.wake();
  schedulers_.fetch_sub(1, std::memory_order_release);
}

Timeout Loop::next_timeout() noexcept {
  // The Loop-thread-only state (local_, the poller's sleep handshake) is the stepper's.
  bool took = false;
  if (!claim(&took))
    fatal("net::Loop::next_timeout while another thread is stepping the Loop: one thread at a "
          "time runs a Loop");
  drain_remote();
  const Timeout t = local_.empty() ? np_.next_timeout() : Timeout::zero();
  if (took) release_claim();
  return t;
}

// --- sleeping --------------------------------------------------------------------------------

std::int64_t to_ns(std::chrono::steady_clock::time_point t) noexcept {
  // now_ns() reads the same clock, so a time point converts without arithmetic on `now`
  // (which would overflow for time_point::min() / max()).
  if (t == std::chrono::steady_clock::time_point{}) return 0;
  const std::int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns > 0 ? ns : 1;  // before the clock's epoch: long past, still "a deadline"
}

bool SleepOp::step(Waiter* w) noexcept {
  if (!Loop::current()) {  // a plain thread: no timer needed
    const std::int64_t d = deadline_ - now_ns();
    if (d > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(d));
    return true;
  }
  if (armed_) return true;  // woken by the timer
  if (deadline_ <= now_ns()) return true;
  waiter_ = w;
  timer_.fire = &fired;
  try {
    loop_->netpoll().schedule_timer(&timer_, deadline_);
  } catch (const std::bad_alloc&) {
    res_ = errno_code(ENOMEM);
    return true;
  }
  armed_ = true;
  return false;
}

void SleepOp::fired(Timer* t, std::uint32_t, WaiterList& ready) noexcept {
  ready.push(reinterpret_cast<SleepOp*>(t)->waiter_);
}

Operation<SleepOp> sleep_until(Loop& loop, std::chrono::steady_clock::time_point t) noexcept {
  return Operation<SleepOp>(loop, to_ns(t));
}

Operation<SleepOp> sleep_for(Loop& loop, std::chrono::nanoseconds d) noexcept {
  const std::int64_t now = now_ns();
  const std::int64_t dn = d.count() <= 0 ? 0 : d.count();
  return Operation<SleepOp>(loop, dn > INT64_MAX - now ? INT64_MAX : now + dn);
}

}  // namespace netpoll::net
