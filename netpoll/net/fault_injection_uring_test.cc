// Fault injection over the ring operations (--config=uring; the readiness counterpart is
// fault_injection_posix_test over the net::sys hooks, which ring calls do not go through):
// each ring call the net layer makes is failed once, with the errnos the kernel returns for it
// (ring::fault_hook turns the call into a no-op that completes with the error). The operation
// must report the error, or retry (EINTR, ECONNABORTED on accept) or wait and retry (EAGAIN)
// as documented, and nothing may leak: descriptors and spawned tasks are counted after every
// run, under ASan's leak checker in the sanitizer configs.
#include <errno.h>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "doctest/doctest.h"
#include "netpoll/net/internal/fd_uring.h"
#include "netpoll/net/net.h"
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
