// The resolver's threads. getaddrinfo blocks and cannot be interrupted, so a name lookup runs
// on a small process-wide pool while its waiter (a coroutine on a Loop, or a plain thread)
// waits with two ways out: its Dial deadline and the Loop's shutdown. A waiter that leaves
// early leaves the lookup behind: the pool thread finishes it later and drops the result, so
// the lookup's state is shared (std::shared_ptr) between the two and never points into the
// waiter's frame.
//
// Lookup, the state one waiter and one pool thread share (guarded by its mutex):
//
//   queued --(a pool thread takes it)--> running --(getaddrinfo returns)--> finished
//     |                                     |
//     +-- waiter gives up: `gave_up` set; a queued lookup is then skipped without a call,
//         a running one finishes into nothing
//
// The waiter is notified at most once, by whichever comes first: finished, or give_up (the
// deadline timer, shutdown). Whoever notifies clears `waiter_` under the mutex first, so the
// others find nothing to wake; after the notify nobody touches the waiter (it may be gone).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "netpoll/core/cond_mutex.h"
#include "netpoll/core/mutex.h"
#include "netpoll/core/timer_heap.h"
#include "netpoll/core/waiter.h"
#include "netpoll/net/internal/sockaddr.h"
#include "netpoll/contract/result.h"

namespace netpoll::net {

using Addrs = Result<std::vector<SockAddr>>;
using LookupFn = Addrs (*)(std::string_view network, std::string_view address, bool passive);

class Lookup {
 public:
  Lookup(LookupFn fn, std::string_view network, std::string_view address, bool passive)
      : fn_(fn), network_(network), address_(address), passive_(passive) {}

  // --- the pool thread ---
  // False if the waiter gave up while this was queued: skip it, no call made.
  bool begin() noexcept;
  // Runs the lookup; an exception becomes an error result (bad_alloc: ENOMEM), never
  // std::terminate on a pool thread.
  void run() noexcept;

  // --- the waiter ---
  // Registers `w` to be notified once the outcome is known. False if it already is (do not
  // wait): the lookup finished, or the waiter gave up, before this call.
  bool park(Waiter* w) noexcept;
  // Ends the wait early with `why` (Errc::deadline_exceeded, Errc::closed) unless the outcome
  // is already known. Returns the waiter to notify (nullptr if none): the caller notifies it
  // (or queues it on a WaiterList) after this returns.
  Waiter* give_up(std::error_code why) noexcept;
  // After the wait: the result, or the reason the wait ended early.
  Addrs take() noexcept;

  // The deadline timer (the Loop's, fired on its polling thread). While it is armed it holds
  // a reference to this Lookup (`timer_ref`), released by a cancel that dequeued it or by the
  // firing itself as its last touch, so the timer never outlives its memory whatever order
  // the waiter, the worker and the firing come in.
  struct DeadlineTimer {  // standard layout: the firing recovers `owner` from the Timer*
    Timer timer;
    Lookup* owner;
  } deadline{{}, this};
  std::shared_ptr<Lookup> timer_ref;

 private:
  // Clears and returns waiter_ when the outcome becomes known. mu_ held.
  Waiter* decide() noexcept NETPOLL_REQUIRES(mu_) { return std::exchange(waiter_, nullptr); }

  const LookupFn fn_;
  const std::string network_, address_;
  const bool passive_;
  Mutex mu_;
  enum class Phase { queued, running, finished } phase_ NETPOLL_GUARDED_BY(mu_) = Phase::queued;
  std::error_code gave_up_ NETPOLL_GUARDED_BY(mu_);
  Addrs result_ NETPOLL_GUARDED_BY(mu_){std::error_code()};  // valid once finished
  Waiter* waiter_ NETPOLL_GUARDED_BY(mu_) = nullptr;
};

class ResolverPool {
 public:
  // At most this many lookups call getaddrinfo at once, on as many threads. A lookup mostly
  // waits (for a DNS server), so threads are not for CPU: the bound is what a burst of names
  // may cost (3,000 concurrent name Dials made 3,000 threads, each reserving a stack) and how
  // hard one process hits the resolver at once. Go's cgo resolver caps at 500 because its
  // lookups do not queue elsewhere; here a queued lookup whose waiter gave up is skipped at
  // no cost, and each waiter is bounded by its own deadline, so a few threads suffice and
  // stuck lookups (a dead server: timeout x attempts x servers, 30 s with glibc's defaults)
  // delay only what queues behind them.
  static constexpr std::size_t kMaxThreads = 4;
  // An idle thread exits after this long: a burst of lookups reuses its threads rather than
  // starting one per lookup, and a process that stopped resolving holds none for long.
  static constexpr std::chrono::seconds kIdleExit{10};

  // The process's pool (never destroyed: a thread may still be inside getaddrinfo at exit,
  // and the threads are detached for that reason — joining one would wait out its lookup).
  // A child forked without exec starts with an empty pool: the parent's threads are not in
  // it, and what they had queued belongs to the parent's Loops, which the child must not use.
  static ResolverPool& instance() noexcept;

  // Queues `l`; a thread runs it. Starts a thread if none is idle and fewer than kMaxThreads
  // run. An error only if no thread could be started and none runs (then nothing would ever
  // run the lookup): std::system_error's code (EAGAIN), or ENOMEM.
  std::error_code submit(std::shared_ptr<Lookup> l) noexcept;

  struct Stats {
    std::size_t threads;       // started and not exited
    std::size_t peak_threads;  // the most at once since the process started
    std::size_t queued;        // waiting for a thread (including ones to be skipped)
    std::size_t running;       // inside the lookup call now
    std::size_t skipped;       // dequeued after their waiter gave up: no call made
  };
  Stats stats() noexcept;
  // Tests: asks every idle thread to exit now rather than after kIdleExit (stats().threads
  // then falls to the number busy).
  void exit_idle_threads() noexcept;

  // Test seams. `lookup`, when set, replaces getaddrinfo's wrapper for every lookup (also
  // ResolveAddrs'), so a test can block, fail or throw there; `thread_start`, when set, runs
  // just before a pool thread is created and may throw (std::system_error) as creating one
  // can. Set them while no lookup is in flight.
  struct Hooks {
    std::atomic<LookupFn> lookup{nullptr};
    std::atomic<void (*)()> thread_start{nullptr};
  };
  static Hooks& hooks() noexcept;

 private:
  ResolverPool();
  void work() noexcept NETPOLL_EXCLUDES(mu_);
  static void fork_prepare();  // see instance()
  static void fork_parent();
  static void fork_child();

  CondMutex mu_;
  std::condition_variable cv_;  // idle threads sleep on it, with mu_
  std::deque<std::shared_ptr<Lookup>> queue_ NETPOLL_GUARDED_BY(mu_);
  std::size_t threads_ NETPOLL_GUARDED_BY(mu_) = 0, idle_ NETPOLL_GUARDED_BY(mu_) = 0,
              peak_ NETPOLL_GUARDED_BY(mu_) = 0, running_ NETPOLL_GUARDED_BY(mu_) = 0,
              skipped_ NETPOLL_GUARDED_BY(mu_) = 0;
  std::size_t trim_ NETPOLL_GUARDED_BY(mu_) = 0;  // idle threads asked to exit (exit_idle_threads)
};

}  // namespace netpoll::net
