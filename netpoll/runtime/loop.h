// Loop: the C++20 coroutine runtime on one poller, and the thread that drives it.
//
// A Loop owns a Netpoll. Exactly one thread at a time runs it (run / run_once / block_on /
// shutdown): the first claims it, and while it holds the claim another thread's run, block_on
// or shutdown returns Errc::loop_busy and its run_once aborts (see run_once). While a thread
// steps it, Loop::current() on that thread is the Loop. Other threads use it in two
// ways: post() work to it, and call blocking operations (Operation::wait) that park the
// calling thread until the Loop thread's poller sees readiness, one Loop serving many threads.
//
// Scheduling: a LoopTask is a Waiter whose notify() queues it on its Loop's run queue; the
// Loop thread runs queued tasks after each poll. Notified on the Loop thread it goes on the
// local queue (no lock); from elsewhere on a locked remote queue plus a wake of the poller.
// A task is never run inline by notify(), so closing a connection, setting a deadline or
// completing an operation never re-enters the code that did it.
//
// Fairness: run_once runs only the tasks queued when it started; tasks they queue run after
// the next (zero-timeout) poll, so I/O is polled between rounds of a busy task.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "netpoll/core/mutex.h"
#include "netpoll/platform/netpoll.h"
#include "netpoll/core/waiter.h"
#include "netpoll/contract/error.h"
#include "netpoll/contract/result.h"
#include "netpoll/contract/timeout.h"

namespace netpoll::net {

class Loop;

class LoopTask : public Waiter {
 public:
  using RunFn = void (*)(LoopTask*) noexcept;
  explicit LoopTask(RunFn run, Loop* loop = nullptr) noexcept
      : Waiter(&notify_thunk), loop_(loop), run_(run) {}
  void bind(Loop* loop) noexcept { loop_ = loop; }
  Loop* loop() const noexcept { return loop_; }
  void run() noexcept { run_(this); }
  bool runs(RunFn f) const noexcept { return run_ == f; }

 private:
  static void notify_thunk(Waiter* w) noexcept;
  Loop* loop_;
  RunFn run_;
};

template <class T = void>
class Task;
namespace detail {
struct TaskPromiseBase;
}

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // The Loop being run on this thread, or nullptr.
  static Loop* current() noexcept;
  // Whether the calling thread is stepping `loop` (may be null) now, or was the last to step
  // it with run_once (an embedding host between two steps). run, block_on and shutdown leave
  // no such mark when they return: after them any thread may block on the Loop's operations.
  static bool stepped_by_this_thread(const Loop* loop) noexcept;

  Netpoll& netpoll() noexcept { return np_; }
  // Which backend this Loop runs on: the Poller's kName, or, for a poller that chooses when it
  // is made (the io_uring build falls back to epoll where io_uring is refused), its name().
  // (A template so that the branch the backend lacks is never compiled; B is the Loop's.)
  template <class B = Netpoll::backend_type>
  std::string_view backend_name() noexcept {
    B& b = np_.backend();
    if constexpr (requires { b.name(); })
      return b.name();
    else
      return B::kName;
  }

  // Runs until stop(). Returns at once (clearing the request) if stop() came before.
  // Errc::loop_busy, without running, if another thread is stepping the Loop.
  std::error_code run();
  // One step: runs queued tasks, polls once (waiting at most `t`, not at all if tasks are
  // queued), runs what became ready. Returns the number of tasks run.
  // Inline with the poll it makes, so that the only frame live across the syscall is the
  // caller's (each more cost ~9 ns per step, see EpollPoller::wait); the work before and after
  // the poll is out of line.
  // Called while another thread steps the Loop, it aborts with a message: two hosts driving
  // one poller is a design error no retry mends, and the count stays a plain return value on
  // the embedding hot path (run / block_on / shutdown, which a control thread may call by
  // mistake, return Errc::loop_busy instead).
  [[gnu::always_inline]] std::size_t run_once(Timeout t) {
    const Step s = begin_step();
    WaiterList ready;
    const Result<std::size_t> n = np_.poll(s.busy ? Timeout::zero() : t, ready);
    return end_step(s, static_cast<bool>(n), ready);
  }
  // Any thread. The current or next run() returns after its current step. The Loop may be
  // destroyed as soon as that run() returns: stop() counts itself in schedulers_ so ~Loop
  // waits for it to leave wake().
  void stop() noexcept;
  // Ends what runs on this Loop before it is destroyed: evicts every descriptor (every pending
  // and later operation on them fails with Errc::closed, so coroutines waiting on I/O unwind),
  // cancels every registered CancellableWait (a Dial's name lookup ends with Errc::closed),
  // and steps the Loop until every spawned task has finished or `limit` has passed (a
  // coroutine in sleep_for finishes when its timer fires), and, on a completion backend, until
  // every cancelled call's packet came back (see hold()). Returns how many spawned tasks and
  // held operations are still running; nonzero means the Loop must not be destroyed yet. A
  // plain thread's operation on POSIX is not counted: it returns Errc::closed on its own
  // thread, and must have returned before the Loop goes. Not from a Loop thread.
  // Errc::loop_busy, doing nothing, if another thread is stepping the Loop (stop() it, let
  // its run() return, then shut down); Errc::would_deadlock from a Loop thread (a task).
  Result<std::size_t> shutdown(Timeout limit);

  // Any thread: run `fn` on the Loop thread. Allocates (a node per call): for control, not
  // for per-I/O work.
  void post(std::function<void()> fn);
  // Any thread: queue `t` to run on this Loop's thread. LoopTask::notify lands here.
  void schedule(LoopTask* t) noexcept;

  // Starts `t` on this Loop (on its thread, at the next step). The frame is freed when it ends.
  void spawn(Task<void> t);
  // Runs the Loop on this thread until `t` completes, and returns its value. If another thread
  // is stepping the Loop, `t` does not run: Errc::loop_busy is returned where T can hold an
  // error (Result<U>, std::error_code), else thrown as std::system_error; from a Loop thread
  // (a task), Errc::would_deadlock the same way.
  template <class T>
  T block_on(Task<T> t);

  // Embedding: the pollable handle to watch for readability (see host_handle() for the portable
  // one), and how long the host may sleep
  // before calling run_once(Timeout::zero()) again: zero if tasks are already queued or the
  // last step took a full batch of events (more may wait in the kernel with no new edge to
  // announce them), so a host watching the handle edge-triggered loses nothing. Call it right
  // before the host sleeps: it also arms the wakeup other threads' posts and deadlines use.
  // next_timeout() is for the thread that runs the Loop.
  auto native_handle() noexcept { return np_.backend().native_handle(); }
  Timeout next_timeout() noexcept;
  // Embedding, on every OS: the handle a host loop watches (docs/embedding.md, "Platforms").
  // Where the backend's handle is pollable (epoll, kqueue) this is native_handle(): watch it
  // for readability. Where it is not (a Windows completion port) it is what the backend offers
  // instead: IocpPoller::host_wait_handle(), an event to wait for with WaitForSingleObject,
  // WaitForMultipleObjects or MsgWaitForMultipleObjectsEx; the first call starts the backend's
  // host mode (one watcher thread for this Loop; see netpoll/backends/iocp/README.md) and may
  // throw std::system_error if that thread cannot be created. Host thread only, like the rest.
  // (A template only so that the branch the backend lacks is never compiled; B is always the
  // Loop's backend.)
  template <class B = Netpoll::backend_type>
  auto host_handle() {
    B& b = np_.backend();
    if constexpr (requires { b.host_wait_handle(); })
      return b.host_wait_handle();
    else
      return b.native_handle();
  }

  // Operations that may complete inline (without suspending) per run_once round; past it an
  // operation yields to the back of the run queue. Each exhaustion costs one extra
  // zero-timeout poll per 64 operations; a flooding connection gets 64 reads per round while
  // every other ready task gets its turn (docs/testing.md case 3).
  static constexpr std::uint32_t kInlineBudget = 64;
  bool take_inline_budget() noexcept { return budget_ > 0 ? (--budget_, true) : false; }

  // Tasks started by spawn() that have not finished yet.
  std::size_t spawned() const noexcept { return spawned_.load(std::memory_order_relaxed); }

  // Sockets opened on this Loop whose FD is not freed yet (an owner holds it, or an operation
  // is unwinding). ~Loop aborts, naming the rule, if any is left: every Conn, Listener and
  // PacketConn must be destroyed, and their operations finished, before their Loop.
  std::size_t open_sockets() const noexcept { return sockets_.load(std::memory_order_acquire); }
  void socket_opened() noexcept { sockets_.fetch_add(1, std::memory_order_relaxed); }
  // The FD's last touch of the Loop.
  void socket_freed() noexcept { sockets_.fetch_sub(1, std::memory_order_release); }

  // Completion backends (Windows): an operation holds the Loop from taking its direction's
  // lock until it finishes, because a call it made is the kernel's until the Loop thread
  // dequeues its packet, and an operation on a plain thread (not a spawned task) may be
  // waiting for exactly that. shutdown() polls until none is held. Sequentially consistent:
  // the hold is visible before the operation looks at its PollDesc, so shutdown (which evicts
  // first, then looks here) cannot miss an operation that did not see the eviction.
  void hold() noexcept { held_.fetch_add(1, std::memory_order_seq_cst); }
  void unhold() noexcept;

  // A wait no descriptor backs (a name lookup on a resolver thread, netpoll/net/internal/resolver.h), so
  // evicting descriptors cannot end it: shutdown() (after evicting) and ~Loop call `cancel`
  // of every registered wait once, taking it off the list, and the wait ends its operation
  // with Errc::closed. `cancel` runs under the list's lock: once remove_cancellable returned,
  // no cancel of that wait is running or will run, so it may then be destroyed.
  struct CancellableWait {
    void (*cancel)(CancellableWait* w) noexcept = nullptr;
    void* ctx = nullptr;  // the owner's
    // The list links, guarded by the Loop's waits_mu_. Not checked by the compiler: a
    // CancellableWait does not know its Loop, so no annotation can name that lock; only
    // add_cancellable, remove_cancellable and cancel_waits touch them, each under it.
    CancellableWait* prev = nullptr;
    CancellableWait* next = nullptr;
    bool linked = false;
  };
  // Any thread. False, registering nothing, while shutdown() runs: the caller fails at once
  // (with Errc::closed), as an operation started on an evicted descriptor does.
  bool add_cancellable(CancellableWait* w) noexcept;
  // Any thread; harmless if `w` was already cancelled (and so taken off).
  void remove_cancellable(CancellableWait* w) noexcept;

 private:
  friend class LoopTask;
  friend struct detail::TaskPromiseBase;
  // Moves tasks scheduled from other threads onto the local queue. The check is inline: the
  // empty case is one load on every loop step (B8).
  void drain_remote() noexcept {
    // seq_cst: the waiter's half of the Dekker pair in Backend::wake (after a wake was
    // consumed, this read must see what a waker that skipped its syscall published).
    if (remote_pending_.load(std::memory_order_seq_cst)) drain_remote_slow();
  }
  void drain_remote_slow() noexcept;
  void cancel_waits() noexcept;  // shutdown(), ~Loop: see CancellableWait
  struct Step {
    Loop* outer;   // Loop::current() before the step: nullptr, or this Loop (a nested step)
    bool busy;     // tasks are queued: poll without waiting
    bool claimed;  // this step claimed the Loop (and releases it at its end)
  };
  Step begin_step() noexcept;
  std::size_t end_step(Step s, bool polled, WaiterList& ready) noexcept;
  // The stepping claim: true if the calling thread holds it now (it already did, or took it).
  // `*took` says whether this call took it. Acquire / release: one stepper's writes to the
  // Loop-thread-only state (local_, budget_, the poller's batch) happen before the next's.
  bool claim(bool* took) noexcept;
  void release_claim() noexcept;
  // Held by run, block_on and shutdown for their whole length; on release it also clears the
  // last-stepper mark if it is the calling thread's (see stepped_by_this_thread).
  class Claim;

  Netpoll np_;
  WaiterList local_;          // the Loop thread only
  Mutex remote_mu_;
  WaiterList remote_ NETPOLL_GUARDED_BY(remote_mu_);
  std::atomic<bool> remote_pending_{false};
  std::atomic<std::uint32_t> schedulers_{0};  // threads inside schedule()'s remote path, unhold(), stop()
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> spawned_{0};
  std::atomic<std::size_t> held_{0};  // see hold()
  std::atomic<bool> shutting_down_{false};
  Mutex waits_mu_;
  CancellableWait* waits_ NETPOLL_GUARDED_BY(waits_mu_) = nullptr;  // see CancellableWait
  std::uint32_t budget_ = kInlineBudget;  // the Loop thread only
  std::atomic<const void*> last_stepper_{nullptr};  // a per-thread tag of the last stepping thread
  std::atomic<const void*> stepper_{nullptr};       // the tag of the thread stepping now
  std::atomic<std::size_t> sockets_{0};             // see open_sockets()
};

// How a call that cannot start (a busy Loop, a wait that would deadlock) reports `e` as a T:
// as the error where T holds one, else as a std::system_error.
template <class T>
T refuse(Errc e) {
  if constexpr (std::is_convertible_v<std::error_code, T>) return T(std::error_code(e));
  else throw std::system_error(make_error_code(e));
}

inline void LoopTask::notify_thunk(Waiter* w) noexcept {
  auto* t = static_cast<LoopTask*>(w);
  t->loop_->schedule(t);
}

// ---------------------------------------------------------------------------------------------
// Operation<Op>: the awaitable (and blocking) form of a state-machine operation.
//
// An Op provides `bool step(Waiter* w)` — advance; true when finished, false when `w` has been
// registered somewhere (a lock queue, a PollDesc, a timer) and will be notified to step again —
// and `result()`. The same Op runs
//   * in a coroutine: `co_await op` steps once inline (no suspension if it completes), then
//     each notification steps it on the Loop thread; the coroutine resumes when it finishes;
//   * in a plain thread: `op.wait()` steps and parks the thread between steps;
//   * in a coroutine running on no Loop (Task::wait on a plain thread): as wait().
// The operation lives in the awaiting frame or on the caller's stack: nothing is allocated.
// It is neither copied nor moved (guaranteed elision returns it from the factory).
//
// The Operation is itself the LoopTask that waits (a private base, so no back pointer: B5
// counts every byte of an awaiter, since each co_await in a coroutine has its own slot in the
// frame).
template <class Op>
class [[nodiscard]] Operation : private LoopTask {
 public:
  template <class... A>
  explicit Operation(A&&... a) : LoopTask(&run), op_(std::forward<A>(a)...) {}
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  bool await_ready() noexcept {
    Loop* loop = Loop::current();
    if (!loop) {
      // A Task run by Task::wait on a plain thread. On an embedding host (the thread that
      // steps the operation's Loop between its own callbacks) parking would deadlock.
      if (Loop::stepped_by_this_thread(op_.loop())) return refused_ = true;
      run_blocking();
      return true;
    }
    bind(loop);
    // A coroutine whose operations keep completing inline would never give the Loop back
    // (a flooding connection starving the others): past the round's budget it yields first.
    if (!loop->take_inline_budget()) return yield_ = true, false;
    return op_.step(this);
  }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    h_ = h;
    if (yield_) LoopTask::loop()->schedule(this);  // steps when the queue gets to it
  }
  decltype(auto) await_resume() noexcept {
    if (refused_) return op_.fail_on_loop_thread();
    return op_.result();
  }

  // Blocks the calling thread until the operation finishes. On a Loop thread (one running a
  // Loop now, or the last thread that stepped the operation's Loop: an embedding host between
  // two run_once calls) this would stop the very poller it waits for, so there it fails with
  // Errc::would_deadlock at once.
  decltype(auto) wait() noexcept {
    if (Loop::current() || Loop::stepped_by_this_thread(op_.loop())) return op_.fail_on_loop_thread();
    run_blocking();
    return op_.result();
  }

 private:
  void run_blocking() noexcept {
    ThreadWaiter w;
    while (!op_.step(&w)) w.park();
  }
  static void run(LoopTask* t) noexcept {
    Operation* o = static_cast<Operation*>(t);
    if (o->op_.step(t)) o->h_.resume();
  }

  Op op_;
  std::coroutine_handle<> h_;
  bool yield_ = false;
  bool refused_ = false;  // would have deadlocked: await_resume reports it
};

// ---------------------------------------------------------------------------------------------
// Task<T>: a lazily started coroutine returning T. `co_await task` runs it (symmetric transfer,
// no extra scheduling); `task.wait()` runs it on a plain thread, where its operations block;
// Loop::spawn / block_on run it on a Loop. Operations report errors as values; an exception
// escaping a Task is rethrown to whoever awaits it (co_await, wait, block_on), and terminates
// the program if the Task was spawned (nobody awaits it).
namespace detail {
// The promise is itself the LoopTask that starts the coroutine on a Loop (Loop::spawn,
// block_on): its run function, made per promise type, resumes the coroutine. How the task ends
// is one of three exclusive modes, so they share one pointer. 56 bytes: every spawned
// connection's frame carries one (B5).
struct TaskPromiseBase : LoopTask {
  explicit TaskPromiseBase(RunFn start) noexcept : LoopTask(start) {}
  enum class End : std::uint8_t {
    none,      // not started yet, or block_on (it stays suspended at the end for done())
    resume,    // co_await: `next` is the awaiting coroutine's address, resumed by transfer
    notify,    // Task::wait on a plain thread: `next` is its Waiter
    detached,  // Loop::spawn: the task owns itself; its final suspend frees the frame
  };
  void* next = nullptr;
  std::exception_ptr error;
  End end = End::none;
  // Readies this promise's task to resume the coroutine on `loop`.
  void arm(Loop* loop) noexcept { bind(loop); }
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      TaskPromiseBase& p = h.promise();
      switch (p.end) {
        case End::resume: return std::coroutine_handle<>::from_address(p.next);
        case End::notify: static_cast<Waiter*>(p.next)->notify(); break;
        case End::detached: {
          if (p.error) std::terminate();  // nobody awaits a spawned task: nowhere to rethrow
          Loop* loop = p.loop();
          h.destroy();  // last touch of the frame
          loop->spawned_.fetch_sub(1, std::memory_order_relaxed);
          break;
        }
        case End::none: break;
      }
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
  void rethrow() const {
    if (error) std::rethrow_exception(error);
  }
  // The start task's run function for promise type P.
  template <class P>
  static void start(LoopTask* t) noexcept {
    std::coroutine_handle<P>::from_promise(*static_cast<P*>(static_cast<TaskPromiseBase*>(t))).resume();
  }
};

template <class T>
struct TaskPromise : TaskPromiseBase {
  TaskPromise() noexcept : TaskPromiseBase(&start<TaskPromise>) {}
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    rethrow();
    return std::move(*value);
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  TaskPromise() noexcept : TaskPromiseBase(&start<TaskPromise>) {}
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const { rethrow(); }
};
}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using handle_type = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(handle_type h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(h_); }

  auto operator co_await() && noexcept {
    struct Awaiter {
      handle_type h;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> cont) noexcept {
        h.promise().end = detail::TaskPromiseBase::End::resume;
        h.promise().next = cont.address();
        return h;
      }
      T await_resume() { return h.promise().take(); }
    };
    return Awaiter{h_};
  }

  // Runs the task to completion on this plain thread (its operations block it). On a thread
  // that is stepping a Loop it does not start: Errc::would_deadlock (see refuse()). On an
  // embedding host between steps it runs, and each operation on the host's Loop fails with
  // Errc::would_deadlock instead of parking the host.
  T wait() && {
    if (Loop::current()) return refuse<T>(Errc::would_deadlock);
    ThreadWaiter w;
    h_.promise().end = detail::TaskPromiseBase::End::notify;
    h_.promise().next = static_cast<Waiter*>(&w);
    h_.resume();
    w.park();
    return h_.promise().take();
  }

  handle_type release() noexcept { return std::exchange(h_, {}); }

 private:
  handle_type h_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

inline void Loop::spawn(Task<void> t) {
  auto h = t.release();
  detail::TaskPromiseBase& p = h.promise();
  p.end = detail::TaskPromiseBase::End::detached;
  p.arm(this);
  spawned_.fetch_add(1, std::memory_order_relaxed);
  schedule(&p);
}

class Loop::Claim {
 public:
  explicit Claim(Loop& l) noexcept;
  ~Claim();
  explicit operator bool() const noexcept { return held_; }

 private:
  Loop& loop_;
  bool took_ = false;
  bool host_;  // this thread was the Loop's last stepper (an embedding host) before the call
  bool held_;
};

template <class T>
T Loop::block_on(Task<T> t) {
  if (current()) return refuse<T>(Errc::would_deadlock);  // from a task: co_await it instead
  Claim claim(*this);
  if (!claim) return refuse<T>(Errc::loop_busy);
  auto h = t.release();
  // The task starts on this thread, which is about to become the Loop thread, from the
  // promise's own start task. With no continuation it stays suspended at its final suspend
  // point when it ends, which is what done() reports.
  detail::TaskPromiseBase& p = h.promise();
  p.arm(this);
  local_.push(&p);
  while (!h.done()) run_once(Timeout::infinite());
  Task<T> owner(h);  // destroys the frame on return
  return h.promise().take();
}

// ---------------------------------------------------------------------------------------------
// Sleeping: `co_await sleep_for(loop, d)` on the Loop's timers; on a plain thread, a sleep.
// The result: empty, or ENOMEM if the timer could not be armed (the timer heap could not
// grow; the sleep ended at once), or Errc::would_deadlock for wait() on the Loop's thread.
class SleepOp {
 public:
  SleepOp(Loop& loop, std::int64_t deadline_ns) noexcept : loop_(&loop), deadline_(deadline_ns) {}
  bool step(Waiter* w) noexcept;
  std::error_code result() const noexcept { return res_; }
  std::error_code fail_on_loop_thread() const noexcept { return Errc::would_deadlock; }
  // A sleep needs no poller on a plain thread (it sleeps there), so it is never refused as
  // a deadlock: no Loop to check.
  Loop* loop() const noexcept { return nullptr; }

 private:
  static void fired(Timer* t, std::uint32_t seq, WaiterList& ready) noexcept;
  Timer timer_;  // first member: fired() recovers the SleepOp from it
  Loop* loop_;
  std::int64_t deadline_;
  Waiter* waiter_ = nullptr;
  std::error_code res_;
  bool armed_ = false;
};

Operation<SleepOp> sleep_until(Loop& loop, std::chrono::steady_clock::time_point t) noexcept;
Operation<SleepOp> sleep_for(Loop& loop, std::chrono::nanoseconds d) noexcept;

// std::chrono::steady_clock time point <-> the core's monotonic ns (0 = none).
std::int64_t to_ns(std::chrono::steady_clock::time_point t) noexcept;

}  // namespace netpoll::net
