// Mutex: a 4-byte sleeping lock (Drepper's "futex mutex 2", on C++20 atomic wait/notify).
//
// Why not std::mutex: it is 40 bytes on glibc and every PollDesc carries a lock; the 64-byte
// PollDesc (docs/benchmarks.md B5) does not allow it. Uncontended lock/unlock is one CAS and
// one exchange; a contended waiter sleeps in the kernel (atomic::wait), it never spins
// unboundedly.
#pragma once

#include <atomic>
#include <cstdint>

#include "netpoll/core/address_wait.h"
#include "netpoll/core/thread_annotations.h"

namespace netpoll {

class NETPOLL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() noexcept NETPOLL_ACQUIRE() {
    std::uint32_t c = kUnlocked;
    if (state_.compare_exchange_strong(c, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return;
    lock_slow(c);
  }
  bool try_lock() noexcept NETPOLL_TRY_ACQUIRE(true) {
    std::uint32_t c = kUnlocked;
    return state_.compare_exchange_strong(c, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() noexcept NETPOLL_RELEASE() {
    // Pairs with the acquire in lock(). Only a lock that saw contention pays for a notify.
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended)
      address_wake_one(state_);
  }

 private:
  static constexpr std::uint32_t kUnlocked = 0, kLocked = 1, kContended = 2;

  void lock_slow(std::uint32_t c) noexcept {
    // Once we have waited we must leave the lock marked contended: other sleepers may remain.
    if (c != kContended) c = state_.exchange(kContended, std::memory_order_acquire);
    while (c != kUnlocked) {
      address_wait(state_, kContended);
      c = state_.exchange(kContended, std::memory_order_acquire);
    }
  }

  std::atomic<std::uint32_t> state_{kUnlocked};
};

// MutexLock: holds a Mutex for its scope, in a form the thread-safety analysis understands
// (libstdc++'s std::lock_guard carries no annotations, so guarded accesses under it would be
// flagged).
class NETPOLL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) noexcept NETPOLL_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() NETPOLL_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace netpoll
