// The IOCP backend against the Backend contract, in completion terms (runs under wine here).
// Identity, wakes and timeouts are checked for every backend by test/poller_contract_test.cc.
//
// What differs from the readiness backends, by design: nothing is reported for a socket until
// an overlapped operation on it completes, so "one event per edge" becomes "one packet per
// pending operation, none for one that succeeded at once"; hangup and error are the
// operation's own status (IocpOperation::result), not event flags; deregistration cannot undo
// an association (it counts only; the token check drops late packets: see the core's tests).
#include <chrono>
#include <string>
#include <vector>

#include "netpoll/backends/iocp/iocp_poller.h"
#include "netpoll/backends/iocp/iocp_test_util.h"
#include "doctest/doctest.h"
#include "netpoll/contract/error.h"

using namespace std::chrono_literals;
using netpoll::Errc;
using netpoll::Event;
using netpoll::IocpOperation;
using netpoll::IocpPoller;
using netpoll::Timeout;
using netpoll::Token;
using namespace netpoll::testing;

namespace {

constexpr Token kA{0x0000000700000011ull}, kB{0x0000000900000022ull};

}  // namespace

TEST_CASE("iocp: a pending receive completes with one packet for its direction and bytes") {
  Winsock ws;
  IocpPoller p;
  Pair pr;
  REQUIRE(!p.register_handle(pr.b, kA));
  IocpOperation rop;
  char buf[64];
  REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
  Event evs[8];
  CHECK(wait_once(p, evs, Timeout::zero()) == 0);  // nothing yet
  REQUIRE(send(pr.a, "hello", 5, 0) == 5);
  REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
  CHECK(evs[0].token == kA);
  CHECK(evs[0].flags == Event::kReadable);
  CHECK(evs[0].result == 5);
  const auto r = rop.result(pr.b);
  CHECK(r.error == 0);
  CHECK(r.bytes == 5);
  CHECK(std::string(buf, 5) == "hello");
  // Exactly one packet per operation: nothing further.
  CHECK(wait_once(p, evs, Timeout::after(20ms)) == 0);

  SUBCASE("end of stream: a pending receive completes with 0 bytes, no error") {
    REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
    REQUIRE(shutdown(pr.a, SD_SEND) == 0);
    REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
    CHECK(evs[0].flags == Event::kReadable);
    CHECK(evs[0].result == 0);
    CHECK(rop.result(pr.b).error == 0);
    CHECK(rop.result(pr.b).bytes == 0);
  }
}

TEST_CASE("iocp: an operation that succeeds at once queues no packet") {
  Winsock ws;
  IocpPoller p;
  Pair pr;
  REQUIRE(!p.register_handle(pr.b, kA));
  // Every TCP provider here has IFS handles (no layered provider), so skipping is safe.
  REQUIRE(IocpPoller::completion_skipping_safe());
  REQUIRE(!IocpPoller::skip_completion_on_success(pr.b));
  REQUIRE(send(pr.a, "abc", 3, 0) == 3);
  std::this_thread::sleep_for(20ms);  // let the bytes arrive (a pending result is also fine)
  IocpOperation rop;
  char buf[16];
  const int rc = start_recv(pr.b, rop, kA, buf, sizeof buf);
  Event evs[4];
  if (rc == 0) {
    CHECK(rop.result(pr.b).bytes == 3);
    CHECK(wait_once(p, evs, Timeout::after(50ms)) == 0);  // FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
  } else {
    REQUIRE(rc == WSA_IO_PENDING);
    REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
    CHECK(evs[0].result == 3);
  }
  // A send of a few bytes completes at once: no packet either.
  IocpOperation wop;
  REQUIRE(start_send(pr.b, wop, kA, "xyz", 3) == 0);
  CHECK(wop.result(pr.b).bytes == 3);
  CHECK(wait_once(p, evs, Timeout::after(50ms)) == 0);
}

TEST_CASE("iocp: without skip_completion_on_success, a call done at once still queues its packet") {
  Winsock ws;
  IocpPoller p;
  Pair pr;
  REQUIRE(!p.register_handle(pr.b, kA));
  IocpOperation wop;
  REQUIRE(start_send(pr.b, wop, kA, "xyz", 3) == 0);  // a few bytes: sent at once
  Event evs[4];
  REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);  // ... and its packet comes all the same
  CHECK(evs[0].token == kA);
  CHECK(evs[0].flags == Event::kWritable);
  CHECK(evs[0].result == 3);
  CHECK(wait_once(p, evs, Timeout::after(20ms)) == 0);  // exactly one
}

TEST_CASE("iocp: a send that has to wait completes as writable") {
  Winsock ws;
  IocpPoller p;
  Pair pr;
  int small = 4096;
  setsockopt(pr.b, SOL_SOCKET, SO_SNDBUF, reinterpret_cast<char*>(&small), sizeof small);
  setsockopt(pr.a, SOL_SOCKET, SO_RCVBUF, reinterpret_cast<char*>(&small), sizeof small);
  REQUIRE(!p.register_handle(pr.b, kB));
  REQUIRE(!p.register_handle(pr.a, kA));
  REQUIRE(!IocpPoller::skip_completion_on_success(pr.b));  // immediate successes: no packet
  REQUIRE(!IocpPoller::skip_completion_on_success(pr.a));
  // More than both socket buffers hold: the send stays pending until the peer reads, which
  // this thread does with overlapped receives on the same port (one thread drives both ends).
  std::vector<char> big(256 << 10, 'x');
  IocpOperation wop, rop;
  const int rc = start_send(pr.b, wop, kB, big.data(), static_cast<ULONG>(big.size()));
  REQUIRE((rc == WSA_IO_PENDING || rc == 0));
  if (rc == 0) MESSAGE("the send completed at once (the stack buffered it): no packet expected");
  bool sent = rc == 0;
  std::vector<char> sink(1 << 16);
  std::size_t got = 0;
  // Starts receives until one is pending; each that completes at once is counted here.
  auto receive = [&] {
    while (got < big.size()) {
      const int r = start_recv(pr.a, rop, kA, sink.data(), static_cast<ULONG>(sink.size()));
      if (r == WSA_IO_PENDING) return;
      REQUIRE(r == 0);
      REQUIRE(rop.result(pr.a).bytes > 0);
      got += rop.result(pr.a).bytes;
    }
  };
  receive();
  Event evs[4];
  while (!sent || got < big.size()) {
    const std::size_t n = wait_once(p, evs, Timeout::after(30s));
    REQUIRE(n > 0);  // 30 s without a completion: the transfer stalled
    for (std::size_t i = 0; i < n; ++i) {
      if (evs[i].token == kB) {
        CHECK(evs[i].flags == Event::kWritable);
        CHECK(evs[i].result == big.size());
        sent = true;
      } else {
        REQUIRE(evs[i].token == kA);
        CHECK(evs[i].flags == Event::kReadable);
        REQUIRE(rop.result(pr.a).error == 0);
        REQUIRE(evs[i].result > 0);
        got += evs[i].result;
        receive();
      }
    }
  }
  CHECK(wop.result(pr.b).bytes == big.size());
  CHECK(got == big.size());
}

TEST_CASE("iocp: a cancelled operation's packet still arrives, aborted (case 24)") {
  Winsock ws;
  IocpPoller p;
  Pair pr;
  REQUIRE(!p.register_handle(pr.b, kA));
  IocpOperation rop;
  char buf[16];
  Event evs[4];
  SUBCASE("CancelIoEx") {
    REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
    REQUIRE(CancelIoEx(reinterpret_cast<HANDLE>(pr.b), rop.overlapped()));
    // The OVERLAPPED stays the kernel's until this packet is dequeued: the FD layer waits for it
    // before it reuses or frees the operation.
    REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
    CHECK(evs[0].token == kA);
    CHECK(evs[0].flags == Event::kReadable);
    CHECK(rop.result(pr.b).error == ERROR_OPERATION_ABORTED);
    // The socket still works: the next receive gets the data.
    REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
    REQUIRE(send(pr.a, "z", 1, 0) == 1);
    REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
    CHECK(rop.result(pr.b).bytes == 1);
  }
  SUBCASE("closesocket with the operation pending") {
    REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
    SOCKET s = pr.b;
    pr.b = INVALID_SOCKET;
    REQUIRE(closesocket(s) == 0);
    REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
    CHECK(evs[0].token == kA);  // the core drops it once the descriptor's sequence moved on
    CHECK(rop.overlapped()->Internal != 0);  // not a success status
  }
}

TEST_CASE("iocp: foreign packets on the port are dropped, never dereferenced as ours") {
  IocpPoller p;
  HANDLE port = p.native_handle();
  OVERLAPPED plain{};  // someone else's OVERLAPPED, not tagged
  IocpOperation tagged_for_other;
  OVERLAPPED* other = tagged_for_other.begin(kB, Event::kReadable);
  REQUIRE(PostQueuedCompletionStatus(port, 1, kA.value, nullptr));
  REQUIRE(PostQueuedCompletionStatus(port, 2, kA.value, &plain));
  REQUIRE(PostQueuedCompletionStatus(port, 3, kA.value, reinterpret_cast<OVERLAPPED*>(std::uintptr_t{1})));
  REQUIRE(PostQueuedCompletionStatus(port, 4, kA.value, other));  // tag names another key
  REQUIRE(PostQueuedCompletionStatus(port, 5, Token::kReserved, &plain));
  Event evs[8];
  const auto t0 = Clock::now();
  CHECK(wait_once(p, evs, Timeout::after(30ms)) == 0);
  CHECK(elapsed_ns(t0) >= 30'000'000);  // foreign packets do not end a timed wait early
  CHECK(p.foreign_packets() == 5);
  // A packet that is ours passes.
  IocpOperation mine;
  REQUIRE(PostQueuedCompletionStatus(port, 6, kA.value, mine.begin(kA, Event::kWritable)));
  REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
  CHECK(evs[0].token == kA);
  CHECK(evs[0].flags == Event::kWritable);
  CHECK(evs[0].result == 6);
}

TEST_CASE("iocp: bad input gets a clear error, never a crash (case 25)") {
  Winsock ws;
  IocpPoller p;
  Event evs[1];
  CHECK(p.wait(std::span<Event>(), Timeout::zero()).error() == Errc::invalid_argument);
  SOCKET s = overlapped_socket();
  CHECK(p.register_handle(s, Token{Token::kReserved}) == Errc::invalid_argument);
  CHECK(p.register_handle(INVALID_SOCKET, kA) == Errc::invalid_argument);
  CHECK(p.deregister_handle(INVALID_SOCKET) == Errc::invalid_argument);
  REQUIRE(!p.register_handle(s, kA));
  CHECK(p.register_handle(s, kB) == Errc::already_registered);
  CHECK(!p.deregister_handle(s));
  closesocket(s);
  // A closed handle value.
  CHECK(p.register_handle(s, kA));
  CHECK(p.stats().registrations == 1);
  CHECK(wait_once(p, evs, Timeout::zero()) == 0);
}

// Fewer than the readiness backends' 10,000: under wine every socket is also a descriptor in
// the prefix's one wineserver, which every concurrently running test shares under the same
// 20,000-descriptor limit.
TEST_CASE("iocp: 5,000 idle registered sockets + 1 active") {
  Winsock ws;
  IocpPoller p;
  std::vector<SOCKET> idle;
  constexpr std::uint64_t kIdle = 5000;
  for (std::uint64_t i = 0; i < kIdle; ++i) {
    idle.push_back(overlapped_socket());
    REQUIRE(!p.register_handle(idle.back(), Token{1000 + i}));
  }
  Pair pr;
  REQUIRE(!p.register_handle(pr.b, kA));
  IocpOperation rop;
  char buf[8];
  Event evs[16];
  for (int round = 0; round < 100; ++round) {
    REQUIRE(start_recv(pr.b, rop, kA, buf, sizeof buf) == WSA_IO_PENDING);
    REQUIRE(send(pr.a, "p", 1, 0) == 1);
    REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
    CHECK(evs[0].token == kA);
  }
  for (SOCKET s : idle) closesocket(s);
  CHECK(p.stats().registrations == kIdle + 1);
}

TEST_CASE("iocp: a datagram receive truncated at once still queues its packet (the FD waits)") {
  // STATUS_BUFFER_OVERFLOW is a warning, not a success and not an error: the call returns
  // WSAEMSGSIZE at once and the packet comes all the same, skip-on-success or not. The FD layer
  // therefore parks for it (netpoll/net/internal/fd_windows.h); finishing at once would leave a stray packet
  // to end the next receive with memory the kernel still owns.
  Winsock ws;
  IocpPoller p;
  SOCKET a = WSASocketW(AF_INET, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  SOCKET b = WSASocketW(AF_INET, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  REQUIRE(a != INVALID_SOCKET);
  REQUIRE(b != INVALID_SOCKET);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(b, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  int len = sizeof addr;
  REQUIRE(getsockname(b, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  REQUIRE(!p.register_handle(b, kA));
  REQUIRE(sendto(a, "0123456789", 10, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 10);
  std::this_thread::sleep_for(20ms);  // queued before the receive (a pending one is fine too)
  IocpOperation rop;
  char buf[4];
  const int rc = start_recv(b, rop, kA, buf, sizeof buf);
  REQUIRE((rc == WSAEMSGSIZE || rc == WSA_IO_PENDING));
  Event evs[4];
  REQUIRE(wait_once(p, evs, Timeout::after(10s)) == 1);
  CHECK(evs[0].token == kA);
  CHECK(evs[0].result == 4);
  CHECK(rop.result(b).error == WSAEMSGSIZE);
  CHECK(wait_once(p, evs, Timeout::after(20ms)) == 0);  // one packet, not two
  closesocket(a);
  closesocket(b);
}
