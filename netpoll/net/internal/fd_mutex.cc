#include "netpoll/net/internal/fd_mutex.h"

#include <mutex>

#include "netpoll/contract/error.h"

namespace netpoll::net {

bool FdMutex::sema_acquire(bool read, Waiter* w) noexcept {
  MutexLock g(sema_mu_);
  if (permits_[read ? 0 : 1] > 0) {
    --permits_[read ? 0 : 1];
    return true;
  }
  waiters_[read ? 0 : 1].push(w);
  return false;
}

void FdMutex::sema_release(bool read) noexcept {
  Waiter* w;
  {
    MutexLock g(sema_mu_);
    w = waiters_[read ? 0 : 1].pop();
    if (!w) {
      ++permits_[read ? 0 : 1];
      return;
    }
  }
  w->notify();  // outside the lock: notify may run the waiter's owner inline
}

namespace {
[[noreturn]] void overflow() noexcept { fatal("net::FdMutex: too many concurrent operations on one descriptor"); }
[[noreturn]] void inconsistent() noexcept { fatal("net::FdMutex: lock, unlock or decref without a reference"); }
}  // namespace

bool FdMutex::incref() noexcept {
  std::uint64_t old = state_.load();
  for (;;) {
    if (old & kClosed) return false;
    const std::uint64_t nw = old + kRef;
    if ((nw & kRefMask) == 0) overflow();
    if (state_.compare_exchange_weak(old, nw)) return true;
  }
}

bool FdMutex::incref_and_close() noexcept {
  std::uint64_t old = state_.load();
  for (;;) {
    if (old & kClosed) return false;
    // Closed, one more reference, and no waiters: each one is released below and sees closed.
    std::uint64_t nw = (old | kClosed) + kRef;
    if ((nw & kRefMask) == 0) overflow();
    nw &= ~(kRMask | kWMask);
    if (state_.compare_exchange_weak(old, nw)) {
      for (std::uint64_t n = (old & kRMask) / kRWait; n > 0; --n) sema_release(true);
      for (std::uint64_t n = (old & kWMask) / kWWait; n > 0; --n) sema_release(false);
      return true;
    }
  }
}

bool FdMutex::decref() noexcept {
  std::uint64_t old = state_.load();
  for (;;) {
    if ((old & kRefMask) == 0) inconsistent();
    const std::uint64_t nw = old - kRef;
    if (state_.compare_exchange_weak(old, nw)) return (nw & (kClosed | kRefMask)) == kClosed;
  }
}

FdMutex::Lock FdMutex::rwlock(bool read, Waiter* w) noexcept {
  const std::uint64_t bit = read ? kRLock : kWLock;
  const std::uint64_t wait = read ? kRWait : kWWait;
  const std::uint64_t mask = read ? kRMask : kWMask;
  std::uint64_t old = state_.load();
  for (;;) {
    if ((old & kRefMask) == 0) inconsistent();
    if (old & kClosed) return Lock::closed;
    std::uint64_t nw;
    if ((old & bit) == 0) {
      nw = old | bit;
    } else {
      nw = old + wait;
      if ((nw & mask) == 0) overflow();
    }
    if (!state_.compare_exchange_weak(old, nw)) continue;
    if ((old & bit) == 0) return Lock::acquired;
    // Counted as a waiter: the unlocker (or close) that subtracts our count releases a permit.
    if (!sema_acquire(read, w)) return Lock::queued;
    old = state_.load();  // a permit was already there: try again now
  }
}

bool FdMutex::rwunlock(bool read) noexcept {
  const std::uint64_t bit = read ? kRLock : kWLock;
  const std::uint64_t wait = read ? kRWait : kWWait;
  const std::uint64_t mask = read ? kRMask : kWMask;
  std::uint64_t old = state_.load();
  for (;;) {
    if ((old & bit) == 0 || (old & kRefMask) == 0) inconsistent();
    std::uint64_t nw = (old & ~bit) - kRef;
    if (old & mask) nw -= wait;
    if (state_.compare_exchange_weak(old, nw)) {
      if (old & mask) sema_release(read);
      return (nw & (kClosed | kRefMask)) == kClosed;
    }
  }
}

}  // namespace netpoll::net
