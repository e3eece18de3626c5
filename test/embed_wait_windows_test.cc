// A net::Loop embedded in Windows host loops: one that sleeps in WaitForSingleObject on
// loop.host_handle() (IocpPoller's host mode: an event set while the port has packets), and a
// Win32 message loop that sleeps in MsgWaitForMultipleObjectsEx and pumps its messages. Both
// sleep at most next_timeout() (whole ms rounded up). The cases are embed_cases.h's, the same
// ones the POSIX hosts run.
#include <windows.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "netpoll/net/net.h"
#include "test/embed_cases.h"
#include "test/embed_common.h"

namespace netpoll::embed_test {
namespace {

class WaitHost : public HostBase {
 public:
  explicit WaitHost(net::Loop& loop) : loop_(loop) {}

  void run(const std::function<bool()>& done) {
    const HANDLE h = loop_.host_handle();
    run_sleeping_host(loop_, stats_, sleeping_, done, [&](int ms) {
      const DWORD r = WaitForSingleObject(h, static_cast<DWORD>(ms));
      REQUIRE_MESSAGE(r != WAIT_FAILED, "WaitForSingleObject: error ", GetLastError());
      return r == WAIT_OBJECT_0 ? 1 : 0;
    });
  }

 private:
  net::Loop& loop_;
};

// A GUI thread's loop: messages and the Loop's handle in one wait. A message wakes the wait,
// is dispatched, and the wait goes on for the rest of the timeout (so `wait` returns as
// run_sleeping_host expects: 1 for the handle, 0 once the timeout passed).
class MessageHost : public HostBase {
 public:
  explicit MessageHost(net::Loop& loop) : loop_(loop) {}

  void run(const std::function<bool()>& done) {
    const HANDLE h = loop_.host_handle();
    run_sleeping_host(loop_, stats_, sleeping_, done, [&](int ms) {
      const Clock::time_point end = Clock::now() + std::chrono::milliseconds(ms);
      for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now()).count();
        const DWORD r = MsgWaitForMultipleObjectsEx(1, &h, left > 0 ? static_cast<DWORD>(left) : 0,
                                                    QS_ALLINPUT, MWMO_INPUTAVAILABLE);
        REQUIRE_MESSAGE(r != WAIT_FAILED, "MsgWaitForMultipleObjectsEx: error ", GetLastError());
        if (r == WAIT_OBJECT_0) return 1;
        if (r == WAIT_TIMEOUT) return 0;
        MSG m;
        while (PeekMessageW(&m, nullptr, 0, 0, PM_REMOVE)) {
          if (m.message == WM_APP) ++messages;
          DispatchMessageW(&m);
        }
      }
    });
  }
  int messages = 0;

 private:
  net::Loop& loop_;
};

}  // namespace

TEST_CASE("embed WaitForSingleObject: coroutine echo server on the embedded Loop, clients on 4 threads") {
  check_echo<WaitHost>();
}
TEST_CASE("embed WaitForSingleObject: sleep_for and a read deadline fire through the wait timeout") {
  check_timers<WaitHost>();
}
TEST_CASE("embed WaitForSingleObject: a read deadline set from another thread while the host sleeps") {
  check_deadline_from_other_thread<WaitHost>();
}
TEST_CASE("embed WaitForSingleObject: loop.post from other threads wakes the host") {
  check_post<WaitHost>();
}
TEST_CASE("embed WaitForSingleObject: more events than a step takes are all served") {
  check_full_batch<WaitHost>();
}

TEST_CASE("embed message loop: coroutine echo server on the embedded Loop, clients on 4 threads") {
  check_echo<MessageHost>();
}
TEST_CASE("embed message loop: sleep_for and a read deadline fire through the wait timeout") {
  check_timers<MessageHost>();
}
TEST_CASE("embed message loop: loop.post from other threads wakes the host") {
  check_post<MessageHost>();
}
TEST_CASE("embed message loop: thread messages are pumped while the Loop serves") {
  net::Loop loop;
  MessageHost host(loop);
  const DWORD host_thread = GetCurrentThreadId();
  MSG m;
  PeekMessageW(&m, nullptr, 0, 0, PM_NOREMOVE);  // the thread's message queue exists from here
  std::atomic<bool> stop{false};
  constexpr int kMessages = 20;
  std::thread poster([&] {
    for (int i = 0; i < kMessages && !stop.load(); ++i) {
      PostThreadMessageW(host_thread, WM_APP, 0, 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // The last message may come after the sleep ended, with the Loop idle: wake the host so
    // that done() is asked again (a message alone never ends its wait).
    loop.post([] {});
  });
  bool slept = false;
  loop.spawn([](net::Loop& l, bool& s) -> net::Task<void> {
    co_await net::sleep_for(l, std::chrono::milliseconds(80));
    s = true;
  }(loop, slept));
  host.run([&] { return slept && host.messages == kMessages; });
  stop = true;
  poster.join();
  MESSAGE(host.stats().summary());
  CHECK_FALSE(host.stats().timed_out);
  CHECK(slept);
  CHECK(host.messages == kMessages);
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  CHECK((left && *left == 0));
}

}  // namespace netpoll::embed_test
