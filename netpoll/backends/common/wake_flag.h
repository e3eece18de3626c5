// WakeFlag: the coalescing flag every backend's wake() uses (Backend::wake's contract).
//
// True from the wake() that signalled the kernel until a wait has consumed that signal; while
// it is set, wake() makes no syscall. Many threads waking one poller must not all bounce the
// flag's cache line with RMWs (B7: 4 wakers reached 64M wakes/s with an exchange first, 470M
// reading first; libuv's uv_async_send also reads first), so claim() reads first. That read is
// seq_cst, consume()'s clearing exchange too, and the caller publishes its work with a seq_cst
// store before calling wake(), which the waiter reads seq_cst after consume(): a Dekker pair,
// so a wake that returns without a syscall cannot leave the waiter asleep on unseen work.
#pragma once

#include <atomic>

namespace netpoll {

class WakeFlag {
 public:
  // True if the caller must signal the kernel (no wake was pending); false if one already is.
  bool claim() noexcept {
    if (pending_.load(std::memory_order_seq_cst)) return false;
    return !pending_.exchange(true, std::memory_order_acq_rel);
  }
  // The waiting thread saw the kernel's wake notification. An exchange, not a store: a wake()
  // that saw `true` (and so made no syscall) happened before it, so whatever that caller
  // published is visible to the waiter, which is returning from wait now and will look.
  void consume() noexcept { pending_.exchange(false, std::memory_order_seq_cst); }

 private:
  std::atomic<bool> pending_{false};
};

}  // namespace netpoll
