// Sleeping until a 32-bit atomic changes, for the core's Mutex and ThreadWaiter.
//
// One implementation per OS, chosen by Bazel select() (address_wait_posix.cc /
// address_wait_windows.cc): std::atomic::wait (a futex on Linux) on POSIX, WaitOnAddress on
// Windows, because libstdc++ 12's atomic wait for targets without a futex (mingw) can lose a
// wakeup (a park/unblock race test hung under wine). Both wake by address and never
// dereference it, so a waiter may return and destroy the word while the waker is still inside
// wake_one().
#pragma once

#include <atomic>
#include <cstdint>

namespace netpoll {

// Blocks while `word` holds `old`; may return spuriously (callers re-check in a loop).
void address_wait(std::atomic<std::uint32_t>& word, std::uint32_t old) noexcept;
// Wakes one thread blocked in address_wait on `word`.
void address_wake_one(std::atomic<std::uint32_t>& word) noexcept;

}  // namespace netpoll
