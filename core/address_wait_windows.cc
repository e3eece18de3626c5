#include <windows.h>
#include <synchapi.h>

#include "core/address_wait.h"

namespace netpoll {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "WaitOnAddress compares the atomic's storage as a plain 32-bit word");

void address_wait(std::atomic<std::uint32_t>& word, std::uint32_t old) noexcept {
  // Returns on a wake, spuriously, or (never here) on timeout; the caller re-checks.
  WaitOnAddress(&word, &old, sizeof old, INFINITE);
}

void address_wake_one(std::atomic<std::uint32_t>& word) noexcept { WakeByAddressSingle(&word); }

}  // namespace netpoll
