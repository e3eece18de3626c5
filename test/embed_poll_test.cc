// A net::Loop embedded in the simplest host there is: a poll(2) loop on the Loop's native
// handle, sleeping at most next_timeout() (whole ms rounded up; -1 for infinite).
// Not built for Windows: a completion port is not pollable by poll(2) / WSAPoll.
#include <errno.h>
#include <poll.h>

#include <atomic>
#include <functional>
#include <type_traits>

#include "netpoll/net/net.h"
#include "test/embed_cases.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {
namespace {

class PollHost : public HostBase {
 public:
  explicit PollHost(net::Loop& loop) : loop_(loop) {}

  void run(const std::function<bool()>& done) {
    pollfd pfd{loop_.native_handle(), POLLIN, 0};
    run_sleeping_host(loop_, stats_, sleeping_, done, [&](int ms) {
      const int r = ::poll(&pfd, 1, ms);
      if (r > 0) REQUIRE((pfd.revents & (POLLERR | POLLNVAL)) == 0);
      return r;
    });
  }

 private:
  net::Loop& loop_;
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

TEST_CASE("embed poll(2): more events than a step takes are all served") {
  check_full_batch<PollHost>();
}

}  // namespace netpoll::embed_test

namespace netpoll::embed_test {
// Where the backend's handle is pollable, the portable host_handle() is that handle.
TEST_CASE("embed poll(2): host_handle() is native_handle() on a pollable backend") {
  net::Loop loop;
  static_assert(std::is_same_v<decltype(loop.host_handle()), decltype(loop.native_handle())>);
  CHECK(loop.host_handle() == loop.native_handle());
}
}  // namespace netpoll::embed_test
