#include <windows.h>
#include <synchapi.h>

#include "netpoll/core/address_wait.h"

namespace netpoll {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "WaitOnAddress compares the atomic's storage as a plain 32-bit word");

void address_wait(std::atomic<std::uint32_t>& word, std::uint32_t old) noexcept {
  // Returns on a wake, spuriously, or (never here) on timeout; the caller re-checks.
  WaitOnAddress(&word, &old, sizeof old, INFINITE);
}

// WakeByAddressAll, not Single: it was tried against a suspected lost wakeup in wine's hashed
// address waits; the hang it was meant to fix turned out to follow the wineserver's lifetime
// instead (netpoll/backends/iocp/README.md), so All is a precaution, not a measured fix. It costs only
// extra wakeups: every caller re-checks its word, and a netpoll word rarely has more than one
// sleeper.
void address_wake_one(std::atomic<std::uint32_t>& word) noexcept { WakeByAddressAll(&word); }

}  // namespace netpoll
