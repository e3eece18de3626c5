// Fault injection over the ring operations (--config=uring; the readiness counterpart is
// fault_injection_posix_test over the net::sys hooks, which ring calls do not go through):
// each ring call the net layer makes is failed once, with the errnos the kernel returns for it
// (ring::fault_hook turns the call into a no-op that completes with the error). The operation
// must report the error, or retry (EINTR, ECONNABORTED on accept) or wait and retry (EAGAIN)
// as documented, and nothing may leak: descriptors and spawned tasks are counted after every
// run, under ASan's leak checker in the sanitizer configs.
#include <errno.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "doctest/doctest.h"
#include "netpoll/net/internal/fd_uring.h"
#include "netpoll/net/net.h"
#include "test/net_test_util.h"
#include "test/process_stats.h"

using namespace netpoll;
using namespace netpoll::net;
using ring::Call;

namespace {

// Fails the first call of `g_call` with `g_err` (then lets everything through).
Call g_call = Call::recv;
int g_err = 0;
int g_fired = 0;
int inject(Call c) noexcept {
  if (c != g_call || g_fired) return 0;
  ++g_fired;
  return g_err;
}

enum Step { kDialStep, kAcceptStep, kWriteStep, kReadStep, kWritevStep, kReadableStep, kRead2Step, kWriteToStep, kReadFromStep, kDoneStep };
const char* const kStepName[] = {"Dial",     "Accept", "Write",   "Read",     "Writev",
                                 "Readable", "Read 2", "WriteTo", "ReadFrom", "done"};

struct Outcome {
  Step step = kDoneStep;  // the step that failed (kDoneStep: none)
  std::error_code ec;
};

// Every ring call once: connect, accept, send, recv, sendmsg, poll, recv, sendmsg_to, recvmsg.
Task<Outcome> workload(Loop& loop) {
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  Result<PacketConn> a = ListenPacket(loop, "udp", "127.0.0.1:0");
  Result<PacketConn> b = ListenPacket(loop, "udp", "127.0.0.1:0");
  REQUIRE(a);
  REQUIRE(b);
  Result<Conn> client = co_await Dial(loop, "tcp", ln->Addr().to_string());
  if (!client) co_return Outcome{kDialStep, client.error()};
  Result<Conn> server = co_await ln->Accept();
  if (!server) co_return Outcome{kAcceptStep, server.error()};
  if (Result<std::size_t> w = co_await client->Write("hello"); !w) co_return Outcome{kWriteStep, w.error()};
  std::array<char, 64> buf;
  if (Result<std::size_t> r = co_await server->Read(std::span<char>(buf.data(), 5)); !r)
    co_return Outcome{kReadStep, r.error()};
  const std::string_view parts[] = {"ab", "cd"};
  const std::span<const std::byte> bufs[] = {std::as_bytes(std::span(parts[0])),
                                             std::as_bytes(std::span(parts[1]))};
  if (Result<std::size_t> w = co_await server->Writev(bufs); !w) co_return Outcome{kWritevStep, w.error()};
  if (std::error_code ec = co_await client->Readable()) co_return Outcome{kReadableStep, ec};
  if (Result<std::size_t> r = co_await client->Read(std::span<char>(buf)); !r)
    co_return Outcome{kRead2Step, r.error()};
  if (Result<std::size_t> w = co_await a->WriteTo(std::as_bytes(std::span(parts[0])), b->LocalAddr()); !w)
    co_return Outcome{kWriteToStep, w.error()};
  if (Result<Datagram> d = co_await b->ReadFrom(std::as_writable_bytes(std::span(buf))); !d)
    co_return Outcome{kReadFromStep, d.error()};
  co_return Outcome{};
}

struct Case {
  Call call;
  int err;
  Step fails_at;  // kDoneStep: the operation retries (or waits and retries) and the run succeeds
};

std::error_code code(int err) { return {err, std::generic_category()}; }

}  // namespace

TEST_CASE("fault injection (io_uring): every ring call x errno, reported or retried, nothing leaks") {
  const Case cases[] = {
      {Call::connect, ECONNREFUSED, kDialStep}, {Call::connect, ETIMEDOUT, kDialStep},
      {Call::connect, ENETUNREACH, kDialStep},  {Call::connect, EINTR, kDoneStep},
      {Call::connect, EAGAIN, kDoneStep},       {Call::accept, ECONNABORTED, kDoneStep},
      {Call::accept, EINTR, kDoneStep},         {Call::accept, ENOMEM, kAcceptStep},
      {Call::accept, ENOBUFS, kAcceptStep},     {Call::accept, EAGAIN, kDoneStep},
      {Call::send, EPIPE, kWriteStep},          {Call::send, ECONNRESET, kWriteStep},
      {Call::send, ENOBUFS, kWriteStep},        {Call::send, EAGAIN, kDoneStep},
      {Call::send, EINTR, kDoneStep},           {Call::recv, ECONNRESET, kReadStep},
      {Call::recv, ETIMEDOUT, kReadStep},       {Call::recv, EAGAIN, kDoneStep},
      {Call::recv, EINTR, kDoneStep},           {Call::sendmsg, EPIPE, kWritevStep},
      {Call::sendmsg, EAGAIN, kDoneStep},       {Call::poll_in, ENOMEM, kReadableStep},
      {Call::poll_in, EINTR, kDoneStep},        {Call::sendmsg_to, EHOSTUNREACH, kWriteToStep},
      {Call::sendmsg_to, ENOBUFS, kWriteToStep}, {Call::sendmsg_to, EAGAIN, kDoneStep},
      {Call::recvmsg, ECONNREFUSED, kReadFromStep}, {Call::recvmsg, EINTR, kDoneStep},
      {Call::recvmsg, EAGAIN, kDoneStep},
      // ECANCELED not asked for (a dup's close cancels by descriptor): the call again.
      {Call::recv, ECANCELED, kDoneStep},       {Call::accept, ECANCELED, kDoneStep},
  };
  // The ring calls are the subject: io_uring even where NETPOLL_BACKEND asks for epoll.
  netpoll::Poller::prefer(netpoll::Poller::Preference::io_uring);
  {
    // The first Listen of a process opens the EMFILE reserve descriptor, kept for its life.
    Loop loop;
    REQUIRE(Listen(loop, "tcp", "127.0.0.1:0"));
  }
  const std::size_t fds0 = netpoll::testing::open_fd_count();
  ring::fault_hook = &inject;
  for (const Case& c : cases) {
    CAPTURE(static_cast<int>(c.call));
    CAPTURE(c.err);
    g_call = c.call;
    g_err = c.err;
    g_fired = 0;
    Outcome o;
    {
      Loop loop;
      REQUIRE(loop.backend_name() == "io_uring");
      o = loop.block_on(workload(loop));
      CHECK(loop.spawned() == 0);
    }
    CHECK(g_fired == 1);  // the call was reached and failed once
    INFO("failed at ", kStepName[o.step], ": ", o.ec.message());
    CHECK(o.step == c.fails_at);
    if (c.fails_at != kDoneStep) CHECK(o.ec == code(c.err));
    CHECK(netpoll::testing::open_fd_count() == fds0);  // every socket of the run closed
  }
  ring::fault_hook = nullptr;
}

namespace {

// The kernel short of memory at io_uring_enter: EAGAIN, nothing taken. Every enter is refused
// until the closing task says it is about to Close; then two more, then they go through.
std::atomic<bool> g_armed{false};
std::atomic<bool> g_in_close{false};
std::atomic<int> g_refused{0};
std::atomic<int> g_refused_in_close{0};
int refuse_enter() noexcept {
  if (!g_armed.load()) return 0;
  if (!g_in_close.load()) {
    g_refused.fetch_add(1);
    return EAGAIN;
  }
  if (g_refused_in_close.fetch_add(1) < 2) return EAGAIN;
  return 0;
}

// Ends the process if `done` is not set within 30 s: a Close that waits for itself hangs.
struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t{[this] {
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_for(l, std::chrono::seconds(30), [this] { return done; })) {
      std::fprintf(stderr, "FAILED: the Close on the Loop's thread never returned\n");
      std::_Exit(1);
    }
  }};
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu);
      done = true;
    }
    cv.notify_one();
    t.join();
  }
};

}  // namespace

// An io_uring_enter that finds the kernel short of memory (EAGAIN) leaves the SQEs it did not
// take in the SQ for the next wait, each holding its descriptor's enter_io. A Close on the
// Loop's thread waits until no call of its descriptor is being handed over: it must hand them
// over itself, since no other thread can (without that it waited for itself, for ever).
TEST_CASE("fault injection (io_uring): a Close on the Loop's thread hands over its call the kernel left in the SQ") {
  netpoll::Poller::prefer(netpoll::Poller::Preference::io_uring);
  Loop loop;
  REQUIRE(loop.backend_name() == "io_uring");
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  testing::ConnPair p = loop.block_on(testing::tcp_conn_pair(loop, *ln));
  Result<std::size_t> got = std::error_code(Errc::invalid_argument);
  char buf[8];
  g_armed = true;
  g_in_close = false;
  g_refused = 0;
  g_refused_in_close = 0;
  netpoll::UringPoller::enter_fault_hook = &refuse_enter;
  loop.spawn([](Conn& c, char* b, Result<std::size_t>& out) -> Task<void> {
    out = co_await c.Read(std::span<char>(b, 8));
  }(p.server, buf, got));
  loop.run_once(Timeout::zero());  // the Read is queued; its SQE is filled, the enter refused
  loop.run_once(Timeout::zero());
  REQUIRE(g_refused >= 1);
  {
    Watchdog w;
    loop.block_on([](Conn& server) -> Task<void> {
      g_in_close = true;
      CHECK(!server.Close());
      co_return;
    }(p.server));
  }
  CHECK(g_refused_in_close >= 3);  // the Close went on through two more refusals
  g_armed = false;
  netpoll::UringPoller::enter_fault_hook = nullptr;
  while (loop.spawned() > 0) loop.run_once(Timeout::after(std::chrono::milliseconds(100)));
  CHECK(got.error() == Errc::closed);
  CHECK(!p.client.Close());
  CHECK(!ln->Close());
}
