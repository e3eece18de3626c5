#include "netpoll/contract/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace netpoll {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "netpoll"; }
  std::string message(int c) const override {
    switch (static_cast<Errc>(c)) {
      case Errc::ok: return "success";
      case Errc::invalid_argument: return "invalid argument";
      case Errc::not_pollable: return "descriptor is not pollable (regular file or similar)";
      case Errc::already_registered: return "descriptor is already registered with this poller";
      case Errc::not_registered: return "descriptor is not registered with this poller";
      case Errc::closed: return "use of closed network connection";
      case Errc::deadline_exceeded: return "i/o timeout (deadline exceeded)";
      case Errc::event_error: return "poller reported an error condition on the descriptor";
      case Errc::too_many_descriptors: return "descriptor cache is full";
      case Errc::would_deadlock:
        return "blocking call on the thread that runs the loop it waits for (would deadlock)";
      case Errc::loop_busy: return "the loop is being run by another thread";
    }
    return "unknown netpoll error " + std::to_string(c);
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<Errc>(c)) {
      case Errc::invalid_argument: return std::errc::invalid_argument;
      case Errc::deadline_exceeded: return std::errc::timed_out;
      case Errc::too_many_descriptors: return std::errc::too_many_files_open;
      case Errc::would_deadlock: return std::errc::resource_deadlock_would_occur;
      default: return {c, *this};
    }
  }
};

}  // namespace

const std::error_category& netpoll_category() noexcept {
  static const Category c;
  return c;
}

void fatal_syscall(std::string_view call, int err) noexcept {
  std::fprintf(stderr, "netpoll: fatal: %.*s failed: %s (errno %d)\n",
               static_cast<int>(call.size()), call.data(), std::strerror(err), err);
  std::abort();
}

void fatal(std::string_view what) noexcept {
  std::fprintf(stderr, "netpoll: fatal: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace netpoll
