#include "netpoll/backends/uring/fallback_poller.h"

#include <errno.h>

#include <atomic>
#include <cstdlib>
#include <string_view>

namespace netpoll {
namespace {

UringFallbackPoller::Preference from_environment() noexcept {
  const char* v = std::getenv("NETPOLL_BACKEND");
  if (!v) return UringFallbackPoller::Preference::automatic;
  const std::string_view s(v);
  if (s == "epoll") return UringFallbackPoller::Preference::epoll;
  if (s == "io_uring") return UringFallbackPoller::Preference::io_uring;
  return UringFallbackPoller::Preference::automatic;
}

std::atomic<UringFallbackPoller::Preference>& preference_slot() noexcept {
  static std::atomic<UringFallbackPoller::Preference> p{from_environment()};
  return p;
}

// The refusals a program must survive (see the header); others are real failures.
bool falls_back(int err) noexcept { return err == ENOSYS || err == EPERM || err == ENOMEM; }

}  // namespace

void UringFallbackPoller::prefer(Preference p) noexcept {
  preference_slot().store(p, std::memory_order_relaxed);
}

UringFallbackPoller::Preference UringFallbackPoller::preference() noexcept {
  return preference_slot().load(std::memory_order_relaxed);
}

UringFallbackPoller::UringFallbackPoller() {
  const Preference p = preference();
  if (p != Preference::epoll) {
    try {
      new (&u_) UringPoller();
      ring_ = true;
      return;
    } catch (const std::system_error& e) {
      if (p == Preference::io_uring || e.code().category() != std::generic_category() ||
          !falls_back(e.code().value()))
        throw;
      refusal_ = e.code();
    }
  } else {
    refusal_ = std::make_error_code(std::errc::operation_not_permitted);
  }
  new (&e_) EpollPoller();  // throws on its own failures, with nothing to undo
}

UringFallbackPoller::~UringFallbackPoller() {
  if (ring_)
    u_.~UringPoller();
  else
    e_.~EpollPoller();
}

}  // namespace netpoll
