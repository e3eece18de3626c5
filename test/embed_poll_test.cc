// A net::Loop embedded in the simplest host there is: a poll(2) loop on the Loop's native
// handle, sleeping at most next_timeout() (whole ms rounded up; -1 for infinite).
// Not built for Windows: a completion port is not pollable by poll(2) / WSAPoll.
#include <errno.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <functional>

#include "netpoll/net/net.h"
#include "test/embed_cases.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {
namespace {

class PollHost {
 public:
  explicit PollHost(net::Loop& loop) : loop_(loop) {}

  void run(const std::function<bool()>& done) {
    const Clock::time_point give_up = Clock::now() + kHostSafetyTimeout;
    pollfd pfd{loop_.native_handle(), POLLIN, 0};
    for (;;) {
      // The first step runs whatever was queued before run() (spawned tasks).
      loop_.run_once(Timeout::zero());
      if (done()) return;
      const Timeout t = loop_.next_timeout();
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(give_up - Clock::now()).count();
      if (left <= 0) {
        stats_.timed_out = true;
        return;
      }
      const int cap = static_cast<int>(std::min<long long>(left, INT_MAX));
      // Infinite becomes the safety cap: a missed wake then ends in timed_out, not a hang.
      const int ms = t.is_infinite() ? cap : static_cast<int>(t.milliseconds_ceil(cap));
      if (t.is_infinite()) sleeping_.store(true, std::memory_order_release);
      const int r = ::poll(&pfd, 1, ms);
      if (r < 0) {
        REQUIRE_MESSAGE(errno == EINTR, "poll: ", std::strerror(errno));
        continue;
      }
      if (r > 0) {
        REQUIRE((pfd.revents & (POLLERR | POLLNVAL)) == 0);
        ++stats_.handle_wakeups;
      } else if (t.is_zero()) {
        ++stats_.zero_steps;
      } else if (!t.is_infinite()) {
        ++stats_.timer_wakeups;
      }
    }
  }

  const HostStats& stats() const { return stats_; }
  bool sleeping() const { return sleeping_.load(std::memory_order_acquire); }

 private:
  net::Loop& loop_;
  HostStats stats_;
  std::atomic<bool> sleeping_{false};
};

}  // namespace

TEST_CASE("embed poll(2): coroutine echo server on the embedded Loop, clients on 4 threads") {
  check_echo<PollHost>();
}

TEST_CASE("embed poll(2): sleep_for and a read deadline fire through the poll timeout") {
  check_timers<PollHost>();
}

TEST_CASE("embed poll(2): a read deadline set from another thread while the host sleeps re-arms it") {
  check_deadline_from_other_thread<PollHost>();
}

TEST_CASE("embed poll(2): loop.post from other threads wakes the host") {
  check_post<PollHost>();
}

}  // namespace netpoll::embed_test
