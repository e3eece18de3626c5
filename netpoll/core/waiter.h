// Waiter: what parks on a PollDesc direction ("make this runnable" and nothing else).
//
// The core never knows what a waiter is; it hands waiters back in a WaiterList and someone
// calls notify(). notify() may run on any thread (the poller thread, a thread closing the
// descriptor or moving its deadline), so every Waiter kind must be thread-safe to notify.
// After notify() the waiter may be destroyed at once by its owner: nothing may touch it after.
//
// Kinds provided here: ThreadWaiter (a blocked OS thread) and CallbackWaiter (runs a function).
// The coroutine waiter lives with the coroutine Loop in net/.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "netpoll/core/address_wait.h"

namespace netpoll {

class Waiter {
 public:
  using NotifyFn = void (*)(Waiter*) noexcept;
  explicit Waiter(NotifyFn fn) noexcept : notify_fn_(fn) {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  void notify() noexcept { notify_fn_(this); }

 private:
  friend class WaiterList;
  friend class WaiterRing;
  Waiter* next_ = nullptr;  // WaiterList link; owned by the list while queued
  NotifyFn notify_fn_;
};

// Intrusive FIFO of waiters to run: pushing never allocates.
class WaiterList {
 public:
  WaiterList() = default;
  WaiterList(const WaiterList&) = delete;
  WaiterList& operator=(const WaiterList&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  void push(Waiter* w) noexcept {
    w->next_ = nullptr;
    if (tail_) tail_->next_ = w;
    else head_ = w;
    tail_ = w;
    ++size_;
  }
  Waiter* pop() noexcept {
    Waiter* w = head_;
    if (!w) return nullptr;
    head_ = w->next_;
    if (!head_) tail_ = nullptr;
    --size_;
    return w;
  }
  // Notifies every waiter in order; returns how many.
  std::size_t notify_all() noexcept {
    std::size_t n = 0;
    while (Waiter* w = pop()) {  // pop before notify: w may be gone once notified
      w->notify();
      ++n;
    }
    return n;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

// The same FIFO in one word, for structures kept per descriptor (FdMutex): a circular list
// through the tail, whose next is the head. Not thread-safe; pushing never allocates.
class WaiterRing {
 public:
  WaiterRing() = default;
  WaiterRing(const WaiterRing&) = delete;
  WaiterRing& operator=(const WaiterRing&) = delete;

  bool empty() const noexcept { return tail_ == nullptr; }
  void push(Waiter* w) noexcept {
    if (tail_) {
      w->next_ = tail_->next_;
      tail_->next_ = w;
    } else {
      w->next_ = w;
    }
    tail_ = w;
  }
  Waiter* pop() noexcept {
    if (!tail_) return nullptr;
    Waiter* head = tail_->next_;
    if (head == tail_) tail_ = nullptr;
    else tail_->next_ = head->next_;
    head->next_ = nullptr;
    return head;
  }

 private:
  Waiter* tail_ = nullptr;
};

// A thread blocked until notified (Go's synchronous style without coroutines). Reusable:
// park() consumes the notification.
class ThreadWaiter final : public Waiter {
 public:
  ThreadWaiter() noexcept : Waiter(&notify_thunk) {}
  // Blocks until notify(). Sleeps in the kernel (address_wait: a futex on Linux).
  void park() noexcept {
    while (signaled_.load(std::memory_order_acquire) == 0)
      address_wait(signaled_, 0);
    signaled_.store(0, std::memory_order_relaxed);
  }

 private:
  static void notify_thunk(Waiter* w) noexcept {
    auto* self = static_cast<ThreadWaiter*>(w);
    // Release pairs with park()'s acquire: the waker's writes (readiness, errors) are visible.
    self->signaled_.store(1, std::memory_order_release);
    // Wakes by address without dereferencing it: the parked thread returning and destroying
    // *self between these two lines is harmless.
    address_wake_one(self->signaled_);
  }
  std::atomic<std::uint32_t> signaled_{0};
};

// Runs a callable on notify, on whichever thread notifies.
template <class F>
class CallbackWaiter final : public Waiter {
 public:
  explicit CallbackWaiter(F f) noexcept(std::is_nothrow_move_constructible_v<F>)
      : Waiter(&notify_thunk), f_(std::move(f)) {}

 private:
  static void notify_thunk(Waiter* w) noexcept { static_cast<CallbackWaiter*>(w)->f_(); }
  F f_;
};

}  // namespace netpoll
