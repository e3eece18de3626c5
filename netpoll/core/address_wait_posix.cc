#include "netpoll/core/address_wait.h"

namespace netpoll {

void address_wait(std::atomic<std::uint32_t>& word, std::uint32_t old) noexcept {
  word.wait(old, std::memory_order_relaxed);
}

void address_wake_one(std::atomic<std::uint32_t>& word) noexcept { word.notify_one(); }

}  // namespace netpoll
