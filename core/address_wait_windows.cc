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

// WakeByAddressAll, not Single: wine 8 keys its waits on a hash of the address shared with its
// own locks, and waking one sleeper there can wake another address's and leave ours asleep (a
// ThreadWaiter hung in about 1 of 10 test runs under wine with Single, none in 48 with All).
// Every caller re-checks its word after waking, so the extra wakeups are only a cost, and a
// netpoll word rarely has more than one sleeper.
void address_wake_one(std::atomic<std::uint32_t>& word) noexcept { WakeByAddressAll(&word); }

}  // namespace netpoll
