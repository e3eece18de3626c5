#include "netpoll/net/internal/resolver.h"

#include <new>
#include <thread>

#include "netpoll/net/internal/sock.h"
#include "netpoll/contract/error.h"

namespace netpoll::net {

bool Lookup::begin() noexcept {
  MutexLock g(mu_);
  if (gave_up_) return false;
  phase_ = Phase::running;
  return true;
}

void Lookup::run() noexcept {
  Addrs r{std::error_code()};
  try {
    r = fn_(network_, address_, passive_);
  } catch (const std::system_error& e) {
    r = e.code();
  } catch (...) {  // std::bad_alloc above all: the lookup copies names and builds a vector
    r = std::make_error_code(std::errc::not_enough_memory);
  }
  Waiter* w = nullptr;
  {
    MutexLock g(mu_);
    phase_ = Phase::finished;
    if (!gave_up_) {
      result_ = std::move(r);
      w = decide();
    }
  }
  if (w) w->notify();
}

bool Lookup::park(Waiter* w) noexcept {
  MutexLock g(mu_);
  if (gave_up_ || phase_ == Phase::finished) return false;
  waiter_ = w;
  return true;
}

Waiter* Lookup::give_up(std::error_code why) noexcept {
  MutexLock g(mu_);
  if (gave_up_ || phase_ == Phase::finished) return nullptr;
  gave_up_ = why;
  return decide();
}

Addrs Lookup::take() noexcept {
  MutexLock g(mu_);
  if (gave_up_) return gave_up_;
  return std::move(result_);
}

ResolverPool& ResolverPool::instance() noexcept {
  static ResolverPool* const pool = new ResolverPool;  // immortal: see the declaration
  return *pool;
}

ResolverPool::ResolverPool() { os::at_fork(&fork_prepare, &fork_parent, &fork_child); }

// The forking thread holds mu_ across fork(), so the child's copy of the pool is consistent.
// The lock is taken in one handler and released in another, which no scope can express: the
// analysis is off for these three.
void ResolverPool::fork_prepare() NETPOLL_NO_THREAD_SAFETY_ANALYSIS { instance().mu_.lock(); }
void ResolverPool::fork_parent() NETPOLL_NO_THREAD_SAFETY_ANALYSIS { instance().mu_.unlock(); }
void ResolverPool::fork_child() NETPOLL_NO_THREAD_SAFETY_ANALYSIS {
  ResolverPool& p = instance();
  // The condition variable may record waiters (the parent's idle threads) that do not exist
  // here: a fresh one. Its old state is abandoned, not destroyed, for the same reason.
  new (&p.cv_) std::condition_variable;
  p.queue_.clear();  // frees the Lookups: nothing here waits for them
  p.threads_ = p.idle_ = p.running_ = p.trim_ = 0;
  p.mu_.unlock();
}

ResolverPool::Hooks& ResolverPool::hooks() noexcept {
  static Hooks h;
  return h;
}

std::error_code ResolverPool::submit(std::shared_ptr<Lookup> l) noexcept {
  CondMutexLock g(mu_);
  try {
    queue_.push_back(std::move(l));
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  trim_ = 0;  // work came: threads asked to exit may take it instead
  // Every idle thread takes one queued lookup; a new thread only for what they cannot take.
  if (queue_.size() <= idle_ || threads_ >= kMaxThreads) {
    if (idle_ > 0) cv_.notify_one();
    return {};
  }
  std::error_code failed;
  try {
    if (void (*hook)() = hooks().thread_start.load()) hook();
    std::thread([this] { work(); }).detach();  // it takes mu_ only after we release it
    ++threads_;
    if (threads_ > peak_) peak_ = threads_;
    return {};
  } catch (const std::system_error& e) {
    failed = e.code();
  } catch (...) {
    failed = std::make_error_code(std::errc::not_enough_memory);
  }
  if (threads_ > 0) return {};  // no new thread, but the running ones will get to it
  queue_.pop_back();            // ours (mu_ held since the push): nothing would ever run it
  return failed;
}

void ResolverPool::work() noexcept {
  CondMutexLock lk(mu_);
  for (;;) {
    if (queue_.empty()) {
      ++idle_;
      const auto idle_until = std::chrono::steady_clock::now() + kIdleExit;
      while (queue_.empty() && trim_ == 0 && lk.wait_until(cv_, idle_until)) {
      }
      const bool got = !queue_.empty() || trim_ > 0;
      --idle_;
      if (!got || queue_.empty()) {
        if (got) --trim_;
        --threads_;
        return;
      }
    }
    std::shared_ptr<Lookup> l = std::move(queue_.front());
    queue_.pop_front();
    if (!l->begin()) {
      ++skipped_;
      continue;  // its waiter left while it was queued; l is released under mu_, harmlessly
    }
    ++running_;
    lk.unlock();
    l->run();
    l.reset();  // may free the lookup: outside the pool's lock
    lk.lock();
    --running_;
  }
}

void ResolverPool::exit_idle_threads() noexcept {
  CondMutexLock g(mu_);
  trim_ = idle_;
  cv_.notify_all();
}

ResolverPool::Stats ResolverPool::stats() noexcept {
  CondMutexLock g(mu_);
  return Stats{threads_, peak_, queue_.size(), running_, skipped_};
}

}  // namespace netpoll::net
