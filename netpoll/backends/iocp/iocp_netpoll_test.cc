// The core (BasicNetpoll: PollCache, PollDesc, timers) over the IOCP backend: completions
// ready PollDescs, stale packets are dropped by the sequence check, and a cancelled
// operation's memory stays the kernel's until its packet was dispatched (docs/testing.md case 24).
#include <chrono>
#include <thread>

#include "netpoll/backends/iocp/iocp_poller.h"
#include "netpoll/backends/iocp/iocp_test_util.h"
#include "netpoll/core/netpoll.h"
#include "doctest/doctest.h"
#include "netpoll/contract/clock.h"

using namespace std::chrono_literals;
using netpoll::Errc;
using netpoll::Event;
using netpoll::IocpOperation;
using netpoll::PollDesc;
using netpoll::ThreadWaiter;
using netpoll::Timeout;
using netpoll::WaiterList;
using namespace netpoll::testing;

using Netpoll = netpoll::BasicNetpoll<netpoll::IocpPoller>;

namespace {

// One connected pair with its receiving end (pr.b) registered, and that end's read operation.
struct Registered {
  Winsock ws;
  Netpoll np;
  Pair pr;
  PollDesc* pd = open();
  IocpOperation rop;
  char buf[16];

  PollDesc* open() {
    auto r = np.open(pr.b);
    REQUIRE(r.ok());
    return *r;
  }
  int start_read() { return start_recv(pr.b, rop, pd->token(), buf, sizeof buf); }
};

}  // namespace

TEST_CASE("iocp netpoll: a completion readies the PollDesc; a parked thread wakes") {
  Registered f;
  auto& [ws, np, pr, pd, rop, buf] = f;
  REQUIRE(pd->prepare(netpoll::kRead) == std::error_code());
  REQUIRE(f.start_read() == WSA_IO_PENDING);
  {
    PollerThread<Netpoll> poller(np);
    std::thread sender([&] {
      std::this_thread::sleep_for(20ms);
      REQUIRE(send(pr.a, "ping", 4, 0) == 4);
    });
    ThreadWaiter w;
    CHECK(pd->wait(netpoll::kRead, w) == std::error_code());
    sender.join();
  }
  CHECK(rop.result(pr.b).bytes == 4);
  CHECK(np.close(pd) == std::error_code());
}

TEST_CASE("iocp netpoll: a deadline cancels; the aborted packet is awaited (case 24)") {
  Registered f;
  auto& [ws, np, pr, pd, rop, buf] = f;
  PollerThread<Netpoll> poller(np);
  REQUIRE(f.start_read() == WSA_IO_PENDING);
  np.set_deadline(pd, netpoll::now_ns() + 20'000'000, netpoll::kRead);
  ThreadWaiter w;
  CHECK(pd->wait(netpoll::kRead, w) == Errc::deadline_exceeded);
  // What the FD layer does next: cancel, then wait for the packet before touching `rop` again.
  REQUIRE(CancelIoEx(reinterpret_cast<HANDLE>(pr.b), rop.overlapped()));
  pd->wait_completion(netpoll::kRead, w);
  CHECK(rop.result(pr.b).error == ERROR_OPERATION_ABORTED);
  // The deadline still holds for a new operation; cleared, the socket works again.
  CHECK(pd->prepare(netpoll::kRead) == Errc::deadline_exceeded);
  np.set_deadline(pd, 0, netpoll::kRead);
  REQUIRE(pd->prepare(netpoll::kRead) == std::error_code());
  REQUIRE(f.start_read() == WSA_IO_PENDING);
  REQUIRE(send(pr.a, "x", 1, 0) == 1);
  CHECK(pd->wait(netpoll::kRead, w) == std::error_code());
  CHECK(rop.result(pr.b).bytes == 1);
  CHECK(np.close(pd) == std::error_code());
}

TEST_CASE("iocp netpoll: close with a receive pending; a stale packet after reuse is dropped") {
  Registered f;
  auto& [ws, np, pr, pd, rop, buf] = f;
  const netpoll::Token old = pd->token();
  {
    PollerThread<Netpoll> poller(np);
    REQUIRE(f.start_read() == WSA_IO_PENDING);
    std::thread closer([&] {
      std::this_thread::sleep_for(20ms);
      np.evict(pd);
    });
    ThreadWaiter w;
    CHECK(pd->wait(netpoll::kRead, w) == Errc::closed);
    closer.join();
    REQUIRE(CancelIoEx(reinterpret_cast<HANDLE>(pr.b), rop.overlapped()));
    pd->wait_completion(netpoll::kRead, w);  // returns only once the packet was dispatched
  }
  CHECK(rop.result(pr.b).error == ERROR_OPERATION_ABORTED);
  CHECK(np.close(pd) == std::error_code());
  // The slot is reused for another socket with a new sequence.
  SOCKET other = overlapped_socket();
  auto pd2 = np.open(other);
  REQUIRE(pd2.ok());
  CHECK(*pd2 == pd);  // type-stable memory, same slot
  CHECK((*pd2)->token() != old);
  // A packet for the old token (say, one queued before the close) arrives now: dropped.
  IocpOperation late;
  REQUIRE(PostQueuedCompletionStatus(np.backend().native_handle(), 3,
                                     static_cast<ULONG_PTR>(old.value),
                                     late.begin(old, Event::kReadable)));
  WaiterList ready;
  auto n = np.poll(Timeout::after(5s), ready);
  REQUIRE(n.ok());
  CHECK(*n == 1);                               // the backend passed it up ...
  CHECK(!(*pd2)->begin_park(netpoll::kRead));   // ... and the core did not ready the new owner
  CHECK(!(*pd2)->end_park(netpoll::kRead));
  CHECK(np.close(*pd2) == std::error_code());
  closesocket(other);
}
