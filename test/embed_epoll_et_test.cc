// A net::Loop embedded in a host that watches its handle edge-triggered: an outer epoll set with
// EPOLLIN|EPOLLET on loop.native_handle(), sleeping at most next_timeout(). Such a host is told
// about the handle only when it becomes readable again, never that it still is, so it relies
// on next_timeout() being zero whenever a step left work behind (check_full_batch).
// Linux only (the host is epoll; the Loop's handle is whatever backend is selected).
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>

#include "netpoll/net/net.h"
#include "test/embed_cases.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {
namespace {

class EpollEtHost : public HostBase {
 public:
  explicit EpollEtHost(net::Loop& loop) : loop_(loop), ep_(::epoll_create1(EPOLL_CLOEXEC)) {
    REQUIRE_MESSAGE(ep_ >= 0, "epoll_create1: ", std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    REQUIRE_MESSAGE(::epoll_ctl(ep_, EPOLL_CTL_ADD, loop_.native_handle(), &ev) == 0,
                    "epoll_ctl: ", std::strerror(errno));
  }
  ~EpollEtHost() { ::close(ep_); }
  EpollEtHost(const EpollEtHost&) = delete;
  EpollEtHost& operator=(const EpollEtHost&) = delete;

  void run(const std::function<bool()>& done) {
    run_sleeping_host(loop_, stats_, sleeping_, done, [&](int ms) {
      epoll_event ev;
      return ::epoll_wait(ep_, &ev, 1, ms);
    });
  }

 private:
  net::Loop& loop_;
  const int ep_;
};

}  // namespace

TEST_CASE("embed epoll (edge-triggered): coroutine echo server, clients on 4 threads") {
  check_echo<EpollEtHost>();
}

TEST_CASE("embed epoll (edge-triggered): sleep_for and a read deadline fire through the timeout") {
  check_timers<EpollEtHost>();
}

TEST_CASE("embed epoll (edge-triggered): a deadline set from another thread wakes the host") {
  check_deadline_from_other_thread<EpollEtHost>();
}

TEST_CASE("embed epoll (edge-triggered): loop.post from other threads wakes the host") {
  check_post<EpollEtHost>();
}

TEST_CASE("embed epoll (edge-triggered): more events than a step takes are all served") {
  check_full_batch<EpollEtHost>();
}

}  // namespace netpoll::embed_test
