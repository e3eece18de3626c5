// The io_uring backend against the Backend contract, in completion terms (as the IOCP suite:
// nothing is reported for a descriptor until an operation on it completes; one event per
// operation, for its direction, with the bytes). Identity, wakes and timeouts are checked for
// every backend by test/poller_contract_test.cc. Here: submission from the polling thread and
// from others, deferred preparation (a refused one makes no call), the submitted hook, cancels
// before and after the SQE was filled and from another thread (the completion always comes,
// and the slot is not handed back while the poller still holds it: case 24), zero-timeout
// polls that make no syscall, bad input, and many idle operations.
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "doctest/doctest.h"
#include "netpoll/backends/uring/uring_poller.h"
#include "netpoll/contract/error.h"
#include "test/test_util.h"

using namespace std::chrono_literals;
using netpoll::Errc;
using netpoll::Event;
using netpoll::Timeout;
using netpoll::Token;
using netpoll::UringOperation;
using netpoll::UringPoller;
using namespace netpoll::testing;

namespace {

constexpr Token kA{0x0000000700000011ull}, kB{0x0000000900000022ull};

// One receive or send on a descriptor, as the net layer's operations make them.
struct Call {
  enum Kind { kRecv, kSend } kind;
  int fd;
  char* buf;
  unsigned len;
  bool refuse = false;            // prepare says no (the descriptor is closing)
  bool invalid = false;           // prepare fills an SQE the kernel refuses as it takes it
  std::atomic<int> prepared{0};   // prepare calls
  std::atomic<int> submitted{0};  // submitted calls
  UringOperation op;

  static bool prepare(UringOperation& op, io_uring_sqe* sqe) noexcept {
    auto* c = static_cast<Call*>(op.owner());
    c->prepared.fetch_add(1);
    if (c->refuse) return false;
    if (c->invalid) {
      io_uring_prep_nop(sqe);
      sqe->opcode = 0xff;  // no such operation: -EINVAL when the kernel takes the SQE
      return true;
    }
    if (c->kind == kRecv)
      io_uring_prep_recv(sqe, c->fd, c->buf, c->len, 0);
    else
      io_uring_prep_send(sqe, c->fd, c->buf, c->len, MSG_NOSIGNAL);
    return true;
  }
  static void on_submitted(UringOperation& op) noexcept {
    static_cast<Call*>(op.owner())->submitted.fetch_add(1);
  }
  static constexpr UringOperation::Calls kCalls{&prepare, &on_submitted};

  Call(Kind k, int f, char* b, unsigned n) : kind(k), fd(f), buf(b), len(n) {}
  void start(UringPoller& p, Token t) {
    op.begin(t, kind == kRecv ? Event::kReadable : Event::kWritable)->set_calls(&kCalls, this);
    p.submit(op);
  }
};

// Waits until `op` completed (at most `budget`); returns the events seen meanwhile.
std::vector<Event> until_completed(UringPoller& p, const UringOperation& op,
                                   std::chrono::milliseconds budget = 5s) {
  return collect_until(p, [&](const std::vector<Event>&) { return op.completed(); }, budget, 20ms);
}

}  // namespace

TEST_CASE("uring: the ring is set up, and says with which flags") {
  UringPoller p;
  MESSAGE("setup flags: 0x" << std::hex << p.setup_flags());
  CHECK(p.native_handle() >= 0);
  CHECK((fcntl(p.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("uring: a pending receive completes with one event for its direction and bytes") {
  UringPoller p;
  Pair pr = unix_pair();
  REQUIRE(!p.register_handle(pr.b.get(), kA));
  char buf[64];
  Call rc(Call::kRecv, pr.b.get(), buf, sizeof buf);
  rc.start(p, kA);
  // Nothing comes before data: the call is pending in the kernel.
  auto evs = collect_for(p, 50ms);
  CHECK(evs.empty());
  CHECK(rc.prepared == 1);
  CHECK(rc.submitted == 1);
  CHECK(!rc.op.completed());
  CHECK(rc.op.in_flight());

  SUBCASE("data") {
    REQUIRE(write_all(pr.a.get(), "hello") == 5);
    evs = until_completed(p, rc.op);
    REQUIRE(rc.op.completed());
    int count = 0;
    CHECK(flags_for(evs, kA, &count) == Event::kReadable);
    CHECK(count == 1);
    CHECK(evs.at(0).result == 5);
    CHECK(rc.op.result().bytes == 5);
    CHECK(rc.op.result().error == 0);
    CHECK(std::string(buf, 5) == "hello");
  }
  SUBCASE("end of stream: 0 bytes, no error") {
    pr.a.reset();
    evs = until_completed(p, rc.op);
    REQUIRE(rc.op.completed());
    CHECK(evs.size() == 1);
    CHECK(rc.op.result().bytes == 0);
    CHECK(rc.op.result().error == 0);
  }
  // Nothing more for it: one event per operation.
  CHECK(collect_for(p, 30ms).empty());
}

TEST_CASE("uring: a send that has to wait completes as writable once the peer reads") {
  UringPoller p;
  Pair pr = unix_pair();
  REQUIRE(!p.register_handle(pr.a.get(), kA));
  // Fill the send buffer so the ring's send must wait for room.
  std::string chunk(64 * 1024, 'x');
  while (::send(pr.a.get(), chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {
  }
  std::vector<char> big(256 * 1024, 'y');
  Call sc(Call::kSend, pr.a.get(), big.data(), static_cast<unsigned>(big.size()));
  sc.start(p, kA);
  CHECK(collect_for(p, 50ms).empty());
  CHECK(!sc.op.completed());
  // Draining the peer lets it finish (possibly partly: a stream send may be short).
  std::thread reader([&] {
    char sink[64 * 1024];
    for (int i = 0; i < 200 && !sc.op.completed(); ++i) {
      while (::recv(pr.b.get(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  auto evs = until_completed(p, sc.op);
  reader.join();
  REQUIRE(sc.op.completed());
  CHECK(flags_for(evs, kA) == Event::kWritable);
  CHECK(sc.op.result().error == 0);
  CHECK(sc.op.result().bytes > 0);
  CHECK(sc.op.result().bytes <= big.size());
}

TEST_CASE("uring: a cancelled operation's completion still arrives, aborted (case 24)") {
  UringPoller p;
  Pair pr = unix_pair();
  REQUIRE(!p.register_handle(pr.b.get(), kA));
  char buf[16];
  Call rc(Call::kRecv, pr.b.get(), buf, sizeof buf);

  SUBCASE("in the kernel, cancelled on the polling thread") {
    rc.start(p, kA);
    CHECK(collect_for(p, 20ms).empty());  // the polling thread is now this one
    REQUIRE(rc.op.in_flight());
    p.cancel(rc.op);
    until_completed(p, rc.op);
    REQUIRE(rc.op.completed());
    CHECK(rc.op.result().error == ECANCELED);
  }
  SUBCASE("in the kernel, cancelled from another thread") {
    rc.start(p, kA);
    CHECK(collect_for(p, 20ms).empty());
    std::thread([&] { p.cancel(rc.op); }).join();
    // Linked on the poller's stack for the cancel: not completed until the poller took it.
    CHECK(!rc.op.completed());
    until_completed(p, rc.op);
    REQUIRE(rc.op.completed());
    CHECK(rc.op.result().error == ECANCELED);
  }
  SUBCASE("queued, cancelled before its SQE was filled: no call at all") {
    std::thread([&] { rc.start(p, kA); }).join();  // queued from another thread
    p.cancel(rc.op);
    until_completed(p, rc.op);
    REQUIRE(rc.op.completed());
    CHECK(rc.op.result().error == ECANCELED);
    CHECK(rc.prepared == 0);
    CHECK(rc.submitted == 0);
  }
  SUBCASE("completed before the cancel: the result is kept") {
    rc.start(p, kA);
    CHECK(collect_for(p, 20ms).empty());
    REQUIRE(write_all(pr.a.get(), "ab") == 2);
    until_completed(p, rc.op);
    REQUIRE(rc.op.completed());
    p.cancel(rc.op);  // nothing in flight: no effect
    CHECK(rc.op.result().bytes == 2);
    CHECK(collect_for(p, 20ms).empty());
  }
  // The data written after a cancel is still there for the next reader: nothing consumed it.
  REQUIRE(write_all(pr.a.get(), "z") == 1);
  std::this_thread::sleep_for(5ms);
  CHECK(!drain(pr.b.get()).empty());
}

TEST_CASE("uring: many cancels from other threads while completions race them (case 24)") {
  UringPoller p;
  Pair pr = unix_pair();
  REQUIRE(!p.register_handle(pr.b.get(), kA));
  Event evs[16];
  for (int round = 0; round < 200; ++round) {
    char buf[8];
    Call rc(Call::kRecv, pr.b.get(), buf, sizeof buf);
    rc.start(p, kA);
    (void)p.wait(evs, Timeout::zero());
    // A cancel and a completion arrive in either order; both leave one completed operation.
    std::thread canceller([&] { p.cancel(rc.op); });
    if (round % 2) (void)::send(pr.a.get(), "q", 1, MSG_DONTWAIT);
    canceller.join();
    until_completed(p, rc.op);
    REQUIRE(rc.op.completed());
    const auto o = rc.op.result();
    CHECK((o.error == ECANCELED || (o.error == 0 && o.bytes == 1)));
    drain(pr.b.get());
  }
}

TEST_CASE("uring: a refused preparation makes no call and completes aborted") {
  UringPoller p;
  Pair pr = unix_pair();
  char buf[16];
  Call rc(Call::kRecv, pr.b.get(), buf, sizeof buf);
  rc.refuse = true;
  rc.start(p, kA);
  auto evs = until_completed(p, rc.op);
  REQUIRE(rc.op.completed());
  CHECK(rc.prepared == 1);
  CHECK(rc.submitted == 0);
  CHECK(rc.op.result().error == ECANCELED);
  CHECK(flags_for(evs, kA) == Event::kReadable);
}

TEST_CASE("uring: an operation queued from another thread wakes the waiting poller") {
  UringPoller p;
  Pair pr = unix_pair();
  char buf[16];
  Call rc(Call::kRecv, pr.b.get(), buf, sizeof buf);
  REQUIRE(write_all(pr.a.get(), "hi") == 2);
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    Event evs[8];
    // The first wait makes this thread the polling thread; it blocks without a timeout.
    while (!rc.op.completed()) (void)p.wait(evs, Timeout::infinite());
    done = true;
  });
  std::this_thread::sleep_for(20ms);
  rc.start(p, kA);  // not the polling thread: queued and woken
  waiter.join();
  CHECK(done);
  CHECK(rc.op.result().bytes == 2);
  CHECK(p.stats().wake_signals >= 1);
}

TEST_CASE("uring: a zero-timeout poll makes no syscall when nothing is pending, yet sees completions") {
  UringPoller p;
  Pair pr = unix_pair();
  char buf[16];
  Call rc(Call::kRecv, pr.b.get(), buf, sizeof buf);
  Event evs[8];
  (void)p.wait(evs, Timeout::zero());  // adopts this thread, arms the wake read
  rc.start(p, kA);
  (void)p.wait(evs, Timeout::zero());  // submits
  const auto before = p.enters();
  for (int i = 0; i < 100; ++i) CHECK(*p.wait(evs, Timeout::zero()) == 0);
  if (p.setup_flags() & IORING_SETUP_TASKRUN_FLAG) CHECK(p.enters() == before);
  // The completion's task work is flagged, so a poll enters for it.
  REQUIRE(write_all(pr.a.get(), "x") == 1);
  bool seen = false;
  for (int i = 0; i < 1000 && !seen; ++i) {
    auto n = p.wait(evs, Timeout::zero());
    REQUIRE(n);
    seen = *n == 1;
    if (!seen) std::this_thread::sleep_for(1ms);
  }
  CHECK(seen);
  CHECK(rc.op.result().bytes == 1);
}

TEST_CASE("uring: bad input gets a clear error, never a crash (case 25)") {
  UringPoller p;
  Pair pr = unix_pair();
  CHECK(p.register_handle(pr.a.get(), Token{Token::kReserved}) == Errc::invalid_argument);
  CHECK(p.register_handle(-1, kA) == std::error_code(EBADF, std::generic_category()));
  CHECK(p.register_handle(p.native_handle(), kA) == Errc::invalid_argument);
  CHECK(p.deregister_handle(-1) == std::error_code(EBADF, std::generic_category()));
  CHECK(p.wait(std::span<Event>(), Timeout::zero()).error() == Errc::invalid_argument);
  CHECK(!UringPoller::completion_skipping_safe());
  CHECK(UringPoller::skip_completion_on_success(pr.a.get()));
  // A receive on a descriptor that is not open completes with EBADF.
  char buf[4];
  Fd dead(dup(pr.a.get()));
  const int n = dead.get();
  dead.reset();
  Call rc(Call::kRecv, n, buf, sizeof buf);
  rc.start(p, kB);
  until_completed(p, rc.op);
  REQUIRE(rc.op.completed());
  CHECK(rc.op.result().error == EBADF);
}

TEST_CASE("uring: 5,000 idle pending receives + 1 active") {
  UringPoller p;
  constexpr int kIdle = 5000;
  std::vector<Pair> pairs;
  pairs.reserve(kIdle);
  std::vector<std::unique_ptr<Call>> calls;
  std::vector<char> bufs(kIdle * 4);
  for (int i = 0; i < kIdle; ++i) {
    pairs.push_back(unix_pair());
    calls.push_back(std::make_unique<Call>(Call::kRecv, pairs.back().b.get(), &bufs[i * 4], 4u));
    calls.back()->start(p, Token{static_cast<std::uint64_t>(i + 1)});
  }
  CHECK(collect_for(p, 50ms).empty());  // submitted (the SQ wraps many times), none complete
  for (auto& c : calls) CHECK(c->submitted == 1);
  REQUIRE(write_all(pairs[1234].a.get(), "ok") == 2);
  auto evs = until_completed(p, calls[1234]->op);
  REQUIRE(calls[1234]->op.completed());
  CHECK(evs.size() == 1);
  CHECK(evs.at(0).token == Token{1235});
  // The rest cancelled; each completion comes.
  for (auto& c : calls)
    if (!c->op.completed()) p.cancel(c->op);
  collect_until(p, [&](const std::vector<Event>&) {
    for (auto& c : calls) if (!c->op.completed()) return false;
    return true;
  }, 10s, 20ms);
  int cancelled = 0;
  for (auto& c : calls) cancelled += c->op.completed() && c->op.result().error == ECANCELED;
  CHECK(cancelled == kIdle - 1);
}

// An SQE the kernel refuses as it takes it must not keep the SQEs behind it in the ring
// (IORING_SETUP_SUBMIT_ALL): each holds its descriptor's enter_io until it is taken, and a
// close would wait for the next io_uring_enter.
TEST_CASE("uring: an SQE refused at submission does not hold back the ones after it") {
  UringPoller p;
  Pair pr = unix_pair();
  char b1[16], b2[16];
  Call bad(Call::kRecv, pr.b.get(), b1, sizeof b1);
  bad.invalid = true;
  Call good(Call::kRecv, pr.b.get(), b2, sizeof b2);
  Event evs[8];
  (void)p.wait(evs, Timeout::zero());  // adopts this thread: the two go on the local queue
  bad.start(p, kA);
  good.start(p, kB);
  (void)p.wait(evs, Timeout::zero());  // one enter submits both, in that order
  CHECK(bad.submitted == 1);
  CHECK(good.submitted == 1);  // taken by the same enter, not left for the next one
  REQUIRE(write_all(pr.a.get(), "ok") == 2);
  (void)until_completed(p, good.op);
  (void)until_completed(p, bad.op);
  REQUIRE(good.op.completed());
  CHECK(good.op.result().bytes == 2);
  REQUIRE(bad.op.completed());
  CHECK(bad.op.result().error == EINVAL);
}
